"""Audit log: no biometric data, no raw user ids, tamper-evident, safe across processes."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgesig import audit
from edgesig.audit import AuditLog, verify_log
from edgesig.errors import InvalidInputError, StoreBusyError, TruncatedLogError
from edgesig.store.filelock import exclusive

KEY = b"k" * 32


def test_entries_hold_only_pseudonyms_and_scalars(tmp_path, scribble):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=KEY)
    user = "alice.smith@example.com"
    log.record("enrol", user, engine="dtw", n_references=5, kept=4, reasons=["reference 2 differs"])
    log.record("verify", user, engine="dtw", accepted=True, score=np.float32(0.91), threshold=0.5,
               latency_ms=3.25, decision="accept", device="pad-1", sequence=np.int64(12))
    log.record("reject", user, engine="dtw", accepted=False, reasons=[f"{user} replayed nonce"],
               latency_ms=float("nan"))
    log.record("rotate", None)
    entries = log.entries()
    assert [e["event"] for e in entries] == ["enrol", "verify", "reject", "rotate"]
    assert entries[0]["user"] == log.user_hash(user) and entries[3]["user"] is None
    assert entries[1]["score"] == pytest.approx(0.91, abs=1e-6) and entries[1]["sequence"] == 12
    assert entries[2]["latency_ms"] is None
    assert entries[2]["reasons"] == [f"user:{log.user_hash(user)} replayed nonce"]
    raw = path.read_bytes()
    assert user.encode() not in raw and b"alice" not in raw
    coords = set(scribble.x) | set(scribble.y) | set(scribble.t)
    for entry in entries:  # only scalars and the reasons list; no pen values anywhere
        for name, value in entry.items():
            assert not isinstance(value, (dict, list)) or name == "reasons"
            assert not (isinstance(value, (int, float)) and not isinstance(value, bool) and value in coords)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert verify_log(path, key=KEY) == []


def test_biometric_or_unknown_fields_are_refused(tmp_path, scribble):
    log = AuditLog(tmp_path / "a.jsonl", key=KEY)
    for fields in ({"x": scribble.x}, {"pen": scribble}, {"references": [1.0, 2.0]}, {"score": "high"},
                   {"reasons": [1, 2]}, {"accepted": 1}, {"sequence": True}, {"score": np.zeros(3)}):
        with pytest.raises(InvalidInputError):
            log.record("verify", "alice", **fields)
    with pytest.raises(InvalidInputError):
        log.record("hack", "alice")
    with pytest.raises(InvalidInputError):
        AuditLog(None, key=b"short")
    assert log.entries() == []


def test_pseudonyms_depend_on_the_key():
    a, b = AuditLog(None, key=KEY), AuditLog(None, key=b"j" * 32)
    assert a.user_hash("alice") == AuditLog(None, key=KEY).user_hash("alice")
    assert a.user_hash("alice") != b.user_hash("alice") and a.user_hash("alice") != a.user_hash("bob")


def test_tampering_is_found(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=KEY)
    for i in range(5):
        log.record("verify", f"user{i}", accepted=bool(i % 2), engine="dtw")
    lines = path.read_bytes().split(b"\n")[:-1]
    edited = json.loads(lines[2])
    edited["accepted"] = not edited["accepted"]
    path.write_bytes(b"\n".join(lines[:2] + [json.dumps(edited).encode()] + lines[3:]) + b"\n")
    assert verify_log(path, key=KEY) == ["line 3 was modified",
                                         "line 4 does not follow line 3 (lines removed, inserted or reordered)"]
    path.write_bytes(b"\n".join(lines[:1] + lines[2:]) + b"\n")
    assert verify_log(path, key=KEY) == ["line 2 does not follow line 1 (lines removed, inserted or reordered)"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert verify_log(path, key=b"x" * 32) != []  # another key cannot vouch for it


def test_torn_last_line_does_not_break_the_log_and_is_reported(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=KEY)
    log.record("verify", "alice", accepted=True)
    with open(path, "ab") as fh:
        fh.write(b'{"time": "2024-01-01T00:00')  # a crash in the middle of a write
    with pytest.raises(TruncatedLogError, match=r"last line \(2\) is torn.*line 1 \(.*\) is the last intact") as info:
        log.entries()
    assert [e["user"] for e in info.value.entries] == [log.user_hash("alice")]
    assert any("torn" in p for p in verify_log(path, key=KEY))
    log.record("verify", "bob", accepted=False)  # goes on after a gap entry naming the last intact line
    assert [e["event"] for e in log.entries()] == ["verify", "gap", "verify"]
    assert [p.split(":")[0] for p in verify_log(path, key=KEY)] == ["line 2 is not a valid audit entry",
                                                                    "line 3 records lost entries"]
    log.record("verify", "\ud800 odd id", accepted=False)  # any str works as a user id
    assert len(log.entries()) == 4


def test_a_log_cut_short_says_so_and_the_next_append_keeps_it_on_record(tmp_path):
    """Entries cut off the end left a valid shorter chain: entries() returned fewer entries
    and verify_log found nothing."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=KEY)
    for user in ("alice", "bob", "carol"):
        log.record("verify", user, accepted=True)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]))  # the newest line lost (a crash, a full disk, truncate -s)
    when = json.loads(lines[1])["time"]
    with pytest.raises(TruncatedLogError, match=rf"cut short.*line 2 \({when}\) is the last intact") as info:
        log.entries()
    assert len(info.value.entries) == 2
    assert any("cut short" in p for p in verify_log(path, key=KEY))
    log.record("verify", "dave", accepted=True)
    entries = log.entries()
    assert [e["event"] for e in entries] == ["verify", "verify", "gap", "verify"]
    assert f"line 2 ({when}) is the last intact" in entries[2]["decision"]
    assert [p.split(":")[0] for p in verify_log(path, key=KEY)] == ["line 3 records lost entries"]


