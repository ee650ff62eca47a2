"""SVC2004 text format: a point count, then ``x y t button azimuth altitude pressure`` lines.

Task 1 files have only ``x y t button``: the stream then has ``has_pressure`` False (its
pressure channel only repeats the pen state), which is how engines tell a pad without
pressure. Pressure is 0..1023 on the WACOM Intuos used by the competition;
azimuth/altitude are in tenths of a degree in the files (the sample set spans 1050..1560
and 370..830) and in degrees in the PenStream.

``button`` is 0 (pen up, hovering) or 1 (pen down) in almost every row, but some writers'
files hold 2-5 (Task 1: 6,124 of 404,489 rows; Task 2: 1,093 of 333,133). The stroke goes
on through them at the same 10 ms spacing and, in Task 2, with pressure (median 647 of
1023), so every non-zero button value is read as pen down.

Timestamps step back by 6-18 ms once or twice in 59 Task 1 and 13 Task 2 files: PenStream
holds such an isolated step (its clock-resync rule, ``MAX_CLOCK_STEP_BACK_MS``).
"""
from __future__ import annotations

from typing import BinaryIO

import numpy as np

from edgesig.capture import text
from edgesig.capture.registry import PenFormat, register
from edgesig.capture.units import zero_small_negative_pressure
from edgesig.pen import DeviceInfo, PenStream

#: The competition's pad stamps samples on a regular 10 ms grid (672 of the 1600 files are
#: exactly regular while the pen is down), so regular timing is normal for it.
DEVICE = DeviceInfo(name="WACOM Intuos (SVC2004)", units_per_mm=None, sample_rate_hz=100.0,
                    timing_jitter=False)
PRESSURE_MAX = 1023.0
ANGLE_UNITS_PER_DEGREE = 10.0


def sniff(data: bytes, name: str) -> bool:
    head = data[:400].decode("ascii", "replace").split()
    if not head or not head[0].isdigit():
        return False
    lines = data[:400].decode("ascii", "replace").splitlines()
    return len(lines) > 1 and len(lines[1].split()) in (4, 7)


def table(data: bytes | BinaryIO) -> np.ndarray:
    """The file's rows as recorded: ``x y t button [azimuth altitude pressure]``."""
    numbered = text.lines(data, "SVC2004")
    count = text.header_count(numbered, "SVC2004")
    return text.rows(numbered, "SVC2004", (4, 7), expected=count)


def read(data: bytes | BinaryIO, **_: object) -> PenStream:
    rows = table(data)
    x, y, t, button = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3] > 0
    if rows.shape[1] == 4:
        return PenStream.from_arrays(x, y, t, pen_down=button, device=DEVICE)
    return PenStream.from_arrays(x, y, t, zero_small_negative_pressure(rows[:, 6], PRESSURE_MAX), pen_down=button,
                                 azimuth=rows[:, 4] / ANGLE_UNITS_PER_DEGREE,
                                 altitude=rows[:, 5] / ANGLE_UNITS_PER_DEGREE,
                                 pressure_max=PRESSURE_MAX, device=DEVICE)


def write(pen: PenStream) -> bytes:
    """Task 2 columns; Task 1's four (``x y t button``) for a stream without pressure."""
    if not pen.has_pressure:
        rows = [f"{x:.0f} {y:.0f} {t:.0f} {int(d)}" for x, y, t, d in zip(pen.x, pen.y, pen.t, pen.pen_down)]
        return ("\r\n".join([str(len(pen)), *rows]) + "\r\n").encode("ascii")
    az = (pen.azimuth if pen.azimuth is not None else np.zeros(len(pen))) * ANGLE_UNITS_PER_DEGREE
    al = (pen.altitude if pen.altitude is not None else np.full(len(pen), 90.0)) * ANGLE_UNITS_PER_DEGREE
    lines = [str(len(pen))]
    for i in range(len(pen)):
        lines.append(f"{pen.x[i]:.0f} {pen.y[i]:.0f} {pen.t[i]:.0f} {int(pen.pen_down[i])} "
                     f"{az[i]:.0f} {al[i]:.0f} {pen.pressure[i] * PRESSURE_MAX:.0f}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


FORMAT = register(PenFormat("svc2004", sniff, read, write, suffixes=(".txt",), sniffs_head=True,
                            streams=True))
