"""The numba kernels behind the security checks against plain numpy references.

The references below are the numpy code the kernels replaced. The kernels sum in
another order than numpy, so numbers agree to rounding (the reasons exactly), on
hand-like pens and on the awkward ones: pen-up gaps, repeated timestamps, a single
stroke, a few samples, coordinates and timestamps near the float range.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import numpy as np
import pytest

from edgesig.pen import DeviceInfo, PenStream
from edgesig.security import (FP_PATH_POINTS, FP_SIZE, FP_STEPS, FP_TIME_POINTS, JITTER_EPS_MS, MAX_ROTATION,
                              MIN_INTERVALS_FOR_JITTER, PATH_TOL, SPEED_WINDOW_MS, STEP_PIECES, STEP_TOL, TIME_TOL,
                              _jitter_reasons, _motion_reasons, _motion_stats, _rate_anomaly, _regular_step,
                              _speed_window, _windowed_speeds, fingerprint, fingerprint_distances,
                              timing_anomalies)

JITTERY = DeviceInfo(name="usb pad", sample_rate_hz=100.0, timing_jitter=True)
IN_MM = DeviceInfo(name="pad", units_per_mm=100.0, sample_rate_hz=200.0, timing_jitter=False)


# -- numpy references ----------------------------------------------------------------
def reference_time_view(pen: PenStream) -> np.ndarray:
    down = np.flatnonzero(pen.pen_down)
    lo, hi = (down[0], down[-1] + 1) if down.size >= 2 else (0, len(pen))
    t = pen.t[lo:hi]
    span = float(t[-1] - t[0]) if t.size > 1 else 0.0
    u = (t - t[0]) / span if span > 0 else np.linspace(0.0, 1.0, t.size)
    grid = np.linspace(0.0, 1.0, FP_TIME_POINTS)
    x = np.interp(grid, u, pen.x[lo:hi])
    y = np.interp(grid, u, pen.y[lo:hi])
    p = np.interp(grid, u, pen.pressure[lo:hi])
    magnitude = max(float(np.abs(x).max()), float(np.abs(y).max())) or 1.0
    x, y = x / magnitude, y / magnitude
    x, y = x - x.mean(), y - y.mean()
    radius = float(np.sqrt(np.mean(x * x + y * y)))
    scale = radius if radius > 1e-9 else 1.0
    return np.concatenate([x / scale, y / scale, p]).astype(np.float32)


def reference_fingerprint(pen: PenStream) -> np.ndarray:
    pick = pen.pen_down if np.count_nonzero(pen.pen_down) >= 2 else np.ones(len(pen), dtype=bool)
    x, y = pen.x[pick], pen.y[pick]
    magnitude = max(float(np.abs(x).max()), float(np.abs(y).max())) or 1.0
    x, y = x / magnitude, y / magnitude
    out = np.zeros(FP_SIZE, dtype=np.float32)
    out[0] = x.size
    length = np.r_[0.0, np.cumsum(np.hypot(np.diff(x), np.diff(y)))]
    if length[-1] > 0:
        grid = np.linspace(0.0, length[-1], FP_PATH_POINTS)
        px, py = np.interp(grid, length, x), np.interp(grid, length, y)
        px, py = px - px.mean(), py - py.mean()
        radius = float(np.sqrt(np.mean(px * px + py * py)))
        scale = radius if radius > 1e-9 else 1.0
        out[1:1 + 2 * FP_PATH_POINTS] = np.concatenate([px / scale, py / scale])
    if x.size >= 2:
        index = np.array([int(round(k * (x.size - 2) / (FP_STEPS - 1))) for k in range(FP_STEPS)])
        sx, sy = x[index + 1] - x[index], y[index + 1] - y[index]
        rms = float(np.sqrt(np.mean(sx * sx + sy * sy)))
        if rms > 0:
            out[1 + 2 * FP_PATH_POINTS:1 + 2 * FP_PATH_POINTS + 2 * FP_STEPS] = np.concatenate([sx / rms, sy / rms])
    out[FP_SIZE - 3 * FP_TIME_POINTS:] = reference_time_view(pen)
    return out


def reference_copy_distances(query: np.ndarray, table: np.ndarray) -> np.ndarray:
    """fingerprint_distances as the numpy expressions it replaced."""
    n, m = FP_PATH_POINTS, FP_STEPS
    query, table = query.astype(np.float64), table.astype(np.float64)
    qx, qy, rx, ry = query[1:1 + n], query[1 + n:1 + 2 * n], table[:, 1:1 + n], table[:, 1 + n:1 + 2 * n]
    angle = np.clip(np.arctan2(ry @ qx - rx @ qy, rx @ qx + ry @ qy), -MAX_ROTATION, MAX_ROTATION)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    dx, dy = rx - (cos * qx - sin * qy), ry - (sin * qx + cos * qy)
    best = np.sqrt(np.mean(dx * dx + dy * dy, axis=1)) / PATH_TOL
    start = 1 + 2 * n + 2 * m
    best = np.minimum(best, np.sqrt(np.mean((table[:, start:] - query[start:]) ** 2, axis=1)) / TIME_TOL)
    s = 1 + 2 * n
    q = query[s:s + m] + 1j * query[s + m:s + 2 * m]
    for row in np.flatnonzero(table[:, 0] == query[0]):
        r = table[row, s:s + m] + 1j * table[row, s + m:s + 2 * m]
        residual = 0.0
        for piece in np.array_split(np.arange(m), STEP_PIECES):
            power = np.sum(np.abs(r[piece]) ** 2)
            factor = np.vdot(r[piece], q[piece]) / power if power > 0 else 0.0
            residual += np.sum(np.abs(q[piece] - factor * r[piece]) ** 2)
        total = np.sum(np.abs(q) ** 2)
        best[row] = min(best[row], (np.sqrt(residual / total) if total > 0 else np.inf) / STEP_TOL)
    return best


def reference_window(pen: PenStream) -> float:
    steps = np.diff(pen.t)
    positive = steps[steps > 0]
    return min(SPEED_WINDOW_MS, 2.0 * float(np.median(positive))) if positive.size else SPEED_WINDOW_MS


def reference_speeds(pen: PenStream) -> np.ndarray:
    down = pen.pen_down
    starts = down & ~np.r_[False, down[:-1]]
    stroke = np.where(down, np.cumsum(starts), -1)
    path = np.r_[0.0, np.cumsum(np.hypot(np.diff(pen.x), np.diff(pen.y)))]
    first = np.flatnonzero(down)
    last = np.searchsorted(pen.t, pen.t[first] + reference_window(pen))
    keep = last < len(pen)
    first, last = first[keep], last[keep]
    same = stroke[first] == stroke[last]
    first, last = first[same], last[same]
    return (path[last] - path[first]) / (pen.t[last] - pen.t[first]) * 1000.0


def reference_motion_stats(pen: PenStream) -> tuple[float, int, float, float, float]:
    down = pen.pen_down
    xy = np.stack([pen.x[down], pen.y[down]], axis=1)
    diagonal = float(np.hypot(*(xy.max(axis=0) - xy.min(axis=0))))
    speed = reference_speeds(pen)
    if speed.size == 0:
        return diagonal, 0, np.nan, np.nan, np.nan
    return diagonal, speed.size, float(speed.mean()), float(speed.std()), float(speed.max())


def reference_timing_anomalies(pen: PenStream) -> list[str]:
    """timing_anomalies as it was: the rate rule (unchanged) and the jitter and motion rules on numpy statistics."""
    with np.errstate(all="ignore"):
        return _rate_anomaly(pen) + reference_jitter_anomaly(pen) + reference_motion_anomalies(pen)


def reference_jitter_anomaly(pen: PenStream) -> list[str]:
    return _jitter_reasons(reference_regular_step(pen)) if pen.device.timing_jitter is True else []


def reference_motion_anomalies(pen: PenStream) -> list[str]:
    """The reasons come from the module's own rule; what is checked is the statistics under it."""
    return _motion_reasons(pen.device, *reference_motion_stats(pen))