def test_reading_the_log_opens_it_for_reading_only(tmp_path, monkeypatch):
    """entries() takes the appenders' lock on a read-only descriptor: a reader without
    write access to the log (an auditor's copy) can read it."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=KEY)
    log.record("verify", "alice", accepted=True)
    opened, real_open = [], os.open
    monkeypatch.setattr(os, "open", lambda file, flags, *a: opened.append((Path(file), flags))
                        or real_open(file, flags, *a))
    assert len(log.entries()) == 1
    writes = [flags for file, flags in opened if file == path and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)]
    assert [file for file, _ in opened].count(path) >= 1 and writes == []


def test_an_emptied_or_deleted_log_is_not_read_as_an_empty_one(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=KEY)
    log.record("verify", "alice", accepted=True)
    path.write_bytes(b"")
    with pytest.raises(TruncatedLogError, match="cut short.*no intact entry is left"):
        log.entries()
    path.unlink()
    with pytest.raises(TruncatedLogError, match=r"missing, but .*audit\.jsonl\.head shows entries"):
        log.entries()


def test_a_log_from_before_head_files_reads_as_it_is(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=KEY)
    log.record("verify", "alice", accepted=True)
    (tmp_path / "audit.jsonl.head").unlink()
    assert len(log.entries()) == 1 and verify_log(path, key=KEY) == []
    log.record("verify", "bob", accepted=True)  # and starts one
    assert (tmp_path / "audit.jsonl.head").exists() and len(log.entries()) == 2


def test_memory_log_keeps_the_last_entries():
    log = AuditLog(None, key=KEY, keep=3)
    for i in range(5):
        log.record("delete", f"u{i}", removed=1)
    assert [e["user"] for e in log.entries()] == [log.user_hash(f"u{i}") for i in (2, 3, 4)]


def test_several_processes_append_one_chain(tmp_path):
    path = tmp_path / "audit.jsonl"
    code = ("import sys; from edgesig.audit import AuditLog; log = AuditLog(sys.argv[1], key=b'k' * 32)\n"
            "for i in range(60): log.record('verify', f'user{i}', accepted=True, latency_ms=1.0)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    children = [subprocess.Popen([sys.executable, "-c", code, str(path)], env=env) for _ in range(3)]
    assert all(c.wait(timeout=60) == 0 for c in children)
    assert len(AuditLog(path, key=KEY).entries()) == 180
    assert verify_log(path, key=KEY) == []


def test_an_append_waits_a_bounded_time_for_another_appender(tmp_path, monkeypatch):
    """It waited for ever: a hung process holding the log's lock hung every verification."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=KEY)
    monkeypatch.setattr(audit, "LOCK_TIMEOUT_S", 0.2)
    with exclusive(path, timeout=1.0, what="a test", append=True):  # as another process's append
        with pytest.raises(StoreBusyError, match=r"audit log .*audit\.jsonl is busy"):
            log.record("verify", "alice", accepted=True)
    log.record("verify", "alice", accepted=True)
    assert len(log.entries()) == 1 and verify_log(path, key=KEY) == []


