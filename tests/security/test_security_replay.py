"""ReplayGuard: nonces, sequence numbers and recently accepted signatures."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import edgesig
from edgesig.errors import InvalidInputError
from edgesig.pen import DeviceInfo
from edgesig.security import ReplayGuard, fingerprint
from edgesig.store import MemoryStore
from tests.security.test_security_fingerprint import copy_of

PAD = DeviceInfo(name="pad-1")
OTHER = DeviceInfo(name="pad-2")


def test_nonce_works_once_per_device(scribble):
    guard = ReplayGuard()
    pen = scribble.with_meta(device=PAD, nonce=b"n-1")
    assert guard.check("alice", pen) == []
    assert guard.check("alice", pen) == ["replayed capture: this nonce was already presented"]
    assert guard.check("alice", scribble.with_meta(device=OTHER, nonce=b"n-1")) == []  # another pad's nonce space
    assert guard.check("alice", scribble.with_meta(device=PAD, nonce=b"n-2")) == []


def test_sequence_numbers_must_increase(scribble):
    guard = ReplayGuard()
    assert guard.check("alice", scribble.with_meta(device=PAD, sequence=5)) == []
    assert guard.check("alice", scribble.with_meta(device=PAD, sequence=9)) == []
    for old in (9, 6):
        reasons = guard.check("alice", scribble.with_meta(device=PAD, sequence=old))
        assert len(reasons) == 1 and "not above the last one" in reasons[0] and "(9)" in reasons[0]
    assert guard.check("bob", scribble.with_meta(device=OTHER, sequence=1)) == []
    assert guard.check("alice", scribble) == []  # a pad without counters is not held to them


def test_near_duplicates_of_references_and_of_accepted_signatures(svc_pens):
    guard = ReplayGuard()
    refs = [fingerprint(svc_pens[(3, s)]).tolist() for s in range(1, 6)]
    rng = np.random.default_rng(5)
    reasons = guard.check("carol", copy_of(svc_pens[(3, 4)], rng), refs)
    assert reasons == ["near-duplicate of reference 3: a copy, not a new signature"]
    fresh = svc_pens[(3, 10)]
    assert guard.check("carol", fresh, refs) == []
    guard.remember_accepted("carol", fresh)
    assert guard.check("carol", copy_of(fresh, rng), refs) == [
        "near-duplicate of a recently accepted signature: a replayed copy"]
    assert guard.check("dave", copy_of(fresh, rng)) == []  # remembered per user
    assert guard.check("carol", svc_pens[(3, 11)], refs) == []


def test_memory_is_bounded(scribble):
    guard = ReplayGuard(max_nonces=3, max_users=2, recent_per_user=2, max_devices=2)
    for i in range(5):
        guard.check("u", scribble.with_meta(device=PAD, nonce=bytes([i])))
    assert guard.check("u", scribble.with_meta(device=PAD, nonce=bytes([0]))) == []  # forgotten
    assert guard.check("u", scribble.with_meta(device=PAD, nonce=bytes([4]))) != []  # remembered
    for user in ("a", "b", "c"):
        guard.remember_accepted(user, scribble)
    assert guard.check("a", scribble) == []  # least recently seen user dropped
    assert guard.check("c", scribble) != []


def test_thread_safe_single_use(scribble):
    guard = ReplayGuard()
    pen = scribble.with_meta(device=PAD, nonce=b"once")
    results: list[list[str]] = []
    lock = threading.Lock()

    def attempt() -> None:
        reasons = guard.check("alice", pen)
        with lock:
            results.append(reasons)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r == [] for r in results) == 1


def test_not_a_pen():
    with pytest.raises(InvalidInputError):
        ReplayGuard().check("alice", [1, 2, 3])


def test_a_precomputed_fingerprint_gives_the_same_answers(svc_pens):
    """query_fp= (what verify_stroke passes, to fingerprint once) changes nothing but the cost."""
    refs = [fingerprint(svc_pens[(3, s)]).tolist() for s in range(1, 6)]
    rng = np.random.default_rng(5)
    pens = [copy_of(svc_pens[(3, 4)], rng), svc_pens[(3, 10)], copy_of(svc_pens[(3, 10)], rng), svc_pens[(3, 11)]]
    plain, given = ReplayGuard(), ReplayGuard()
    for pen in pens:
        fp = fingerprint(pen)
        assert given.check("carol", pen, refs, query_fp=fp) == plain.check("carol", pen, refs)
        plain.remember_accepted("carol", pen)
        given.remember_accepted("carol", pen, query_fp=fp)
    assert [a.tolist() for a in given._recent["carol"]] == [a.tolist() for a in plain._recent["carol"]]


def test_a_bad_precomputed_fingerprint_is_a_typed_error(scribble):
    guard = ReplayGuard()
    for bad in (np.zeros(10, dtype=np.float32), np.full(96, np.nan, dtype=np.float32), "fp"):
        with pytest.raises(InvalidInputError, match="query fingerprint"):
            guard.check("alice", scribble, query_fp=bad)
        with pytest.raises(InvalidInputError, match="query fingerprint"):
            guard.remember_accepted("alice", scribble, query_fp=bad)
    with pytest.raises(InvalidInputError):
        guard.check("alice", [1, 2, 3], query_fp=fingerprint(scribble))


def test_verify_stroke_fingerprints_the_query_once(monkeypatch):
    """The replay check and remember_accepted share one fingerprint of the query."""
    import edgesig.verifier as verifier_module
    from edgesig.verifier import Verifier
    from tests.conftest import wavy_pen

    verifier = Verifier("dtw")
    verifier.enroll("alice", [wavy_pen(s) for s in range(5)])
    calls = []
    monkeypatch.setattr(verifier_module, "fingerprint", lambda pen: calls.append(pen) or fingerprint(pen))
    monkeypatch.setattr("edgesig.security.fingerprint", lambda pen: pytest.fail("fingerprinted again"))
    result = verifier.verify_stroke("alice", wavy_pen(5))
    assert result.accepted, result.reasons
    assert len(calls) == 1
    assert "recently accepted" in " ".join(verifier.verify_stroke("alice", wavy_pen(5)).reasons)


def test_a_user_forgotten_while_their_verification_runs_is_not_remembered_again(pens):
    """A guard without a store (memory only): Verifier.delete (forget) came between the
    decision and remember_accepted, which put the deleted user's fingerprint back in memory."""
    v = edgesig.Verifier("dtw", MemoryStore(), replay_guard=ReplayGuard())
    v.enroll("alice", pens[:5])
    decided, deleted = threading.Event(), threading.Event()
    decide = v._decide

    def decide_and_wait(*args):
        result = decide(*args)
        decided.set()
        assert deleted.wait(30)
        return result
    v._decide = decide_and_wait
    results = []
    worker = threading.Thread(target=lambda: results.append(v.verify_stroke("alice", pens[5])))
    worker.start()
    assert decided.wait(60)
    v.delete("alice")
    deleted.set()
    worker.join(60)
    assert results and results[0].accepted
    assert "alice" not in v.replay_guard._recent
    v._decide = decide
    v.enroll("alice", pens[:5])  # enrolled again: the signature is new to the guard, and remembered once more
    assert v.verify_stroke("alice", pens[5]).accepted
    again = v.verify_stroke("alice", pens[5])
    assert not again.accepted and any("recently accepted" in r for r in again.reasons)


def test_a_forget_pushed_out_of_the_guards_record_still_wins(scribble):
    """The record of forgotten users is bounded (max_users): where a forget since the
    token may have been pushed out, nothing is remembered rather than a deleted user's."""
    guard = ReplayGuard(max_users=1)
    token = guard.generation()
    guard.forget("alice")
    guard.forget("bob")  # pushes alice's forget out of the record
    guard.remember_accepted("alice", scribble, generation=token)
    assert guard.check("alice", scribble) == []  # not remembered
    guard.remember_accepted("alice", scribble, generation=guard.generation())
    assert any("recently accepted" in r for r in guard.check("alice", scribble))
