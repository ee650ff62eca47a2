"""Property-based tests: whatever is thrown at the store and at Template, only typed
errors come out, valid records round-trip exactly, and a failed call changes nothing."""
from __future__ import annotations

import io
import json
import os
import sqlite3
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgesig.errors import EdgesigError, StoreError
from edgesig.store.base import Template
from edgesig.store.encrypted import EncryptedStore
from tests.store.store_helpers import make_template, same_template

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

user_ids = st.text(min_size=1, max_size=256).filter(str.isprintable)
names = st.text(min_size=1, max_size=40).filter(str.isprintable)
dtypes = st.sampled_from(["<f8", "<f4", "<f2", "<i8", "|i1", "<u2", "|b1", "<c16", ">f8"])
arrays = dtypes.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, max_side=12)))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 53, 2 ** 53) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
templates = st.builds(
    Template, user_id=user_ids, engine=names, model_version=st.text(max_size=20),
    references=st.lists(arrays, max_size=4).map(tuple),
    stats=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    meta=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    version=st.integers(0, 2 ** 40))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with EncryptedStore(tmp_path_factory.mktemp("prop") / "s.db", os.urandom(32), create=True) as s:
        s.put(make_template("anchor"))
        yield s


def _snapshot(store: EncryptedStore) -> tuple:
    with sqlite3.connect(store.path) as raw:
        rows = raw.execute("SELECT * FROM records ORDER BY uid_hash, engine").fetchall()
        meta = raw.execute("SELECT * FROM meta ORDER BY key").fetchall()
    return store.counter, rows, meta


@SETTINGS
@given(template=templates)
def test_valid_templates_round_trip(store, template):
    store.put(template)
    got = store.get(template.user_id, template.engine)
    assert same_template(got, template)
    assert got.model_version == template.model_version
    assert got.version >= max(template.version, 1)
    assert template.user_id in store.users()


bad_templates = st.one_of(
    st.builds(lambda t, u: Template(u, t.engine, t.model_version, t.references, t.stats),
              templates, st.text(max_size=300).filter(lambda s: not s or not s.isprintable() or len(s) > 256)),
    st.builds(lambda t: Template(t.user_id, t.engine, "m", (np.array([object(), 1]),), {}), templates),
    st.builds(lambda t, v: Template(t.user_id, t.engine, "m", (), {"x": v}), templates,
              st.sampled_from([object(), np.float32(1.0), {1, 2}, b"bytes", np.zeros(3)])),
    st.builds(lambda t, e: Template(t.user_id, e, "m", (), {}), templates, st.sampled_from(["", "a\x00", 5, None])),
    st.builds(lambda t, v: Template(t.user_id, t.engine, "m", (), {}, version=v), templates,
              st.sampled_from([-1, 1.5, "2", None, 2 ** 70])),
    st.builds(lambda t: Template(t.user_id, t.engine, "m", ([[1, 2], [3]],), {}), templates),
    st.sampled_from([None, "template", b"bytes", 42]),
)


@SETTINGS
@given(template=bad_templates)
def test_bad_templates_raise_typed_errors_and_change_nothing(store, template):
    before = _snapshot(store)
    with pytest.raises(EdgesigError):
        store.put(template)
    assert _snapshot(store) == before


@SETTINGS
@given(user=st.one_of(st.text(max_size=300), st.integers(), st.none(), st.binary()),
       engine=st.one_of(st.text(max_size=200), st.none(), st.integers()))
def test_get_delete_engines_with_any_arguments(store, user, engine):
    before = _snapshot(store)
    for call in (lambda: store.get(user, engine), lambda: store.engines(user)):
        try:
            call()
        except EdgesigError:
            pass
    if user != "anchor":
        try:
            store.delete(user)
        except EdgesigError:
            assert _snapshot(store) == before


@SETTINGS
@given(data=st.data())
def test_garbled_template_bytes_raise_store_error(data):
    template = make_template(n_refs=data.draw(st.integers(0, 3)))
    blob = replace(template, created_at=0.0, updated_at=0.0).to_bytes()  # same bytes on every run
    kind = data.draw(st.sampled_from(["truncate", "flip", "splice", "random"]))
    if kind == "truncate":
        garbled = blob[:data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "flip":
        pos = data.draw(st.integers(0, len(blob) - 1))
        garbled = blob[:pos] + bytes([blob[pos] ^ data.draw(st.integers(1, 255))]) + blob[pos + 1:]
    elif kind == "splice":
        pos = data.draw(st.integers(0, len(blob)))
        garbled = blob[:pos] + data.draw(st.binary(max_size=64)) + blob[pos:]
    else:
        garbled = data.draw(st.binary(max_size=2000))
    try:
        Template.from_bytes(garbled)
    except StoreError:
        pass


@SETTINGS
@given(header=json_values)
def test_any_json_header_raises_store_error(header):
    head = json.dumps(header).encode()
    try:
        Template.from_bytes(len(head).to_bytes(4, "big") + head)
    except StoreError:
        pass


def test_header_with_missing_or_mistyped_fields_is_a_store_error():
    blob = make_template().to_bytes()
    valid = json.loads(blob[4:4 + int.from_bytes(blob[:4], "big")])
    for header in ({"format": 1, "n_references": 0},
                   {**valid, "n_references": 0, "user_id": 7},
                   {**valid, "n_references": 0, "stats": []}):
        head = json.dumps(header).encode()
        npz = io.BytesIO()
        np.savez(npz)
        with pytest.raises(StoreError, match="could not be decoded"):
            Template.from_bytes(len(head).to_bytes(4, "big") + head + npz.getvalue())
