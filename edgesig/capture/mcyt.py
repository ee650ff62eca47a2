"""MCYT-derived text rows: ``t_s x y pressure penup azimuth inclination``, one sample a line.

The course release of MCYT-100 in ``../shared/data/mcyt_subset`` (WACOM Intuos A6, 100 Hz on
a regular 10 ms grid). Time is in seconds (read as ms), x and y in millimetres (0-127 by
0-97, the A6 active area, 0.01 mm steps), pressure 0..1023, azimuth in degrees
(0-365 as recorded), inclination in degrees from the pad (22-90), read as the altitude.

The ``penup`` column is not the pen state: it is 1 on single samples where the state
changes, the first sample of the file, the first touching sample after a hover and the
first hovering sample after a stroke (in 300 files: 1,414 marks on a touching sample
after a hover, 1,351 on a hovering sample after a stroke). The tablet keeps reporting
the hovering pen with pressure 0, so the reader takes the pen as down where pressure is
above 0 and ignores ``penup``. A small negative pressure would be read as 0 (none occurs).
"""
from __future__ import annotations

import re
from typing import BinaryIO

import numpy as np

from edgesig.capture import text
from edgesig.capture.registry import PenFormat, register
from edgesig.capture.units import MS_PER_UNIT, zero_small_negative_pressure
from edgesig.pen import DeviceInfo, PenStream

DEVICE = DeviceInfo(name="WACOM Intuos A6 (MCYT)", units_per_mm=1.0, sample_rate_hz=100.0,
                    timing_jitter=False)
PRESSURE_MAX = 1023.0
_NUMBER = r"-?\d+(?:\.\d*)?"
#: Seven decimal numbers, the first (time in seconds) with a decimal point.
_ROW = re.compile(rf"^\s*-?\d+\.\d*(?:\s+{_NUMBER}){{6}}\s*$")


def sniff(data: bytes, name: str) -> bool:
    lines = data[:400].decode("ascii", "replace").splitlines()
    return len(lines) > 1 and all(_ROW.match(line) for line in lines[:2])


def table(data: bytes | BinaryIO) -> np.ndarray:
    """The file's rows as recorded: ``t_s x y pressure penup azimuth inclination``."""
    return text.rows(text.lines(data, "MCYT"), "MCYT", (7,))


def read(data: bytes | BinaryIO, **_: object) -> PenStream:
    rows = table(data)
    pressure = zero_small_negative_pressure(rows[:, 3], PRESSURE_MAX)
    return PenStream.from_arrays(rows[:, 1], rows[:, 2], rows[:, 0] * MS_PER_UNIT["s"], pressure, pressure > 0,
                                 azimuth=rows[:, 5], altitude=rows[:, 6], pressure_max=PRESSURE_MAX,
                                 device=DEVICE)


FORMAT = register(PenFormat("mcyt", sniff, read, suffixes=(".txt",), sniffs_head=True,
                            streams=True))
