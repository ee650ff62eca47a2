"""Synthetic writers: determinism, valid tablet-like streams, and a realistic task.

The distance used here is deliberately simple (pen-down path, centred, scaled by its
vertical spread, resampled to 64 points by arc length): if even this separates genuine
from forged on average, the forgeries carry the writer's shape; the dynamics tests
check that they do not carry the writer's motor program.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from edgesig.capture import svc2004
from edgesig.errors import InvalidInputError
from edgesig.features.kinematics import pen_down_segments
from edgesig.pen import PenStream
from edgesig.synth import SynthSample, Writer, demo_dataset, make_population, make_writer, render_strokes
from edgesig.synth.sigma_lognormal import AIR, DIST, MU, SIGMA, T0, TH_E, TH_S

CHANNELS = ("t", "x", "y", "pressure", "pen_down", "azimuth", "altitude")


def shape_vector(pen: PenStream, n: int = 64) -> np.ndarray:
    """Pen-down path resampled to n points equally spaced along its length, normalised."""
    down = pen.select(pen.pen_down)
    xy = np.column_stack([down.x, down.y]).astype(float)
    xy = (xy - xy.mean(axis=0)) / max(float(xy[:, 1].std()), 1e-9)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    grid = np.linspace(0.0, arc[-1], n)
    return np.column_stack([np.interp(grid, arc, xy[:, 0]), np.interp(grid, arc, xy[:, 1])])


def distance(a: PenStream, b: PenStream) -> float:
    return float(np.mean(np.linalg.norm(shape_vector(a) - shape_vector(b), axis=1)))


@pytest.fixture(scope="module")
def writers() -> list[Writer]:
    return make_population(12, seed=2024)


# ------------------------------------------------------------------ determinism

def test_same_seed_same_writer_and_signatures():
    a, b = make_writer(17), make_writer(17)
    np.testing.assert_array_equal(a.strokes, b.strokes)
    np.testing.assert_array_equal(a.segment, b.segment)
    assert a.hand == b.hand
    for make in (lambda w: w.genuine(5), lambda w: w.forgery(5), lambda w: w.forgery(5, skill=0.3)):
        pa, pb = make(a), make(b)
        for name in CHANNELS:
            np.testing.assert_array_equal(getattr(pa, name), getattr(pb, name), err_msg=name)


def test_generator_and_int_seed_agree_and_seeds_differ():
    w = make_writer(3)
    np.testing.assert_array_equal(w.genuine(9).x, w.genuine(np.random.default_rng(9)).x)
    assert not np.array_equal(w.genuine(9).x, w.genuine(10).x)
    assert not np.array_equal(make_writer(3).strokes, make_writer(4).strokes)


def test_population_is_deterministic_and_prefix_stable():
    small, large = make_population(3, seed=8), make_population(6, seed=8)
    assert [w.seed for w in small] == [w.seed for w in large[:3]]
    assert len({w.seed for w in large}) == 6
    np.testing.assert_array_equal(small[2].strokes, large[2].strokes)


# ------------------------------------------------------------------ validity

@pytest.mark.parametrize("rate", [100.0, 200.0, 60.0])
def test_streams_are_valid_tablet_captures(writers, rate):
    for k, base in enumerate(writers[:6]):
        w = make_writer(base.seed, sample_rate_hz=rate)
        for pen in (w.genuine(k), w.forgery(k), w.forgery(k, skill=0.0)):
            again = PenStream.from_arrays(pen.x, pen.y, pen.t, pen.pressure, pen.pen_down,
                                          azimuth=pen.azimuth, altitude=pen.altitude, device=pen.device)
            np.testing.assert_array_equal(again.t, pen.t)
            assert pen.device.name == "edgesig.synth" and pen.device.units_per_mm == 100.0
            assert pen.device.sample_rate_hz == rate and pen.device.timing_jitter
            assert np.all(np.diff(pen.t) > 0)
            assert abs(np.median(np.diff(pen.t)) - 1000.0 / rate) <= 1.0
            assert np.all(pen.pressure[~pen.pen_down] == 0) and np.all(pen.pressure[pen.pen_down] > 0)
            assert pen.pressure.max() <= 1.0
            assert np.all(pen.x == np.round(pen.x)) and pen.x.min() >= 0 and pen.y.min() >= 0
            assert 1500 < np.ptp(pen.x) < 40000  # 15 to 400 mm wide at 0.01 mm per unit
            assert np.all((pen.azimuth >= 0) & (pen.azimuth < 360))
            assert np.all((pen.altitude >= 20) & (pen.altitude <= 90))
            assert not pen.pen_down[0] and not pen.pen_down[-1]  # hover before and after


def test_genuine_keeps_the_writers_pen_lifts(writers):
    for i, w in enumerate(writers):
        pen = w.genuine(i)
        segments = pen_down_segments(pen)
        assert len(segments) == w.n_segments
        hover = ~pen.pen_down[segments[0].stop:segments[-1].start]
        assert hover.sum() >= w.n_segments - 1  # hover samples between segments


def test_sizes_and_durations_look_like_svc2004(writers):
    gen = [w.genuine(i) for i, w in enumerate(writers)]
    points = np.array([len(p) for p in gen])
    seconds = np.array([p.duration_ms for p in gen]) / 1000.0
    assert 150 <= np.median(points) <= 450 and points.min() >= 60 and points.max() <= 900
    assert 1.0 <= np.median(seconds) <= 5.0


def test_pressure_builds_up_after_touch_down(writers):
    rises = []
    for i, w in enumerate(writers):
        pen = w.genuine(i)
        for seg in pen_down_segments(pen):
            p = pen.pressure[seg]
            if p.size >= 10:
                rises.append(np.median(p) - p[0])
    assert np.mean(np.array(rises) > 0) > 0.9


# ------------------------------------------------------------------ realism of the task

def test_forgeries_are_farther_than_genuine_but_overlap(writers):
    wins, means = [], []
    for i, w in enumerate(writers):
        refs = [w.genuine(100 * i + k) for k in range(4)]
        queries = [w.genuine(100 * i + 50 + k) for k in range(4)]
        forged = [w.forgery(100 * i + k) for k in range(4)]
        others = [writers[(i + 1) % len(writers)].genuine(100 * i + k) for k in range(2)]
        score = lambda q: np.mean([distance(q, r) for r in refs])  # noqa: E731
        g, f, r = (np.array([score(q) for q in group]) for group in (queries, forged, others))
        wins.append(np.mean(f[:, None] > g[None, :]))  # per-writer AUC of the shape distance
        means.append((g.mean(), f.mean(), r.mean()))
    intra, skilled, random_ = np.mean(means, axis=0)
    assert intra < skilled < random_
    # separable on average, but not trivially: some forgeries beat some genuine signatures
    assert 0.55 < np.mean(wins) < 0.98
    assert min(wins) < 1.0


def test_forgeries_are_slower_and_more_broken(writers):
    ratios, peaks_g, peaks_f = [], [], []
    for i, w in enumerate(writers):
        g = [w.genuine(i * 10 + k) for k in range(3)]
        f = [w.forgery(i * 10 + k) for k in range(3)]
        ratios.append(np.mean([p.duration_ms for p in f]) / np.mean([p.duration_ms for p in g]))
        peaks_g.append(np.mean([_speed_peaks(p) for p in g]))
        peaks_f.append(np.mean([_speed_peaks(p) for p in f]))
    assert 1.2 < np.median(ratios) < 2.5
    assert np.mean(np.array(ratios) > 1.0) >= 0.9
    assert np.mean(peaks_f) > np.mean(peaks_g)  # more, shorter strokes


def test_lower_skill_means_slower_and_less_faithful(writers):
    far, near, slow, fast = [], [], [], []
    for i, w in enumerate(writers[:8]):
        ref = w.genuine(i)
        good, bad = w.forgery(i, skill=1.0), w.forgery(i, skill=0.0)
        near.append(distance(ref, good))
        far.append(distance(ref, bad))
        fast.append(good.duration_ms)
        slow.append(bad.duration_ms)
    assert np.mean(far) > np.mean(near) and np.mean(slow) > np.mean(fast)


def _speed_peaks(pen: PenStream) -> int:
    """Local maxima of pen-down speed above 10 % of its maximum: a count of strokes."""
    count = 0
    for seg in pen_down_segments(pen):
        x, y, t = pen.x[seg], pen.y[seg], pen.t[seg]
        if x.size < 5:
            continue
        v = np.convolve(np.hypot(np.diff(x), np.diff(y)) / np.diff(t), np.ones(3) / 3, mode="same")
        inner = (v[1:-1] > v[:-2]) & (v[1:-1] >= v[2:]) & (v[1:-1] > 0.1 * v.max())
        count += int(inner.sum())
    return count


# ------------------------------------------------------------------ the kinematic model

def test_lognormal_arc_closed_form_matches_integrated_velocity():
    strokes = np.array([[0.00, 20.0, -1.6, 0.25, 0.3, 2.1],
                        [0.12, 12.0, -1.9, 0.30, -1.0, 0.4],
                        [0.20, 6.0, -2.0, 0.20, 1.0, 1.0]])
    t = np.arange(1, 1501) * 1e-3
    out = render_strokes(t, strokes)
    integrated = np.cumsum((out[1:, 2:] + out[:-1, 2:]) / 2 * 1e-3, axis=0)
    np.testing.assert_allclose(integrated, out[1:, :2] - out[0, :2], atol=2e-3)
    # each stroke ends at its chord: D * sinc(turn / 2) in the mean direction
    turn = strokes[:, TH_E] - strokes[:, TH_S]
    half = np.where(turn == 0, 1.0, np.sin(turn / 2) / np.where(turn == 0, 1.0, turn / 2))
    mid = (strokes[:, TH_S] + strokes[:, TH_E]) / 2
    chord = strokes[:, DIST][:, None] * half[:, None] * np.column_stack([np.cos(mid), np.sin(mid)])
    np.testing.assert_allclose(out[-1, :2], chord.sum(axis=0), atol=1e-6)


def test_speed_profile_is_lognormal():
    t0, dist, mu, sigma = 0.05, 10.0, -1.7, 0.3
    t = np.linspace(0.06, 1.0, 200)
    out = render_strokes(t, np.array([[t0, dist, mu, sigma, 0.5, 0.5]]))
    dt = t - t0
    expected = dist / (sigma * np.sqrt(2 * np.pi) * dt) * np.exp(-(np.log(dt) - mu) ** 2 / (2 * sigma ** 2))
    np.testing.assert_allclose(np.hypot(out[:, 2], out[:, 3]), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.arctan2(out[:, 3], out[:, 2])[expected > 1e-6], 0.5, atol=1e-9)


def test_writer_prototype_has_sane_lognormal_parameters(writers):
    for w in writers:
        assert w.strokes.shape[1] == 6 and not w.strokes.flags.writeable
        assert np.all(w.strokes[:, DIST] > 0) and np.all((w.strokes[:, SIGMA] > 0.05) & (w.strokes[:, SIGMA] < 0.6))
        assert np.all(np.diff(w.strokes[:, T0]) > 0)
        assert np.all(np.exp(w.strokes[:, MU]) < 1.0)
        assert set(np.unique(w.segment)) == set(range(w.n_segments)) | ({AIR} if w.n_segments > 1 else set())


# ------------------------------------------------------------------ API

def test_demo_dataset_labels_and_determinism():
    data = demo_dataset(3, n_genuine=2, n_forgeries=2, seed=5, n_random=1)
    assert len(data) == 3 * 5 and all(isinstance(s, SynthSample) for s in data)
    assert [s.kind for s in data[:5]] == ["genuine", "genuine", "skilled", "skilled", "random"]
    assert [s.writer for s in data] == [0] * 5 + [1] * 5 + [2] * 5
    assert sum(s.is_genuine for s in data) == 6
    again = demo_dataset(3, n_genuine=2, n_forgeries=2, seed=5, n_random=1)
    assert all(np.array_equal(a.pen.x, b.pen.x) for a, b in zip(data, again))
    more = demo_dataset(3, n_genuine=2, n_forgeries=4, seed=5)
    assert np.array_equal(more[0].pen.x, data[0].pen.x) and np.array_equal(more[2].pen.x, data[2].pen.x)


def test_samples_round_trip_through_the_svc2004_format():
    pen = make_writer(1).genuine(1)
    back = svc2004.read(svc2004.write(pen))
    np.testing.assert_array_equal(back.x, pen.x)
    np.testing.assert_array_equal(back.t, pen.t)
    np.testing.assert_array_equal(back.pen_down, pen.pen_down)
    np.testing.assert_allclose(back.pressure, pen.pressure, atol=1e-9)


@pytest.mark.parametrize("call", [
    lambda: make_writer(-1),
    lambda: make_writer("seven"),
    lambda: make_writer(1, sample_rate_hz=5),
    lambda: make_writer(1, sample_rate_hz="fast"),
    lambda: make_population(0, 1),
    lambda: make_writer(1).genuine("x"),
    lambda: make_writer(1).genuine(-3),
    lambda: make_writer(1).forgery(1, skill=1.5),
    lambda: make_writer(1).forgery(1, skill=True),
    lambda: demo_dataset(1, 1, 1, seed=0, n_random=1),
    lambda: demo_dataset(2, -1, 1, seed=0),
])
def test_bad_arguments_raise_invalid_input(call):
    with pytest.raises(InvalidInputError):
        call()


def test_generation_time_is_small(writers):
    w = writers[0]
    w.genuine(0), w.forgery(0)  # compile / warm caches
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(20):
        w.genuine(i)
        w.forgery(i)
    per_signature_ms = (time.perf_counter() - start) / 40 * 1000
    print(f"synth: {per_signature_ms:.2f} ms wall, {(time.process_time() - cpu) / 40 * 1000:.2f} ms CPU per signature")
    assert per_signature_ms < 100.0  # sanity only: a loaded CI box must not fail this
