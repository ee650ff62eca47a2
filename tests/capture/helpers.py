"""Helpers shared by the capture tests: a regular test stroke and stream comparison."""
from __future__ import annotations

import numpy as np

from edgesig.pen import DeviceInfo, PenStream


def regular_pen(n: int = 120, rate_hz: float = 200.0, units_per_mm: float | None = 200.0) -> PenStream:
    """A regularly sampled stroke with one pen-up gap, integer coordinates."""
    s = np.linspace(0, 3 * np.pi, n)
    x = np.rint(3000 + 1500 * s + 400 * np.sin(2 * s))
    y = np.rint(2000 + 800 * np.cos(3 * s))
    p = np.clip(0.2 + 0.6 * np.abs(np.sin(s)), 0, 1)
    down = np.ones(n, dtype=bool)
    down[n // 2:n // 2 + 8] = False
    p[~down] = 0.0
    return PenStream.from_arrays(x, y, None, p, down, azimuth=np.rint(180 + 20 * np.sin(s)),
                                 altitude=np.rint(55 + 5 * np.cos(s)), sample_rate_hz=rate_hz,
                                 device=DeviceInfo("test pad", units_per_mm, rate_hz))


def mm(pen: PenStream) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in millimetres (device units when the resolution is unknown)."""
    scale = pen.device.units_per_mm or 1.0
    return pen.x / scale, pen.y / scale


def assert_same(a: PenStream, b: PenStream, *, xy_mm: float, t_ms: float, pressure: float,
                relative_time: bool = False) -> None:
    """Two streams hold the same samples within the given tolerances."""
    assert len(a) == len(b)
    ax, ay = mm(a)
    bx, by = mm(b)
    assert np.abs(ax - bx).max() <= xy_mm
    assert np.abs(ay - by).max() <= xy_mm
    ta, tb = (a.t - a.t[0], b.t - b.t[0]) if relative_time else (a.t, b.t)
    assert np.abs(ta - tb).max() <= t_ms
    assert np.abs(a.pressure - b.pressure).max() <= pressure
    assert np.array_equal(a.pen_down, b.pen_down)
