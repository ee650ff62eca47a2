"""Property-based tests through the Verifier on an EncryptedStore: random references,
queries and user ids give results or typed EdgesigErrors, and a failed enrolment leaves
the store as it was."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesig.errors import EdgesigError, EngineUnavailableError
from edgesig.pen import PenStream
from edgesig.store.encrypted import EncryptedStore
from edgesig.verifier import Verifier
from tests.conftest import wavy_pen

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def verifier(tmp_path_factory):
    store = EncryptedStore(tmp_path_factory.mktemp("verifier") / "v.db", os.urandom(32), create=True)
    try:
        v = Verifier("dtw", store=store)
    except EngineUnavailableError as exc:
        pytest.skip(f"dtw engine not installed: {exc}")
    v.enroll("anchor", [wavy_pen(s) for s in range(4)])
    yield v
    store.close()


@st.composite
def pens(draw) -> PenStream:
    """Streams that validate but are otherwise arbitrary: tiny, huge-valued, jumpy, flat."""
    n = draw(st.integers(8, 300))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    scale = draw(st.sampled_from([1e-6, 1.0, 1e3, 1e9]))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["noise", "wavy", "flat-x", "constant"]))
    if kind == "wavy":
        pen = wavy_pen(seed % 1000, n=n)
        return PenStream.from_arrays(pen.x * scale, pen.y * scale, pen.t, pen.pressure)
    x = rng.normal(size=n) * scale if kind != "constant" else np.zeros(n)
    y = np.zeros(n) if kind in ("flat-x", "constant") else rng.normal(size=n) * scale
    return PenStream.from_arrays(x, y, np.cumsum(rng.uniform(0.5, 30, n)), rng.uniform(0.01, 1, n))


user_ids = st.one_of(st.text(min_size=1, max_size=60).filter(str.isprintable), st.text(max_size=5),
                     st.integers(), st.none())


@SETTINGS
@given(user=user_ids, refs=st.lists(pens(), min_size=0, max_size=6))
def test_enroll_any_references(verifier, user, refs):
    before = {u: verifier.store.engines(u) for u in verifier.users()}
    counter = verifier.store.counter
    try:
        verifier.enroll(user, refs)
    except EdgesigError:
        assert verifier.store.counter == counter
        assert {u: verifier.store.engines(u) for u in verifier.users()} == before
        return
    assert user in verifier.users()


@SETTINGS
@given(user=st.sampled_from(["anchor", "nobody"]) | user_ids,
       query=pens() | st.sampled_from([None, "pen", np.zeros((50, 3)), [1, 2, 3]]))
def test_verify_any_query(verifier, user, query):
    try:
        result = verifier.verify_stroke(user, query)
    except EdgesigError:
        return
    assert 0.0 <= result.score <= 1.0 and isinstance(result.accepted, bool)
