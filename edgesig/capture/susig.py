"""SUSig ``.sig`` files (Sabanci University, Visual sub-corpus): an Interlink ePad-Ink LCD pad.

Layout: a header line (``X, Y, TStamp, Pres., EndPts``), ``DataSize: N``, then N rows
``x y t_ms pressure endpts``. Pressure is 0..255 (8 bits); the coordinate resolution is
not published, so coordinates stay in device units (``units_per_mm`` None). The pad
samples at about 100 Hz with uneven steps (5, 6, 10, 15, 16 ms), so timing jitters.

Real-device quirks and what the reader does with them:

- **Only pen-down samples are recorded**; ``endpts`` is 1 on the last sample of each
  stroke but the final one. The reader keeps every recorded sample as pen down and adds
  one pen-up sample after each marked stroke end, at the point where the pen lifted and
  halfway in time to the next stroke, so stroke boundaries reach the engines and the
  renderer as a lift rather than as a line drawn across the gap.
- **Timestamps that step back**: 211 steps in 158 of the 3,020 files, each exactly
  -10 ms on one sample in mid-stroke, after which the clock is ahead again (a stamp
  taken one tick early). A stamp at most ``MAX_CLOCK_STEP_BACK_MS`` behind its
  predecessor is held at the predecessor's time (PenStream then spreads it halfway to
  the next stamp); a larger step is a PenStreamError.
- Pressure 0 on a pen-down sample (33 of 926,680 rows) stays pen down: ``endpts`` and the
  recording itself say the pen touched.
"""
from __future__ import annotations

from typing import BinaryIO

import numpy as np

from edgesig.capture import text
from edgesig.capture.registry import PenFormat, register
from edgesig.capture.units import zero_small_negative_pressure
from edgesig.errors import FormatError
from edgesig.pen import MAX_CLOCK_STEP_BACK_MS, DeviceInfo, PenStream

DEVICE = DeviceInfo(name="Interlink ePad-Ink (SUSig Visual)", units_per_mm=None, sample_rate_hz=100.0,
                    timing_jitter=True)
PRESSURE_MAX = 255.0
HEADER = "X, Y, TStamp, Pres., EndPts"
_X, _Y, _T, _P, _END = range(5)


def sniff(data: bytes, name: str) -> bool:
    head = data[:200].decode("ascii", "replace").lstrip().splitlines()
    return len(head) > 1 and head[0].strip().startswith("X, Y, TStamp") and head[1].startswith("DataSize:")


def table(data: bytes | BinaryIO) -> np.ndarray:
    """The file's rows as recorded: ``x y t pressure endpts``."""
    numbered = text.lines(data, "SUSig")
    number, first = next(numbered, (0, ""))
    if first.strip() != HEADER:
        raise FormatError(f"SUSig files begin with the line {HEADER!r}, got {first.strip()!r:.40}", offset=number)
    count = text.header_count(numbered, "SUSig", prefix="DataSize:")
    return text.rows(numbered, "SUSig", (5,), expected=count)


def read(data: bytes | BinaryIO, **_: object) -> PenStream:
    rows = table(data)
    t = rows[:, _T]
    steps = np.diff(t)
    if np.all(steps >= -MAX_CLOCK_STEP_BACK_MS):  # one early tick: hold it (see the module docstring)
        t = np.maximum.accumulate(t)
    ends = np.flatnonzero(rows[:-1, _END] > 0)
    lifts = rows[ends].copy()
    lifts[:, _T] = (t[ends] + t[ends + 1]) / 2
    lifts[:, _P] = 0.0
    merged = np.insert(np.column_stack([rows[:, :_T], t, rows[:, _P:]]), ends + 1, lifts, axis=0)
    down = np.insert(np.ones(len(rows), dtype=bool), ends + 1, False)
    return PenStream.from_arrays(merged[:, _X], merged[:, _Y], merged[:, _T],
                                 zero_small_negative_pressure(merged[:, _P], PRESSURE_MAX), down,
                                 pressure_max=PRESSURE_MAX, device=DEVICE)


FORMAT = register(PenFormat("susig", sniff, read, suffixes=(".sig",), sniffs_head=True,
                            streams=True))
