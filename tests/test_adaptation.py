"""Adaptive template update: only confident genuine signatures, bounded, reversible, audited."""
from dataclasses import replace

import numpy as np
import pytest

from edgesig import AdaptPolicy, AuditLog, InvalidInputError, Verifier
from edgesig.adaptation import ENROLLED, n_enrolled
from edgesig.decision import ReferenceStats
from edgesig.pen import PenStream
from tests.conftest import wavy_pen


def _verifier(**kwargs) -> Verifier:
    v = Verifier("dtw", adapt=AdaptPolicy(min_score=0.01, max_added=2), **kwargs)
    v.enroll("alice", [wavy_pen(s) for s in range(5)])
    return v


def test_accepted_signatures_join_up_to_the_bound_and_the_oldest_goes_first():
    v = _verifier()
    enrolled = v.store.get("alice", "dtw")
    queries = [wavy_pen(s) for s in (5, 6, 8)]
    results = [v.verify_stroke("alice", q) for q in queries]
    assert all(r.accepted and r.details["adapted"] for r in results)
    t = v.store.get("alice", "dtw")
    assert len(t.references) == 7 and n_enrolled(t) == 5
    for kept, original in zip(t.references[:5], enrolled.references):  # enrolled references never dropped
        np.testing.assert_array_equal(kept, original)
    engine = v.engine("dtw")
    for ref, q in zip(t.references[5:], queries[1:]):  # the first adapted one was replaced
        np.testing.assert_array_equal(ref, engine.prepare(q))
    assert len(t.meta["fingerprints"]) == 7 and len(t.meta["adapted_at"]) == 2
    assert t.stats == ReferenceStats.from_matrix(engine.pairwise(list(t.references))).to_dict()
    assert t.version > enrolled.version


def test_revert_restores_the_enrolled_template():
    v = _verifier()
    enrolled = v.store.get("alice", "dtw")
    v.verify_stroke("alice", wavy_pen(5))
    v.verify_stroke("alice", wavy_pen(6))
    assert v.revert_adaptation("alice") == 2
    t = v.store.get("alice", "dtw")
    assert len(t.references) == 5 and t.stats == enrolled.stats and ENROLLED not in t.meta
    assert t.meta["fingerprints"] == enrolled.meta["fingerprints"]
    assert v.revert_adaptation("alice") == 0


def test_rejected_or_unconfident_signatures_do_not_adapt():
    v = _verifier()
    other = PenStream.from_arrays(np.linspace(0, 5000, 150), 800 * np.sin(np.linspace(0, 25, 150)) ** 3,
                                  np.arange(150) * 10.0, np.full(150, 0.6))
    assert not v.verify_stroke("alice", other).accepted
    strict = Verifier("dtw", v.store, adapt=AdaptPolicy(min_score=1.0))
    result = strict.verify_stroke("alice", wavy_pen(5))
    assert result.accepted and "adapted" not in result.details
    assert len(v.store.get("alice", "dtw").references) == 5


def test_off_by_default():
    v = Verifier("dtw")
    v.enroll("bob", [wavy_pen(s) for s in range(5)])
    assert v.verify_stroke("bob", wavy_pen(5)).accepted
    assert len(v.store.get("bob", "dtw").references) == 5


def test_replayed_adapted_signature_is_refused():
    v = _verifier()
    query = wavy_pen(5)
    v.verify_stroke("alice", query)
    fresh = Verifier("dtw", v.store)  # a new process: the recent-accept memory is gone
    replayed = fresh.verify_stroke("alice", replace(query, sequence=None))
    assert not replayed.accepted and any("replay" in r or "copy" in r or "duplicate" in r for r in replayed.reasons)


def test_adaptation_is_audited_without_biometrics():
    audit = AuditLog(None, key=b"k" * 32)
    v = _verifier(audit=audit)
    v.verify_stroke("alice", wavy_pen(5))
    v.revert_adaptation("alice")
    updates = [e for e in audit.entries() if e["event"] == "update"]
    assert [e["decision"] for e in updates] == ["adapted", "reverted adaptation"]
    assert "alice" not in str(audit.entries())


@pytest.mark.parametrize("kwargs", [{"min_score": 0.0}, {"min_score": 1.5}, {"max_added": 0}, {"max_added": 11},
                                    {"min_score": "0.9"}, {"max_added": "3"}, {"max_added": 2.5}])
def test_bad_policy(kwargs):
    with pytest.raises(InvalidInputError):
        AdaptPolicy(**kwargs)


def _meanwhile(v: Verifier, action) -> None:
    """Run ``action`` once, between ``v``'s next decision and its adaptation, as another
    process (or thread) on the same store would."""
    decide = v._decide

    def decide_then_act(*args):
        result = decide(*args)
        v._decide = decide
        action()
        return result
    v._decide = decide_then_act


def test_an_adaptation_keeps_another_writers_adaptation_made_since_its_decision():
    """Before the fix the adaptation wrote the template it had decided on plus its query:
    the other adaptation was overwritten."""
    v = _verifier()
    other = Verifier("dtw", v.store, adapt=v.adapt)
    _meanwhile(v, lambda: other.verify_stroke("alice", wavy_pen(6)))
    assert v.verify_stroke("alice", wavy_pen(5)).details["adapted"]
    t = v.store.get("alice", "dtw")
    assert len(t.references) == 7 and n_enrolled(t) == 5 and len(t.meta["adapted_at"]) == 2


def test_a_re_enrolment_since_the_decision_is_not_overwritten_by_the_adaptation():
    v = _verifier()
    other = Verifier("dtw", v.store)
    _meanwhile(v, lambda: other.enroll("alice", [wavy_pen(s) for s in (8, 9, 11, 12, 15)]))
    result = v.verify_stroke("alice", wavy_pen(5))
    assert result.accepted and "adapted" not in result.details
    t = v.store.get("alice", "dtw")
    assert ENROLLED not in t.meta
    for ref, s in zip(t.references, (8, 9, 11, 12, 15), strict=True):  # the new enrolment, untouched
        np.testing.assert_array_equal(ref, v.engine("dtw").prepare(wavy_pen(s)))


def test_a_user_deleted_since_the_decision_is_not_brought_back_by_the_adaptation():
    v = _verifier()
    _meanwhile(v, lambda: Verifier("dtw", v.store).delete("alice"))
    assert v.verify_stroke("alice", wavy_pen(5)).accepted
    assert v.store.users() == []