def reference_regular_step(pen: PenStream) -> float:
    steps = np.diff(pen.t)
    if steps.size == 0:
        return np.nan
    regular = steps[steps <= 1.5 * float(np.median(steps))]
    if regular.size < MIN_INTERVALS_FOR_JITTER or float(np.ptp(regular)) > JITTER_EPS_MS:
        return np.nan
    return float(np.median(regular))


# -- pens ----------------------------------------------------------------------------
def hand_like(rng: np.random.Generator, n: int, gaps: int = 3, scale: float = 1.0,
              t: np.ndarray | None = None) -> PenStream:
    """A wiggly path at varying speed, jittered 100 Hz clock, ``gaps`` pen-up runs."""
    phase = np.cumsum(rng.uniform(0.02, 0.3, n))
    x = (3000 + 900 * np.cos(phase) + 40 * phase + rng.normal(0, 3, n)) * scale
    y = (5000 + 600 * np.sin(1.7 * phase) + rng.normal(0, 3, n)) * scale
    down = np.ones(n, dtype=bool)
    for start in rng.integers(1, n - 1, size=gaps):
        down[start:start + rng.integers(1, 12)] = False
    times = np.cumsum(rng.uniform(8.0, 12.0, n)) if t is None else t
    pressure = np.where(down, rng.uniform(0.1, 1.0, n), 0.0)
    return PenStream(t=times, x=x, y=y, pressure=pressure, pen_down=down, device=JITTERY)


