"""benchmarks/online_smpass.py: the engine's one pass on stability-weighted local costs,
the references' matrix under the pair's weights (the query's, or with the pair's own
alignment left out), and the shipped terms' names unchanged."""
from __future__ import annotations

import numpy as np

from benchmarks.online_smpass import SmPassEngine
from benchmarks.online_stability import FLOOR, align
from edgesig.engines.dtw import DtwEngine
from edgesig.features.dtw import direct_matches, share, stabilities
from edgesig.runtime import Manifest
from tests.conftest import wavy_pen


def _prepared(engine: DtwEngine, seeds: range) -> list[np.ndarray]:
    return [engine.prepare(wavy_pen(s, speed=1.0 + 0.1 * (s % 3))) for s in seeds]


def test_query_distances_are_the_weighted_alignment():
    entry = Manifest().get("dtw")
    engine = SmPassEngine(entry, loo=False)
    query, *refs = _prepared(engine, range(6))
    rows = [r[engine.header:].astype(np.float64) for r in refs]
    weights = engine.row_weights(refs)
    assert all(np.array_equal(w, FLOOR + s) for w, s in zip(weights, stabilities(rows, engine.band)))
    q = query[engine.header:].astype(np.float64)
    expected = []
    for r, w in zip(rows, weights):
        path = align(q, r, engine.band, w)
        expected.append((w[path.cols] * path.costs).sum() / len(path.rows))
    assert np.allclose(engine.distances(query, refs), expected)
    assert engine.term_values(engine.distances(query, refs), engine.reference_stats(refs), query, refs).keys() == \
        DtwEngine(entry).term_values(np.ones(5), DtwEngine(entry).reference_stats(refs), query, refs).keys()


def test_the_references_matrix_leaves_the_pair_out_only_for_loo():
    engine = SmPassEngine(Manifest().get("dtw-nopressure"), loo=True)
    refs = _prepared(engine, range(5))
    query_weights, pairs = engine.row_weights(refs), engine.pair_weights(refs)
    matches = direct_matches([r[engine.header:] for r in refs], engine.band)
    assert np.array_equal(pairs[0][1], FLOOR + share(matches, 1, leave=0))
    assert np.array_equal(pairs[2][2], query_weights[2])
    loo = engine.pairwise(refs)
    plain = SmPassEngine(Manifest().get("dtw-nopressure"), loo=False).pairwise(refs)
    assert np.all(np.diag(loo) == 0) and np.all(np.diag(plain) == 0)
    assert np.all(loo[~np.eye(5, dtype=bool)] > 0) and not np.array_equal(loo, plain)
    assert set(engine.reference_terms(refs)) == {f"path.{s}" for s in engine.path}
