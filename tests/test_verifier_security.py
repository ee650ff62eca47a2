"""Replay, injection and audit defences as wired into the Verifier."""
import numpy as np
import pytest

from edgesig import AuditLog, EncryptedStore, EnrollmentError, PenStream, Verifier, verify_log
from tests.conftest import wavy_pen


@pytest.fixture
def verifier(pens):
    v = Verifier("dtw")
    v.enroll("alice", pens[:5])
    return v


def test_replayed_reference_is_rejected(verifier, pens):
    r = verifier.verify_stroke("alice", pens[2])
    assert not r.accepted
    assert any("near-duplicate of reference 2" in reason for reason in r.reasons)


def test_replayed_accepted_signature_is_rejected(verifier, pens):
    first = verifier.verify_stroke("alice", pens[5])
    assert first.accepted, first.reasons
    again = verifier.verify_stroke("alice", pens[5])
    assert not again.accepted and any("recently accepted" in reason for reason in again.reasons)


def test_reused_nonce_is_rejected(verifier):
    fresh = wavy_pen(11).with_meta(nonce=b"\x01" * 8, sequence=1)
    assert not any("nonce" in r for r in verifier.verify_stroke("alice", fresh).reasons)
    replay = wavy_pen(12).with_meta(nonce=b"\x01" * 8, sequence=2)
    assert any("nonce" in r for r in verifier.verify_stroke("alice", replay).reasons)


def test_constant_speed_injection_is_rejected(verifier):
    n = 200
    s = np.linspace(0, 4 * np.pi, n)
    x, y = 1000 * s, 1000 * np.cos(3 * s)
    arc = np.r_[0, np.cumsum(np.hypot(np.diff(x), np.diff(y)))]
    even = np.linspace(0, arc[-1], n)  # a plotter: the same distance every 10 ms
    robot = PenStream.from_arrays(np.interp(even, arc, x), np.interp(even, arc, y), np.arange(n) * 10.0,
                                  np.full(n, 0.5))
    r = verifier.verify_stroke("alice", robot)
    assert not r.accepted and any("constant pen speed" in reason for reason in r.reasons)


def test_copied_references_refused_at_enrolment(pens):
    with pytest.raises(EnrollmentError, match="copy of reference 0"):
        Verifier("dtw").enroll("bob", [pens[0], pens[1], pens[0], pens[3]])


def test_audit_log_through_encrypted_store(tmp_path, pens):
    key = bytes(range(32))
    with EncryptedStore(tmp_path / "t.db", key=key, create=True) as store:
        audit = AuditLog(tmp_path / "audit.jsonl", key=store.audit_key)
        v = Verifier("dtw", store, audit=audit)
        v.enroll("carol", pens[:5])
        assert v.verify_stroke("carol", pens[5]).accepted
        v.delete("carol")
    events = [e["event"] for e in audit.entries()]
    assert events == ["enrol", "verify", "delete"]
    raw = (tmp_path / "audit.jsonl").read_text()
    assert "carol" not in raw
    assert verify_log(tmp_path / "audit.jsonl", key=store.audit_key) == []
