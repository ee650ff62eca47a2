"""benchmarks/online_path.py: the candidates' engine differs from the shipped one only by its
``path.`` terms, and each candidate sees its own path terms only."""
from __future__ import annotations

import numpy as np

from benchmarks.online_path import CANDIDATES, keep, path_entry
from edgesig.decision import ReferenceStats
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.combiner import default_grid, term_rows
from edgesig.eval.protocols import UserSamples
from edgesig.runtime import Manifest
from tests.conftest import wavy_pen


def both_term_values(shipped: DtwEngine, candidate: DtwEngine) -> tuple[dict, dict]:
    """The shipped engine's and a candidate's term values for one query against five
    references (the shipped engine's distances and reference statistics, as a benchmark
    scores them)."""
    refs = [shipped.prepare(wavy_pen(s)) for s in range(5)]
    query = shipped.prepare(wavy_pen(9, speed=0.5))
    distances = shipped.distances(query, refs)
    stats = ReferenceStats.from_matrix(shipped.pairwise(refs))
    return (shipped.term_values(distances, stats, query, refs),
            candidate.term_values(distances, stats, query, refs))


def test_path_terms_are_added_to_the_shipped_terms_unchanged():
    for variant in ("dtw", "dtw-nopressure"):
        entry = Manifest().get(variant)
        own = {f"path.{s}" for s in entry.params.get("path", ())}
        base, more = both_term_values(DtwEngine(entry), DtwEngine(path_entry(entry)))
        assert {k: more[k] for k in base} == base
        assert {k for k in base if k.startswith("path.")} == own
        assert set(more) - set(base) == {"path.cost_max", "path.cost_sd", "path.nondiag"} - own
        assert all(np.isfinite(v) and v > 0 for k, v in more.items() if k.startswith("path."))


def test_each_candidate_keeps_its_own_path_terms():
    entry = Manifest().get("dtw")
    users = [UserSamples(0, [wavy_pen(s) for s in range(7)], [wavy_pen(20 + s, speed=0.6) for s in range(2)])]
    rows = {"x": term_rows(DtwEngine(path_entry(entry)), users)}
    assert not any(n.startswith("path.") for n in keep(rows, ())["x"].names)
    cost = keep(rows, ["path.cost_sd", "path.cost_max"])["x"]
    assert [n for n in cost.names if n.startswith("path.")] == ["path.cost_sd", "path.cost_max"]
    assert cost.users[0].genuine.shape == (2, len(cost.names)) and cost.users[0].forgery.shape == (2, len(cost.names))
    grid, shipped = default_grid(path=True), default_grid()
    assert grid[:len(shipped)] == shipped and all("path" in c.families for c in grid[len(shipped):])
    assert set(CANDIDATES) == {"nondiag", "cost", "path"}