def bursty_times(rng: np.random.Generator, n: int) -> np.ndarray:
    """Packets of 2-5 samples sharing one stamp (exact repeats, as a raw pad sends them)."""
    stamps = np.cumsum(rng.uniform(15.0, 30.0, n))
    return np.sort(stamps[np.repeat(np.arange(n), rng.integers(2, 6, n))[:n]])


def regular_times(n: int, step: float = 10.0) -> np.ndarray:
    return np.arange(n) * step


def at_float_limit(v: np.ndarray) -> np.ndarray:
    """``v`` centred and stretched to +-1.7e308: the path length overflows along the way."""
    centred = v - v.mean()
    return centred / np.abs(centred).max() * 1.7e308


def pens(seed: int) -> Iterator[tuple[str, PenStream]]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 700))
    yield "hand-like with pen-up gaps", hand_like(rng, n)
    yield "single stroke", hand_like(rng, n, gaps=0)
    yield "many short strokes", hand_like(rng, n, gaps=n // 8)
    yield "exact repeated stamps", hand_like(rng, n, t=bursty_times(rng, n))
    bursty = hand_like(rng, n, t=bursty_times(rng, n))
    yield "repeated stamps, spread", PenStream.from_arrays(bursty.x, bursty.y, bursty.t, bursty.pressure,
                                                           bursty.pen_down, device=JITTERY)
    yield "regular clock", hand_like(rng, n, t=regular_times(n))
    yield "regular clock, one step 1 us off", hand_like(rng, n, t=regular_times(n) + (np.arange(n) > n // 2) * 1e-3)
    yield "huge coordinates", hand_like(rng, n, scale=1e300)
    yield "tiny coordinates", hand_like(rng, n, scale=1e-300)
    wide = hand_like(rng, n)
    yield "coordinates at the float limit", dataclasses.replace(wide, x=at_float_limit(wide.x),
                                                                y=at_float_limit(wide.y))
    yield "coordinates jumping across the float range", dataclasses.replace(
        wide, x=np.resize([1.7e308, -1.7e308], n), y=np.resize([-1.7e308, 1.7e308, 0.0], n))
    yield "time span beyond the float range", hand_like(rng, n, t=np.r_[np.linspace(-1.7e308, -1e307, n // 2),
                                                                         np.linspace(1e307, 1.7e308, n - n // 2)])
    yield "few samples", hand_like(rng, 4, gaps=0)
    few = hand_like(rng, 12)
    yield "one pen-down sample", dataclasses.replace(few, pen_down=np.arange(12) == 5)
    yield "still pen", dataclasses.replace(few, x=np.full(12, 7.0), y=np.full(12, -3.0))


CASES = [(seed, name, pen) for seed in range(6) for name, pen in pens(seed)]
IDS = [f"{seed}-{name}" for seed, name, _ in CASES]


def assert_same(kernel: Callable[[], object], reference: Callable[[], object]) -> None:
    """Equal to rounding, NaN where the reference has NaN."""
    with np.errstate(all="ignore"):
        expected = reference()
    np.testing.assert_allclose(np.asarray(kernel()), np.asarray(expected), rtol=1e-9, atol=1e-9, equal_nan=True)


# -- kernels vs references -----------------------------------------------------------
@pytest.mark.parametrize("seed,name,pen", CASES, ids=IDS)
def test_fingerprint_kernel_matches_numpy(seed, name, pen):
    assert_same(lambda: fingerprint(pen), lambda: reference_fingerprint(pen))


@pytest.mark.parametrize("seed", range(6))
def test_copy_distance_kernel_matches_numpy(seed):
    """Rows with the sample count of the query (the step view) and without, edited copies
    and unrelated pens."""
    rng = np.random.default_rng(seed)
    table = np.stack([fp for fp in (fingerprint(pen) for _, _, pen in CASES) if np.isfinite(fp).all()])
    table = table[rng.permutation(len(table))[:10]]
    query = table[int(rng.integers(len(table)))] + rng.normal(0, 1e-3, FP_SIZE).astype(np.float32)
    # to 1e-6: the Procrustes angle comes from sums that cancel, so summing order shows
    np.testing.assert_allclose(fingerprint_distances(query, table), reference_copy_distances(query, table),
                               rtol=1e-6)


@pytest.mark.parametrize("seed,name,pen", CASES, ids=IDS)
def test_windowed_speeds_kernel_matches_numpy(seed, name, pen):
    window = _speed_window(pen.t, SPEED_WINDOW_MS)
    assert window == reference_window(pen)
    assert_same(lambda: _windowed_speeds(pen.t, pen.x, pen.y, pen.pen_down, window),
                lambda: reference_speeds(pen))


@pytest.mark.parametrize("seed,name,pen", CASES, ids=IDS)
def test_motion_stats_kernel_matches_numpy(seed, name, pen):
    assert_same(lambda: _motion_stats(pen.t, pen.x, pen.y, pen.pen_down, SPEED_WINDOW_MS),
                lambda: reference_motion_stats(pen))


@pytest.mark.parametrize("seed,name,pen", CASES, ids=IDS)
def test_regular_step_kernel_matches_numpy(seed, name, pen):
    assert_same(lambda: _regular_step(pen.t, MIN_INTERVALS_FOR_JITTER, JITTER_EPS_MS),
                lambda: reference_regular_step(pen))


@pytest.mark.parametrize("device", [JITTERY, IN_MM], ids=["jittery, no resolution", "in mm"])
@pytest.mark.parametrize("seed,name,pen", CASES, ids=IDS)
def test_timing_anomalies_give_the_reasons_they_gave(seed, name, pen, device):
    pen = pen.with_meta(device=device)
    assert timing_anomalies(pen) == reference_timing_anomalies(pen)


def test_the_awkward_cases_reach_the_branches_they_name():
    """The pens above do hit overflow, NaN and the jitter rule, so the exact checks mean something."""
    by_name = dict(pens(0))
    with np.errstate(all="ignore"):
        for name in ("coordinates at the float limit", "coordinates jumping across the float range"):
            assert not np.all(np.isfinite(reference_speeds(by_name[name]))), name
        t = by_name["time span beyond the float range"].t
        assert np.isnan((t - t[0]) / (t[-1] - t[0])).any()  # np.interp gets NaN sample points
    assert not np.isnan(reference_regular_step(by_name["regular clock"]))
    assert np.isnan(reference_regular_step(by_name["regular clock, one step 1 us off"]))
    assert np.any(np.diff(by_name["exact repeated stamps"].t) == 0)
    assert by_name["single stroke"].pen_down.all()
    reasons = {name: reference_timing_anomalies(pen.with_meta(device=IN_MM)) for name, pen in by_name.items()}
    assert any("beyond any hand" in r for r in reasons["huge coordinates"])
    assert reasons["still pen"] == ["the pen never moves while touching: not a signature"]


def test_speeds_that_overflow_to_inf_are_impossible():
    """A path that overflows to inf inside a window gives an infinite speed, which the limit catches."""
    x = np.sin(np.arange(40.0))
    x[-2:] = -1.7e308, 1.7e308  # the last step is longer than the largest float
    pen = PenStream.from_arrays(x, np.zeros(40), np.arange(40) * 10.0, np.full(40, 0.5), device=IN_MM)
    reasons = timing_anomalies(pen)
    assert reasons == reference_timing_anomalies(pen)
    assert any("inf m/s is beyond any hand" in r for r in reasons), reasons
