"""benchmarks/online_fit.py: a writer's rows under any reference draw come from one scoring,
the protocol's draw gives the shipped rows, and a candidate's draws and set weights are as
its docstring says."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from benchmarks.online_fit import DRAWS, POOL, REFS, Augment, draw_rows, reference_draws, writer_matrix
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.combiner import TermRows, term_rows
from edgesig.eval.protocols import UserSamples
from edgesig.runtime import Manifest
from tests.conftest import wavy_pen


def _users() -> list[UserSamples]:
    return [UserSamples(u, [wavy_pen(10 * u + s) for s in range(12)], [wavy_pen(50 + 10 * u + s, speed=0.6)
                                                                      for s in range(3)]) for u in range(2)]


@pytest.mark.parametrize("variant", ["dtw", "dtw-nopressure"])
def test_the_protocol_draw_gives_the_shipped_rows_bit_for_bit(variant):
    entry = Manifest().get(variant)  # without stability: one matrix serves every draw (benchmarks/online_fit.py)
    engine = DtwEngine(replace(entry, params={k: v for k, v in entry.params.items() if k != "stability"}))
    users = _users()
    shipped = term_rows(engine, users)
    for u, theirs in zip(users, shipped.users):
        w = writer_matrix(engine, u.user, [*u.genuine, *u.forgery], len(u.genuine), [1] * len(u.genuine))
        names, ours = draw_rows(engine, w, range(REFS))
        assert names == shipped.names
        assert np.array_equal(ours.genuine, theirs.genuine) and np.array_equal(ours.forgery, theirs.forgery)
        other = draw_rows(engine, w, (1, 3, 5, 7, 9))[1]
        assert other.genuine.shape == ours.genuine.shape and not np.array_equal(other.genuine, ours.genuine)


def test_draws_are_distinct_subsets_of_the_first_ten_led_by_the_protocols():
    engine = DtwEngine(Manifest().get("dtw"))
    u = _users()[0]
    w = writer_matrix(engine, u.user, [*u.genuine, *u.forgery], len(u.genuine), [1] * len(u.genuine))
    draws = reference_draws(w, DRAWS)
    assert draws[0] == tuple(range(REFS)) and len(set(draws)) == DRAWS
    assert all(len(d) == REFS and max(d) < POOL for d in draws) and reference_draws(w, DRAWS) == draws
    matrices = {"a": [w]}
    rows = TermRows(("x",), [draw_rows(engine, w, range(REFS))[1]])
    drawn = Augment(engine, matrices, DRAWS, False)({"a": rows})["a"]
    assert len(drawn.users) == DRAWS and drawn.weight == pytest.approx(1 / DRAWS)
    assert all(len(r.genuine) == len(u.genuine) - REFS and len(r.forgery) == len(u.forgery) for r in drawn.users)


def test_set_balance_gives_every_set_the_same_total_weight():
    engine = DtwEngine(Manifest().get("dtw"))
    users = _users()
    ws = [writer_matrix(engine, u.user, [*u.genuine, *u.forgery], len(u.genuine), [1] * len(u.genuine)) for u in users]
    matrices = {"big": ws, "small": ws[:1]}
    train = {name: TermRows(("x",), [draw_rows(engine, w, range(REFS))[1] for w in m]) for name, m in matrices.items()}
    out = Augment(engine, matrices, 1, True)(train)
    totals = {n: r.weight * sum(len(u.genuine) + len(u.forgery) for u in r.users) for n, r in out.items()}
    assert totals["big"] == pytest.approx(totals["small"])
    assert sum(totals.values()) == pytest.approx(sum(len(u.genuine) + len(u.forgery) for r in train.values()
                                                     for u in r.users))
