"""benchmarks/online_drift.py: the candidates' geometry is what their docstring says (a
shear's slant found and removed, the x spread set to y's), the DTW rows read the normalised
pen while the global descriptor reads the captured one, and the terms' drift is measured
against the forgery gap."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.online_drift import CANDIDATES, GeometryDtw, aspect, normalised, slant, term_table
from edgesig.decision import Combiner
from edgesig.engines.dtw import DtwEngine
from edgesig.runtime import Manifest
from tests.conftest import wavy_pen


def _sheared(pen, k: float, stretch: float = 1.0):
    return type(pen).from_arrays(stretch * (pen.x + k * pen.y), pen.y, pen.t, pen.pressure)


def test_slant_finds_a_shear_and_deslanting_removes_it():
    pen = wavy_pen(3)
    base = slant(pen)
    assert slant(_sheared(pen, 0.4)) == pytest.approx(base + 0.4)
    assert slant(normalised(_sheared(pen, 0.4), True, False)) == pytest.approx(0.0, abs=1e-9)


def test_aspect_scales_x_to_the_spread_of_y_and_keeps_the_rest():
    pen = _sheared(wavy_pen(4), 0.0, stretch=1.7)
    out = normalised(pen, False, True)
    assert aspect(out) == pytest.approx(0.0, abs=1e-9) and aspect(pen) > 0.5
    assert np.array_equal(out.y, pen.y) and np.array_equal(out.t, pen.t) and np.array_equal(out.pressure, pen.pressure)
    assert aspect(normalised(_sheared(wavy_pen(4), 0.0, stretch=0.6), False, True)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("variant", ["dtw", "dtw-nopressure"])
def test_candidates_change_the_dtw_rows_only(variant):
    entry = Manifest().get(variant)
    shipped = DtwEngine(entry)
    pen = _sheared(wavy_pen(5), 0.5, stretch=1.3)
    base = shipped.prepare(pen)
    assert np.array_equal(GeometryDtw(entry, False, False).prepare(pen), base)
    for deslant, scale in CANDIDATES.values():
        mine = GeometryDtw(entry, deslant, scale).prepare(pen)
        assert mine.shape == base.shape and np.array_equal(mine[:shipped.header], base[:shipped.header])
        assert not np.allclose(mine[shipped.header:], base[shipped.header:])


def test_term_table_measures_drift_against_the_forgery_gap():
    rows = {"s1": np.array([[1.0, 0.0], [1.0, 2.0]]), "s2": np.array([[2.0, 1.0]]), "forged": np.array([[5.0, 1.0]])}
    table = term_table(("a", "b"), rows, Combiner(("a",), (2.0,)))
    a, b = table
    assert (a["s1"], a["s2"], a["forged"], a["share"]) == (1.0, 2.0, 5.0, 0.25)
    assert (a["score_drift"], a["score_gap"]) == (2.0, 8.0)
    assert b["weight"] == 0.0 and np.isnan(b["share"])
