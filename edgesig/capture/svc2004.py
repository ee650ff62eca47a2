"""SVC2004 text format: a point count, then ``x y t button azimuth altitude pressure`` lines.

Task 1 files have only x y t button; both are read. Pressure is 0..1023 on the WACOM
Intuos used by the competition; azimuth/altitude are in tenths of a degree in the files
(the sample set spans 1050..1560 and 370..830) and in degrees in the PenStream.
"""
from __future__ import annotations

import numpy as np

from edgesig.capture.registry import PenFormat, register
from edgesig.errors import FormatError
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


def read(data: bytes, **_: object) -> PenStream:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FormatError("SVC2004 files are ASCII text", offset=exc.start) from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise FormatError("empty SVC2004 file")
    try:
        count = int(lines[0])
    except ValueError:
        raise FormatError(f"the first line must be the point count, got {lines[0]!r:.40}", offset=0) from None
    rows = lines[1:]
    if not rows:
        raise FormatError(f"the SVC2004 header says {count} points and no point follows; a signature "
                          "needs its points, one per line", offset=0)
    if count != len(rows):
        raise FormatError(f"header says {count} points but the file has {len(rows)}", offset=0)
    widths = {len(r.split()) for r in rows}
    if len(widths) != 1 or widths.pop() not in (4, 7):
        bad = next(i for i, r in enumerate(rows) if len(r.split()) != len(rows[0].split())
                   or len(r.split()) not in (4, 7))
        raise FormatError(f"line {bad + 2} has {len(rows[bad].split())} numbers; SVC2004 lines need "
                          "4 (task 1) or 7 (task 2), the same on every line", offset=bad + 2)
    try:
        table = np.array([[float(v) for v in r.split()] for r in rows], dtype=np.float64)
    except ValueError:
        bad = next(i for i, r in enumerate(rows) if not _is_numeric_row(r))
        raise FormatError(f"line {bad + 2} is not numeric: {rows[bad]!r:.60}", offset=bad + 2) from None
    x, y, t, button = table[:, 0], table[:, 1], table[:, 2], table[:, 3] > 0
    if table.shape[1] == 4:
        return PenStream.from_arrays(x, y, t, pen_down=button, device=DEVICE)
    return PenStream.from_arrays(x, y, t, table[:, 6], pen_down=button,
                                 azimuth=table[:, 4] / ANGLE_UNITS_PER_DEGREE,
                                 altitude=table[:, 5] / ANGLE_UNITS_PER_DEGREE,
                                 pressure_max=PRESSURE_MAX, device=DEVICE)


def write(pen: PenStream) -> bytes:
    az = (pen.azimuth if pen.azimuth is not None else np.zeros(len(pen))) * ANGLE_UNITS_PER_DEGREE
    al = (pen.altitude if pen.altitude is not None else np.full(len(pen), 90.0)) * ANGLE_UNITS_PER_DEGREE
    lines = [str(len(pen))]
    for i in range(len(pen)):
        lines.append(f"{pen.x[i]:.0f} {pen.y[i]:.0f} {pen.t[i]:.0f} {int(pen.pen_down[i])} "
                     f"{az[i]:.0f} {al[i]:.0f} {pen.pressure[i] * PRESSURE_MAX:.0f}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _is_numeric_row(row: str) -> bool:
    try:
        [float(v) for v in row.split()]
        return True
    except ValueError:
        return False


FORMAT = register(PenFormat("svc2004", sniff, read, write, suffixes=(".txt",)))
