"""Global features: what each entry measures, and that it ignores what it should."""
import numpy as np
import pytest

from edgesig.features.global_features import (EXTENDED_FEATURES, GLOBAL_FEATURES, UP_TIME_FEATURES, deviation,
                                              global_features)
from edgesig.pen import PenStream
from tests.conftest import wavy_pen


def _entry(pen: PenStream, name: str) -> float:
    return float(global_features(pen)[GLOBAL_FEATURES.index(name)])


def test_shape_and_finite(pens):
    for pen in pens:
        g = global_features(pen)
        assert g.shape == (len(GLOBAL_FEATURES),) and np.all(np.isfinite(g))


def test_slower_signing_changes_duration_and_speed_not_shape():
    fast, slow = wavy_pen(3, speed=1.0), wavy_pen(3, speed=0.5)
    assert _entry(slow, "log_duration") - _entry(fast, "log_duration") == pytest.approx(np.log(2), abs=1e-6)
    assert _entry(fast, "log_mean_speed") - _entry(slow, "log_mean_speed") == pytest.approx(np.log(2), abs=1e-6)
    for name in ("log_width", "log_path_length", "mean_pressure", "log_strokes"):
        assert _entry(fast, name) == pytest.approx(_entry(slow, name))


def test_independent_of_pad_resolution():
    pen = wavy_pen(1)
    scaled = PenStream.from_arrays(pen.x * 7.5, pen.y * 7.5, pen.t, pen.pressure)
    np.testing.assert_allclose(global_features(scaled), global_features(pen), atol=1e-9)


def test_pen_lifts_count_strokes_and_down_fraction():
    pen = wavy_pen(2)
    down = np.ones(len(pen), bool)
    down[60:70] = False
    down[120:125] = False
    lifted = PenStream.from_arrays(pen.x, pen.y, pen.t, pen.pressure, down)
    assert _entry(lifted, "log_strokes") == pytest.approx(np.log(3))
    assert _entry(lifted, "down_fraction") == pytest.approx(down.mean())


def test_deviation_is_scaled_mean_absolute_difference():
    refs = np.array([[1.0, 2.0], [3.0, 2.0]])
    assert deviation(np.array([2.0, 5.0]), refs, np.array([1.0, 3.0])) == pytest.approx((0 + 1) / 2)


def _numpy_descriptor(pen: PenStream) -> np.ndarray:
    """The descriptor written plainly with numpy: what the compiled kernel must equal."""
    down = pen.pen_down
    x, y, t, p = pen.x[down], pen.y[down], pen.t[down] - pen.t[down][0], pen.pressure[down]
    scale = float(np.std(y)) if np.std(y) > 1e-9 else max(float(np.std(x)), 1e-9)
    x, y = (x - x.mean()) / scale, (y - y.mean()) / scale
    speed = np.hypot(np.gradient(x, t), np.gradient(y, t))
    strokes = np.count_nonzero(np.diff(np.r_[0, down.astype(int)]) == 1)
    path = float(np.hypot(np.diff(x), np.diff(y)).sum())
    return np.array([np.log(max(pen.duration_ms, 1.0)), np.log(strokes), np.log(max(speed.mean(), 1e-6)),
                     np.log(max(np.percentile(speed, 95), 1e-6)), p.mean(), p.std(), down.mean(),
                     np.log(max(np.ptp(x), 1e-6)), np.log(max(path, 1e-6))])


def test_compiled_descriptor_equals_the_numpy_formulas(pens):
    rng = np.random.default_rng(5)
    lifted = []
    for pen in pens[:4]:
        down = pen.pen_down & (rng.random(len(pen)) > 0.05)  # random pen lifts
        lifted.append(PenStream.from_arrays(pen.x, pen.y, pen.t, pen.pressure, down))
    for pen in list(pens) + lifted:
        np.testing.assert_allclose(global_features(pen), _numpy_descriptor(pen), rtol=1e-12, atol=1e-12)


