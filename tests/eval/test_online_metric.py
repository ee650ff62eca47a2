"""benchmarks/online_metric.py: the moments follow the engine's DTW alignment, a metric
learns from training writers only, and the maps are what their docstrings say."""
from __future__ import annotations

import numpy as np

from benchmarks.online_metric import (MetricDtw, WriterMoments, class_matrices, kissme, lda, metric, path_moments,
                                      whiten)
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.datasets import split
from edgesig.runtime import Manifest
from tests.conftest import wavy_pen


def _spd(seed: int, d: int = 4) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(d, d))
    return a @ a.T + d * np.eye(d)


def test_moments_follow_the_warping_path_not_lock_step():
    a = np.random.default_rng(0).normal(size=(40, 3))
    slowed = np.repeat(a, [2 if i % 5 == 0 else 1 for i in range(40)], axis=0)  # the same samples, stretched in time
    assert np.allclose(path_moments(a, slowed, 0.2), 0.0)
    offset = np.array([0.5, -1.0, 2.0])
    assert np.allclose(path_moments(a, a - offset, 0.2), np.outer(offset, offset))


def test_class_matrices_read_only_the_folds_training_writers():
    d = 3

    def writer(w: str, value: float) -> WriterMoments:
        return WriterMoments(int(w), value * np.eye(d), 1, 2 * value * np.eye(d), 1, {})
    train, held = split("svc2004-task2", "train", 0), split("svc2004-task2", "val", 0)
    sim, dis = class_matrices({"svc2004-task2": [writer(w, 1.0) for w in train] + [writer(w, 9.0) for w in held]}, 0)
    assert np.allclose(sim, np.eye(d)) and np.allclose(dis, 2 * np.eye(d))


def test_kissme_of_proportional_classes_is_whitening_and_scaling_keeps_genuine_size():
    sim = _spd(1)
    a, b = metric(sim, 3 * sim, lambda s, t: kissme(s, t, 0.1)), metric(sim, 3 * sim, lambda s, t: whiten(s, t, 0.1))
    assert np.allclose(a.T @ a, b.T @ b)  # the same distances, whatever the rotation
    assert np.isclose(np.trace(a @ sim @ a.T), np.trace(sim))


def test_lda_keeps_the_directions_forgeries_vary_most_in():
    sim, dis = np.eye(4), np.diag([1.0, 5.0, 2.0, 9.0])
    w = lda(sim, dis, 0.0, 2)
    assert np.allclose(np.abs(w[:2]), [[0, 0, 0, 1], [0, 1, 0, 0]]) and np.allclose(w[2:], 0.0)


def test_the_identity_map_leaves_the_engine_unchanged():
    entry = Manifest().get("dtw")
    pen = wavy_pen(3)
    assert np.array_equal(MetricDtw(entry, np.eye(DtwEngine(entry).features.dim)).prepare(pen),
                          DtwEngine(entry).prepare(pen))
