"""benchmarks/online_pressure_invariant.py: the candidates' pressure readings do not move
under a pad's pressure curve, and each differs from the shipped engine only where its
docstring says."""
from __future__ import annotations

import numpy as np

from benchmarks.online_pressure_curve import curved
from benchmarks.online_pressure_invariant import RankedDtw, augmented, curve_free_terms, mid_ranks, ranked
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.combiner import TermRows
from edgesig.eval.datasets import split
from edgesig.eval.protocols import UserRows
from edgesig.runtime import Manifest
from tests.conftest import wavy_pen


def test_mid_ranks_share_ties():
    assert np.array_equal(mid_ranks(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1.0, 3.5, 2.0])


def test_ranked_pen_and_curve_free_terms_ignore_the_pressure_curve():
    pen = wavy_pen(1)
    for gamma in (0.6, 1.6):
        soft = curved(pen, gamma)
        assert not np.allclose(soft.pressure, pen.pressure)
        assert np.array_equal(ranked(soft).pressure, ranked(pen).pressure)
        assert np.allclose(curve_free_terms(soft), curve_free_terms(pen))
    shares = ranked(pen).pressure
    assert np.isclose(shares.mean(), 0.5) and shares.min() > 0.0 and shares.max() < 1.0


def test_candidates_change_only_their_parts():
    entry = Manifest().get("dtw")
    pen, soft = wavy_pen(2), curved(wavy_pen(2), 0.6)
    head = DtwEngine(entry).header
    shipped = DtwEngine(entry).prepare(pen)
    global_only, everything, curve_free = (RankedDtw(entry, False).prepare(pen), RankedDtw(entry, True).prepare(pen),
                                           RankedDtw(entry, True, curve_free=True).prepare(pen))
    assert np.array_equal(global_only[head:], shipped[head:]) and not np.array_equal(global_only[:head], shipped[:head])
    assert np.array_equal(everything[:head], global_only[:head]) and np.array_equal(curve_free[head:], everything[head:])
    assert np.array_equal(RankedDtw(entry, True, curve_free=True).prepare(soft), curve_free)


def test_augmented_adds_rows_to_training_writers_only():
    train, val = int(split("mcyt", "train", 0)[0]), int(split("mcyt", "val", 0)[0])

    def rows(value: float) -> dict[str, TermRows]:
        return {"mcyt": TermRows(("min",), [UserRows(w, np.full((2, 1), value), np.full((3, 1), value), None)
                                            for w in (train, val)])}
    out = augmented(rows(0.0), [rows(1.0), rows(2.0)], 0)["mcyt"].users
    assert out[0].genuine.ravel().tolist() == [0, 0, 1, 1, 2, 2] and len(out[0].forgery) == 9
    assert out[1].genuine.ravel().tolist() == [0, 0] and len(out[1].forgery) == 3