def test_an_audit_log_in_a_missing_folder_fails_when_it_is_made(tmp_path):
    """Found only at the first record: enrol stored the template and then raised, and a
    verification consumed the capture (its retry is a replay) before raising."""
    from edgesig import StoreError
    with pytest.raises(StoreError, match="folder .*missing does not exist; create it first"):
        AuditLog(tmp_path / "missing" / "audit.jsonl", key=KEY)
    with pytest.raises(InvalidInputError, match="is a directory; give a file name"):
        AuditLog(tmp_path, key=KEY)
    AuditLog(tmp_path / "audit.jsonl", key=KEY).record("enrol", "alice")


def test_a_missing_log_is_a_problem_not_an_intact_log(tmp_path):
    """verify_log of a deleted log (or a mistyped path) returned [], the answer for an intact one."""
    problems = verify_log(tmp_path / "audit.jsonl", key=KEY)
    assert len(problems) == 1 and "does not exist" in problems[0]


def test_the_audit_key_of_a_store_survives_its_key_rotation(tmp_path):
    """EncryptedStore.audit_key was derived from the store's master key, so rotate_key changed
    it: the log beside the store (edgesig serve's STORE.audit.jsonl) then failed verify_log
    on every line before the rotation under the new key, and on every line after it under
    the old one, and a user's pseudonym changed."""
    from edgesig.store import EncryptedStore
    path, log_path, final = tmp_path / "t.db", tmp_path / "audit.jsonl", os.urandom(32)
    with EncryptedStore(path, os.urandom(32), create=True) as store:
        first = store.audit_key
        AuditLog(log_path, key=store.audit_key).record("enrol", "alice")
        store.rotate_key(os.urandom(32))
        store.rotate_key(final)
        assert store.audit_key == first
    with EncryptedStore(path, final) as store:
        log = AuditLog(log_path, key=store.audit_key)
        log.record("verify", "alice", accepted=True)
        assert verify_log(log_path, key=store.audit_key) == []
        assert len({e["user"] for e in log.entries()}) == 1


def test_a_log_opened_with_another_key_is_refused_before_it_is_appended_to(tmp_path):
    """AuditLog(path, key=other) appended lines under the other key: from then on the log
    failed verify_log under either key, and nothing said so until someone checked."""
    from edgesig.errors import WrongKeyError
    path = tmp_path / "audit.jsonl"
    AuditLog(path, key=KEY).record("enrol", "alice")
    with pytest.raises(WrongKeyError, match="does not verify under this key"):
        AuditLog(path, key=b"x" * 32)
    AuditLog(path, key=KEY).record("verify", "alice", accepted=True)
    assert verify_log(path, key=KEY) == []