def _extended(pen: PenStream) -> dict[str, float]:
    return dict(zip(GLOBAL_FEATURES + EXTENDED_FEATURES, global_features(pen, extended=True).tolist()))


def _circle(n: int = 400, step_ms: float = 10.0, pressure: np.ndarray | None = None) -> PenStream:
    """One anticlockwise turn of a circle from (1, 0) at constant speed."""
    a = 2 * np.pi * np.arange(n) / n
    return PenStream.from_arrays(500 + 200 * np.cos(a), 500 + 200 * np.sin(a), step_ms * np.arange(n),
                                 np.linspace(0.2, 0.8, n) if pressure is None else pressure)


def test_extended_descriptor_starts_with_the_plain_one_bit_for_bit(pens):
    for pen in [*pens, pens[0].without_pressure()]:
        g = global_features(pen, extended=True)
        assert g.shape == (len(GLOBAL_FEATURES) + len(EXTENDED_FEATURES),) and np.all(np.isfinite(g))
        np.testing.assert_array_equal(g[:len(GLOBAL_FEATURES)], global_features(pen))


def test_extended_entries_of_a_circle():
    g, n = _extended(_circle()), 400
    duration = 10.0 * (n - 1)
    np.testing.assert_allclose([g[f"direction_{k}"] for k in range(8)], 0.125, atol=0.005)
    assert g["centroid_x"] == pytest.approx(0.5, abs=1e-3) and g["centroid_y"] == pytest.approx(0.5, abs=1e-3)
    assert g["log_height"] == pytest.approx(g["log_width"], abs=1e-3)
    # vx = -sin turns positive once (half way round), vy = cos twice
    assert g["vx_sign_changes"] == pytest.approx(1000 / duration)
    assert g["vy_sign_changes"] == pytest.approx(2000 / duration)
    # the first and last 5 % of the path are chords at 90° + 9° and 90° - 9° of the circle
    assert (g["start_cos"], g["start_sin"]) == pytest.approx((np.cos(np.radians(99)), np.sin(np.radians(99))), abs=0.02)
    assert (g["end_cos"], g["end_sin"]) == pytest.approx((np.cos(np.radians(81)), np.sin(np.radians(81))), abs=0.02)
    # pressure rises 0.2 -> 0.8: thirds at 0.3, 0.5, 0.7, the maximum at the end
    assert [g[f"pressure_{k}_third"] for k in ("first", "second", "last")] == pytest.approx([0.3, 0.5, 0.7], abs=2e-3)
    assert g["max_pressure"] == pytest.approx(0.8) and g["max_pressure_time"] == pytest.approx(1.0)
    assert g["up_time_fraction"] == 0.0


def test_speeding_up_moves_the_peak_speed_time_and_scales_acceleration():
    n = 400
    t = np.cumsum(np.r_[0.0, np.linspace(12.0, 6.0, n - 1)])  # the pen speeds up along the circle
    a = 2 * np.pi * np.arange(n) / n
    pen = PenStream.from_arrays(500 + 200 * np.cos(a), 500 + 200 * np.sin(a), t, np.full(n, 0.5))
    faster = PenStream.from_arrays(pen.x, pen.y, pen.t / 2, pen.pressure)
    g, h = _extended(pen), _extended(faster)
    assert g["peak_speed_time"] > 0.95
    assert h["log_mean_acceleration"] - g["log_mean_acceleration"] == pytest.approx(np.log(4), abs=1e-6)
    assert h["log_mean_jerk"] - g["log_mean_jerk"] == pytest.approx(np.log(8), abs=1e-6)
    assert h["log_std_vx"] - g["log_std_vx"] == pytest.approx(np.log(2), abs=1e-6)


