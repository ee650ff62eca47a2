"""Shared conversions for the capture readers: lengths to millimetres, sample clean-up.

Every device states its resolution differently (HID: physical range and a unit code;
evdev: units per mm; InkML: a unit name; browsers: CSS pixels). The readers turn each
into one number, ``DeviceInfo.units_per_mm``, and keep coordinates in the device's own
units, so the values that were captured are the values that are stored.
"""
from __future__ import annotations

import numpy as np

from edgesig.errors import FormatError

MM_PER_INCH = 25.4
#: CSS reference pixel: 96 per inch (CSS Values and Units, "absolute lengths").
CSS_PX_PER_INCH = 96.0
CSS_PX_PER_MM = CSS_PX_PER_INCH / MM_PER_INCH

#: Millimetres per unit of the length units pen formats name.
MM_PER_UNIT = {
    "mm": 1.0, "cm": 10.0, "m": 1000.0, "in": MM_PER_INCH, "inch": MM_PER_INCH,
    "pt": MM_PER_INCH / 72.0, "pc": MM_PER_INCH / 6.0, "px": 1.0 / CSS_PX_PER_MM,
    "himetric": 0.01, "um": 0.001,
}
#: Milliseconds per unit of the time units pen formats name.
MS_PER_UNIT = {"ms": 1.0, "s": 1000.0, "us": 0.001, "ns": 1e-6}


def mm_per_unit(unit: str, what: str = "length") -> float:
    """Millimetres in one ``unit``; a FormatError names the unit when it is not a length."""
    try:
        return MM_PER_UNIT[unit.strip().lower()]
    except KeyError:
        raise FormatError(f"unknown {what} unit {unit!r}; expected one of {', '.join(MM_PER_UNIT)}") from None


def ms_per_unit(unit: str) -> float:
    """Milliseconds in one time ``unit``."""
    try:
        return MS_PER_UNIT[unit.strip().lower()]
    except KeyError:
        raise FormatError(f"unknown time unit {unit!r}; expected one of {', '.join(MS_PER_UNIT)}") from None


def drop_exact_duplicates(table: np.ndarray) -> np.ndarray:
    """Rows of ``table`` (one sample per row, time first) without repeats of the previous row.

    A repeated row is the same report delivered twice (USB retries, a recorder that logs
    both a coalesced event and its parent); a real sample never repeats its timestamp and
    every channel at once. Missing values (NaN) count as equal.
    """
    if table.shape[0] < 2:
        return table
    a, b = table[1:], table[:-1]
    same = np.all((a == b) | (np.isnan(a) & np.isnan(b)), axis=1)
    return table[np.concatenate(([True], ~same))]


def sort_by_time(table: np.ndarray) -> np.ndarray:
    """Rows ordered by column 0 (time); ties keep their recorded order."""
    return table[np.argsort(table[:, 0], kind="stable")]


def tilt_from_orientation(azimuth_deg: np.ndarray, altitude_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tiltX/tiltY (degrees) from azimuth/altitude (degrees), as Pointer Events 3 converts them.

    tiltX = atan(cos(azimuth) / tan(altitude)), tiltY = atan(sin(azimuth) / tan(altitude));
    ``arctan2`` gives the spec's +-90 degrees for a pen lying flat (altitude 0).
    """
    az, tan_al = np.radians(azimuth_deg), np.tan(np.radians(altitude_deg))
    return np.degrees(np.arctan2(np.cos(az), tan_al)), np.degrees(np.arctan2(np.sin(az), tan_al))


#: Pressure below zero by at most this share of full scale is a sensor's zero offset (a
#: pen lifting off), read as 0; further below is not a pressure reading and PenStream rejects it.
NEGATIVE_PRESSURE_TOLERANCE = 0.02


def zero_small_negative_pressure(pressure: np.ndarray, full_scale: float) -> np.ndarray:
    """``pressure`` (device units) with small negative values set to 0, i.e. pen up.

    None of the shared sets holds a negative pressure; pads that drift slightly below
    zero at lift-off exist (sensor offset), and refusing a whole signature for that would
    be worse than reading those samples as the pen up they are.
    """
    small = (pressure < 0) & (pressure >= -NEGATIVE_PRESSURE_TOLERANCE * full_scale)
    return np.where(small, 0.0, pressure)
