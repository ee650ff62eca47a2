import numpy as np
import pytest

from edgesig.decision import Calibration, ReferenceStats, dissimilarities, dissimilarity, fit_calibration
from edgesig.errors import InvalidInputError
from edgesig.eval.metrics import auc, eer, far_frr


def test_perfect_separation():
    rate, thr = eer(np.array([3.0, 4.0, 5.0]), np.array([0.0, 1.0, 2.0]))
    assert rate == 0.0 and 2.0 < thr <= 3.0
    assert auc(np.array([3.0, 4.0]), np.array([0.0, 1.0])) == 1.0


def test_known_overlap():
    genuine = np.array([1.0, 2.0, 3.0, 4.0])
    impostor = np.array([0.0, 1.5, 2.5, 5.0])
    rate, thr = eer(genuine, impostor)
    far, frr = far_frr(genuine, impostor, thr)
    assert rate == pytest.approx(0.5 * (far + frr))
    assert rate == pytest.approx(0.5)
    assert auc(genuine, impostor) == pytest.approx(9 / 16)


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    g, i = rng.normal(1, 1, 200), rng.normal(0, 1, 300)
    pairwise = np.mean(g[:, None] > i[None, :]) + 0.5 * np.mean(g[:, None] == i[None, :])
    assert auc(g, i) == pytest.approx(pairwise)


def test_empty_scores():
    with pytest.raises(InvalidInputError):
        eer(np.array([]), np.array([1.0]))


def test_reference_stats_and_dissimilarity():
    dist = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], float)
    stats = ReferenceStats.from_matrix(dist)
    assert stats.template_index == 0
    assert stats.d_min == pytest.approx((1 + 1 + 2) / 3)
    assert stats.d_max == pytest.approx((2 + 3 + 3) / 3)
    assert stats.d_mean == pytest.approx(2.0)
    assert stats.d_tmp == pytest.approx(1.5)
    q = np.array([1.0, 2.0, 3.0])
    assert dissimilarity(q, stats, ("min", "mean")) == pytest.approx(1 / stats.d_min + 2 / 2)
    assert ReferenceStats.from_dict(stats.to_dict()) == stats


def test_dissimilarities_of_many_queries_are_each_querys_exactly():
    """The protocol scores rows in bulk; the kiosk one query at a time: the same numbers, bit for bit."""
    rng = np.random.default_rng(2)
    refs = rng.uniform(0.1, 0.4, (5, 5))
    stats = ReferenceStats.from_matrix((refs + refs.T) * (1 - np.eye(5)))
    queries = rng.uniform(0.0, 1.0, (50, 5))
    for combine in (("min",), ("min", "mean"), ("mean", "max", "tmp")):
        assert np.array_equal(dissimilarities(queries, stats, combine),
                              [dissimilarity(q, stats, combine) for q in queries])
    assert dissimilarities(np.zeros((0, 5)), stats, ("min",)).shape == (0,)


def test_calibration_orders_and_thresholds():
    rng = np.random.default_rng(1)
    genuine, forgery = rng.normal(1.0, 0.2, 500), rng.normal(2.0, 0.3, 500)
    cal = fit_calibration(genuine, forgery)
    assert 1.0 < cal.threshold < 2.0
    assert cal.probability(0.5) > cal.score_threshold > cal.probability(3.0)
    assert 0.0 <= cal.probability(100.0) < 0.01 and cal.probability(-100.0) > 0.99
    assert Calibration.from_dict(cal.to_dict()) == cal
