import numpy as np
import pytest

from edgesig.errors import InvalidInputError
from edgesig.features.kinematics import (FeatureConfig, at_rate, capture_rate, channels, extract, filled_in, gradient,
                                         motion_table, pen_down_segments)
from edgesig.pen import PenStream
from tests.conftest import wavy_pen


def test_segments_follow_pen_down():
    down = np.array([0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0], bool)
    n = down.size
    pen = PenStream.from_arrays(np.arange(n), np.arange(n) ** 1.5, np.arange(n) * 10.0, pen_down=down)
    assert [(s.start, s.stop) for s in pen_down_segments(pen)] == [(1, 4), (6, 13)]


def test_features_invariant_to_position_and_size():
    pen = wavy_pen(1)
    moved = PenStream.from_arrays(pen.x * 3 + 500, pen.y * 3 - 200, pen.t, pen.pressure)
    cfg = FeatureConfig()
    np.testing.assert_allclose(extract(pen, cfg), extract(moved, cfg), atol=1e-6)


def test_feature_shape_and_config_roundtrip():
    cfg = FeatureConfig(level=3, extra=("vx", "p"), stride=2)
    feats = extract(wavy_pen(2, n=101), cfg)
    assert feats.shape == (51, cfg.dim) and np.all(np.isfinite(feats))
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_channel():
    with pytest.raises(InvalidInputError, match="unknown channels"):
        channels(wavy_pen(0), ("x", "bogus"))


def _sampled(rate_hz: float, declared: bool) -> PenStream:
    """One smooth signature-like path sampled at ``rate_hz`` for two seconds."""
    t = np.arange(0.0, 2000.0, 1000.0 / rate_hz)
    s = t / 2000.0 * 4 * np.pi
    return PenStream.from_arrays(1000 * (s + 0.6 * np.sin(2 * s)), 1000 * np.cos(3 * s), t,
                                 0.5 + 0.3 * np.sin(s), sample_rate_hz=rate_hz if declared else None)


@pytest.mark.parametrize("declared", [True, False])
def test_fast_pads_are_thinned_to_the_common_rate(declared):
    cfg = FeatureConfig(window=5, rate_hz=100.0)
    slow, fast = extract(_sampled(100.0, declared), cfg), extract(_sampled(200.0, declared), cfg)
    assert fast.shape == slow.shape
    np.testing.assert_allclose(fast, slow, atol=1e-6)
    assert extract(_sampled(200.0, declared), FeatureConfig(window=5)).shape[0] == 2 * slow.shape[0]


def test_stride_keeps_every_other_row():
    pen = wavy_pen(4)
    full, half = extract(pen, FeatureConfig(window=5)), extract(pen, FeatureConfig(window=5, stride=2))
    np.testing.assert_array_equal(half, full[::2])


def test_compiled_gradient_equals_numpy():
    rng = np.random.default_rng(3)
    for n in (2, 3, 17, 200):
        t = np.cumsum(rng.uniform(0.5, 12.0, n))
        values = rng.normal(size=n)
        np.testing.assert_allclose(gradient(values, t), np.gradient(values, t), rtol=1e-12, atol=1e-12)
    assert np.all(gradient(np.array([4.0]), np.array([0.0])) == 0.0)


def test_motion_table_normalises_by_vertical_spread(pens):
    pen = pens[0]
    table = motion_table(pen.t, pen.x, pen.y, pen.pressure)
    scale = np.std(pen.y)
    np.testing.assert_allclose(table[:, 0], (pen.x - pen.x.mean()) / scale, atol=1e-12)
    np.testing.assert_allclose(table[:, 1], (pen.y - pen.y.mean()) / scale, atol=1e-12)
    np.testing.assert_allclose(table[:, 3], np.gradient(table[:, 0], pen.t - pen.t[0]), atol=1e-12)
    np.testing.assert_allclose(table[:, 5], np.hypot(table[:, 3], table[:, 4]), atol=1e-12)


def _two_strokes() -> PenStream:
    """Two strokes sampled every 20 ms, with a 300 ms lift between them that the pad did not sample."""
    t = np.concatenate([np.arange(10) * 20.0, 480 + np.arange(10) * 20.0])
    x = np.concatenate([np.arange(10.0), 20 + np.arange(10.0)])
    return PenStream.from_arrays(x, np.zeros(20), t, np.linspace(0.2, 0.8, 20), sample_rate_hz=50.0)


def test_filled_in_interpolates_inside_strokes_not_across_a_lift():
    pen = _two_strokes()
    full = filled_in(pen, 2)
    assert len(full) == 20 + 18 and full.device.sample_rate_hz == 100.0  # 9 steps per stroke, none across the lift
    assert np.allclose(full.t[:3], [0, 10, 20]) and np.allclose(full.x[:3], [0, 0.5, 1])
    assert np.array_equal(full.x[::2][:10], pen.x[:10]) and full.pen_down.all()
    assert np.isclose(full.pressure[1], (pen.pressure[0] + pen.pressure[1]) / 2)


def test_filled_in_keeps_a_hover_step_up():
    pen = _two_strokes()
    down = np.ones(20, bool)
    down[9] = False  # the pen leaves the pad at the end of the first stroke
    hover = PenStream.from_arrays(pen.x, pen.y, pen.t, np.where(down, pen.pressure, 0.0), down, sample_rate_hz=50.0)
    full = filled_in(hover, 2)
    assert not full.pen_down[17] and full.pressure[17] == 0.0  # between samples 8 (down) and 9 (up)


def test_at_rate_thins_fills_or_keeps_the_pen():
    pen = _two_strokes()
    assert at_rate(pen, 55.0) is pen and at_rate(pen, None) is pen
    assert capture_rate(at_rate(pen, 100.0), 0.0) == 100.0
    slow = at_rate(pen, 25.0)
    assert len(slow) == 10 and capture_rate(slow, 0.0) == 25.0  # so extract does not thin it again