def _lifted_circles() -> tuple[PenStream, PenStream, float]:
    """One signature with half a second off the pad, as a pad with hover samples and as one
    without pen-up samples sends it, and its pen-up share by time."""
    circle = _circle()
    t = circle.t.copy()
    t[200:] += 500.0  # half a second off the pad half way round
    down = np.ones(len(t), bool)
    down[200:210] = False  # a pad that sends hover samples ...
    hovered = PenStream.from_arrays(circle.x, circle.y, t, circle.pressure, down)
    keep = np.r_[0:200, 210:len(t)]  # ... and one that sends nothing while the pen is up
    silent = PenStream.from_arrays(circle.x[keep], circle.y[keep], t[keep], circle.pressure[keep])
    return hovered, silent, (t[210] - t[199]) / (t[-1] - t[0])


def test_a_lift_counts_as_up_time_with_or_without_pen_up_samples():
    hovered, silent, up = _lifted_circles()
    assert _extended(hovered)["up_time_fraction"] == pytest.approx(up)
    assert _extended(silent)["up_time_fraction"] == pytest.approx(up)
    # the jump across the lift is not pen-down motion, on either pad
    directions = [f"direction_{k}" for k in range(8)]
    np.testing.assert_allclose([_extended(silent)[d] for d in directions], [_extended(hovered)[d] for d in directions])


def test_up_time_layout_swaps_the_sample_share_for_the_time_share(pens):
    hovered, silent, up = _lifted_circles()
    i = GLOBAL_FEATURES.index("down_fraction")
    assert UP_TIME_FEATURES[i] == "up_time_fraction" and UP_TIME_FEATURES[:i] + UP_TIME_FEATURES[i + 1:] == \
        GLOBAL_FEATURES[:i] + GLOBAL_FEATURES[i + 1:]
    for pen in [*pens, hovered, silent]:
        plain, timed = global_features(pen), global_features(pen, up_time=True)
        assert timed[i] == _extended(pen)["up_time_fraction"]  # bit for bit what the extended entry holds
        np.testing.assert_array_equal(np.delete(timed, i), np.delete(plain, i))
    # hover samples move the sample share, not the time share
    assert global_features(hovered)[i] == pytest.approx(390 / 400) and global_features(silent)[i] == 1.0
    assert global_features(hovered, up_time=True)[i] == pytest.approx(up)
    assert global_features(silent, up_time=True)[i] == pytest.approx(up)


def test_pressure_entries_are_constant_without_pressure(pens):
    names = [n for n in GLOBAL_FEATURES + EXTENDED_FEATURES if "pressure" in n]
    rows = np.array([[_extended(p.without_pressure())[n] for n in names] for p in pens])
    assert np.ptp(rows, axis=0).max() == 0.0


def test_extended_entries_ignore_pad_resolution():
    pen = wavy_pen(1)
    scaled = PenStream.from_arrays(pen.x * 7.5, pen.y * 7.5, pen.t, pen.pressure)
    np.testing.assert_allclose(global_features(scaled, True), global_features(pen, True), atol=1e-9)


def test_extended_descriptor_of_a_pen_that_stays_put():
    pen = PenStream.from_arrays(np.full(10, 3.0), np.full(10, 4.0), 10.0 * np.arange(10), np.full(10, 0.5))
    g = _extended(pen)
    assert all(np.isfinite(list(g.values())))
    assert [g[f"direction_{k}"] for k in range(8)] == [0.125] * 8 and (g["start_cos"], g["start_sin"]) == (1.0, 0.0)


def test_direction_sectors_are_the_atan2_sectors():
    from edgesig.features.global_features import _sector
    rng = np.random.default_rng(3)
    axes = [[1, 0], [0, 1], [-1, 0], [0, -1], [1, 2], [-2, 1], [-1, -2], [2, -1]]
    steps = np.vstack([rng.normal(size=(2000, 2)), axes])
    want = (np.floor((np.arctan2(steps[:, 1], steps[:, 0]) + np.pi) / (np.pi / 4)) % 8).astype(int)
    assert [_sector(dx, dy) for dx, dy in steps] == want.tolist()
