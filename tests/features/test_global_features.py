"""Global features: what each entry measures, and that it ignores what it should."""
import numpy as np
import pytest

from edgesig.features.global_features import GLOBAL_FEATURES, deviation, global_features
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
