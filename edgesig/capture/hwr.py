"""SigComp ``.hwr`` files: one sample per line, ``x y pressure [azimuth altitude]``, no time.

The SigComp 2009/2011 online sets (Dutch and Chinese, WACOM Intuos3 tablets) store bare
integer columns. With no timestamps the sample rate must come from the data set's
description; we default to 200 Hz, the rate of the SigComp 2011 Dutch capture and the
one the public SigStat ``SigComp11DutchLoader`` assumes (5 ms per line). Pass
``sample_rate_hz=`` for other sets (SigStat uses 75 Hz for SigComp 2015 German, which
is a different ``.trj`` layout). Pressure 0 means the pen is up; the Intuos3 reports
1024 levels (``pressure_max=1023``) at 5080 lines per inch (200 units per mm).
Azimuth/altitude columns, when present, are read as degrees (``angle_unit_deg=0.1``
for tenths).

Some SigComp files begin with a header line, an id token and the point count
(``ABCDE-012_345_678 310``): it is recognised by its first token not being a number, and
the count must match the rows that follow.

The writer emits integers: pen-down samples keep a pressure of at least 1 so the pen
state survives the round trip; timestamps are dropped (that is the format).
"""
from __future__ import annotations

import itertools
import re
from typing import BinaryIO

import numpy as np

from edgesig.capture import text
from edgesig.capture.registry import PenFormat, register
from edgesig.errors import FormatError
from edgesig.pen import DeviceInfo, PenStream

DEFAULT_RATE_HZ = 200.0
PRESSURE_MAX = 1023.0
UNITS_PER_MM = 5080.0 / 25.4
_ROW = re.compile(rb"^\s*-?\d+(\s+-?\d+){2}((\s+-?\d+){2})?\s*$")
#: A SigComp header line: an id token that is not a number, then the point count.
_HEADER = re.compile(r"^\s*(?!-?\d+\s)(\S+)\s+(\d+)\s*$")


def sniff(data: bytes, name: str) -> bool:
    if name.lower().endswith(".hwr"):
        return True
    lines = [ln for ln in data[:600].splitlines()[:6] if ln.strip()]
    if lines and _HEADER.match(lines[0].decode("ascii", "replace")):
        lines = lines[1:]
    if len(data) > 600 and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut by the 600-byte window
    if len(lines) < 2 or not all(_ROW.match(ln) for ln in lines):
        return False
    return len({len(ln.split()) for ln in lines}) == 1


def read(data: bytes | BinaryIO, *, sample_rate_hz: float = DEFAULT_RATE_HZ, pressure_max: float = PRESSURE_MAX,
         units_per_mm: float | None = UNITS_PER_MM, angle_unit_deg: float = 1.0, **_: object) -> PenStream:
    """Parse a ``.hwr`` file; time is ``i / sample_rate_hz``."""
    table = _table(data)
    x, y, p = table[:, 0], table[:, 1], table[:, 2]
    device = DeviceInfo(name="SigComp .hwr (WACOM Intuos3)", units_per_mm=units_per_mm,
                        sample_rate_hz=float(sample_rate_hz), timing_jitter=False)
    angles = {}
    if table.shape[1] == 5:
        angles = {"azimuth": table[:, 3] * angle_unit_deg, "altitude": table[:, 4] * angle_unit_deg}
    return PenStream.from_arrays(x, y, None, p, p > 0, pressure_max=pressure_max,
                                 sample_rate_hz=sample_rate_hz, device=device, **angles)


def write(pen: PenStream, *, pressure_max: float = PRESSURE_MAX) -> bytes:
    """Integer columns; 5 when the stream has azimuth and altitude, else 3."""
    p = np.rint(pen.pressure * pressure_max).astype(np.int64)
    p = np.where(pen.pen_down, np.maximum(p, 1), 0)
    cols = [np.rint(pen.x).astype(np.int64), np.rint(pen.y).astype(np.int64), p]
    if pen.azimuth is not None and pen.altitude is not None:
        cols += [np.rint(pen.azimuth).astype(np.int64), np.rint(pen.altitude).astype(np.int64)]
    rows = np.stack(cols, axis=1)
    return ("\n".join(" ".join(str(v) for v in row) for row in rows.tolist()) + "\n").encode("ascii")


def _table(data: bytes | BinaryIO) -> np.ndarray:
    """The integer rows, after the header line when the file has one."""
    numbered = text.lines(data, ".hwr")
    first = next(numbered, None)
    if first is None:
        raise FormatError("empty .hwr file: it holds no samples")
    header = _HEADER.match(first[1])
    if header is None:
        numbered = itertools.chain([first], numbered)
    expected = int(header.group(2)) if header else None
    return text.rows(numbered, ".hwr", (3, 5), integers=True, expected=expected)


FORMAT = register(PenFormat("hwr", sniff, read, write, suffixes=(".hwr",), sniffs_head=True,
                            streams=True))
