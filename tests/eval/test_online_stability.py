"""benchmarks/online_stability.py: its alignment is the engine's own, stabilities come from
one-to-one matches among the references, and the ``sm.`` terms sit beside the shipped
terms without changing them."""
from __future__ import annotations

import numpy as np

from benchmarks.online_path import keep
from benchmarks.online_stability import CANDIDATES, FLOOR, StabilityEngine, align, pair_terms, with_sm
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.combiner import default_grid, term_rows
from edgesig.eval.protocols import UserSamples
from edgesig.features.dtw import dtw_path_to_many, one_to_one, stabilities
from edgesig.runtime import Manifest
from tests.conftest import wavy_pen
from tests.eval.test_online_path import both_term_values


def _rows(engine: DtwEngine, seeds: range, speed: float = 1.0) -> list[np.ndarray]:
    return [engine.prepare(wavy_pen(s, speed=speed))[engine.header:].astype(np.float64) for s in seeds]


def test_unit_weights_follow_the_engine_path():
    engine = DtwEngine(Manifest().get("dtw"))
    query, *refs = _rows(engine, range(4))
    expected = dtw_path_to_many(query, refs, engine.band)
    for ref, (distance, nondiag, _, top) in zip(refs, expected):
        path = align(query, ref, engine.band)
        steps = len(path.rows)
        assert np.isclose(path.costs.mean(), distance) and np.isclose(path.costs.max(), top)
        assert np.isclose((2 * steps - len(query) - len(ref)) / steps, nondiag)
        assert path.rows[0] == path.cols[0] == 0 and (path.rows[-1], path.cols[-1]) == (len(query) - 1, len(ref) - 1)


def test_direct_matches_are_one_to_one_cells():
    # rows 0-0, then row 1 against columns 1 and 2, then rows 2 and 3 against column 3
    assert one_to_one(np.array([0, 1, 1, 2, 3]), np.array([0, 1, 2, 3, 3]), 4, 4).tolist() == [True, False, False, False]


def test_identical_references_are_stable_everywhere_and_cost_nothing_there():
    engine = DtwEngine(Manifest().get("dtw"))
    ref = _rows(engine, range(1))[0]
    stable = stabilities([ref] * 3, engine.band)
    assert all(np.array_equal(s, np.ones(len(ref))) for s in stable)
    assert pair_terms(ref, ref, stable[0], engine.band) == (0.0, 0.0)
    other = _rows(engine, range(5, 6), speed=0.6)[0]
    values = pair_terms(other, ref, stable[0], engine.band)
    # all rows equally stable: the weighted mean is the path's mean cost, SM-DTW the plain DTW scaled
    plain = dtw_path_to_many(other, [ref], engine.band)[0, 0]
    assert np.isclose(values[0], plain) and np.isclose(values[1], (FLOOR + 1) * plain)


def test_sm_terms_are_added_to_the_shipped_terms_unchanged():
    for variant in ("dtw", "dtw-nopressure"):
        entry = Manifest().get(variant)
        base, more = both_term_values(DtwEngine(entry), StabilityEngine(entry))
        assert {k: more[k] for k in base} == base
        assert set(more) - set(base) == {"sm.stable", "sm.distance", "sm.consistency"}
        assert all(np.isfinite(more[k]) and more[k] > 0 for k in ("sm.stable", "sm.distance"))
        assert 0.0 < more["sm.consistency"] <= 1.0


def test_each_candidate_keeps_its_own_terms_and_the_grid_adds_the_family():
    users = [UserSamples(0, [wavy_pen(s) for s in range(7)], [wavy_pen(20 + s, speed=0.6) for s in range(2)])]
    rows = {"x": term_rows(StabilityEngine(Manifest().get("dtw")), users)}
    assert not any(n.startswith("sm.") for n in keep(rows, (), "sm.")["x"].names)
    for terms in CANDIDATES.values():
        assert [n for n in keep(rows, terms, "sm.")["x"].names if n.startswith("sm.")] == list(terms)
    grid = default_grid()
    assert with_sm(grid)[:len(grid)] == grid and all("sm" in c.families for c in with_sm(grid)[len(grid):])
