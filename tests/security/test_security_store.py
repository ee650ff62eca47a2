"""Issue 20, findings 3, 4 and 6 (store) and issue 21, point 7 (one replay memory per store).

Each test failed before its fix: a missing, mistyped or emptied store was silently
created empty, a key file was made beside an existing store, a commit lost with its
WAL went unnoticed, damaged metadata raised UnicodeDecodeError or KeyError, an
enrolment wrote its records in two transactions, and the one-shot verify_stroke had a
replay memory of its own.
"""
from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgesig
from edgesig.cli import cli
from edgesig.engines import pressure_free
from edgesig.errors import StoreError, TemplateIntegrityError
from edgesig.security import REPLAY_RECORD, ReplayGuard, shared_guard
from edgesig.store import EncryptedStore, KeyFile, MemoryStore
from tests.conftest import wavy_pen
from tests.store.store_helpers import make_template

_COMMIT_AND_CRASH = """
import os, sys
from edgesig.store import EncryptedStore
from tests.store.store_helpers import make_template
store = EncryptedStore(sys.argv[1], bytes.fromhex(sys.argv[2]))
store.put(make_template("bob", seed=3))
os._exit(0)  # no close: the commit stays in the WAL, as after a power cut
"""


@pytest.fixture
def store_path(tmp_path) -> Path:
    return tmp_path / "templates.db"


def _crash_after_commit(store_path: Path, key: bytes) -> Path:
    """A store with alice checkpointed and bob committed only to the WAL; the WAL's path."""
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template("alice"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, "-c", _COMMIT_AND_CRASH, str(store_path), key.hex()], check=True, env=env)
    wal = Path(f"{store_path}-wal")
    assert wal.stat().st_size > 0
    return wal


def test_a_missing_store_is_not_created(store_path):
    with pytest.raises(StoreError, match="does not exist.*create=True"):
        EncryptedStore(store_path, KeyFile(store_path.with_suffix(".key")))
    assert list(store_path.parent.iterdir()) == []


def test_an_empty_store_file_is_an_error_not_a_new_store(store_path):
    key = os.urandom(32)
    with EncryptedStore(store_path, key, create=True) as store:
        for user in ("a", "b", "c", "d", "e"):
            store.put(make_template(user))
    store_path.write_bytes(b"")
    for create in (False, True):
        with pytest.raises(StoreError, match="empty"):
            EncryptedStore(store_path, key, create=create)
    assert store_path.stat().st_size == 0


def test_a_deleted_store_with_its_counter_file_left_is_an_error(store_path):
    key = os.urandom(32)
    EncryptedStore(store_path, key, create=True).close()
    store_path.unlink()
    with pytest.raises(StoreError, match="shows a store was there"):
        EncryptedStore(store_path, key, create=True)


def test_cli_with_a_mistyped_store_fails_and_creates_nothing(tmp_path):
    typo = tmp_path / "typo_store.db"
    result = CliRunner().invoke(cli, ["users", "--store", str(typo)])
    assert result.exit_code != 0
    assert "does not exist" in str(result.exception)
    assert list(tmp_path.iterdir()) == []


def test_a_mistyped_key_file_beside_a_store_is_not_created(store_path):
    EncryptedStore(store_path, KeyFile(store_path.with_suffix(".key")), create=True).close()
    typo = store_path.with_name("typo.key")
    with pytest.raises(StoreError, match="check the path"):
        EncryptedStore(store_path, KeyFile(typo))
    assert not typo.exists()


def test_a_commit_lost_with_a_deleted_wal_is_noticed(store_path):
    key = os.urandom(32)
    _crash_after_commit(store_path, key).unlink()
    with pytest.raises(TemplateIntegrityError, match="committed writes are missing"):
        EncryptedStore(store_path, key)
    with EncryptedStore(store_path, key, accept_lost_writes=True) as store:  # a deliberate decision
        assert store.users() == ["alice"]
    EncryptedStore(store_path, key).close()  # and from then on the store opens as it is


@pytest.mark.parametrize("flips", [1, 4])
def test_a_commit_lost_to_a_damaged_wal_is_noticed(store_path, flips):
    key = os.urandom(32)
    wal = _crash_after_commit(store_path, key)
    data = bytearray(wal.read_bytes())
    for i in range(flips):  # inside the last frame's page: its checksum fails, SQLite drops the commit
        data[len(data) - 200 - 37 * i] ^= 0x10
    wal.write_bytes(bytes(data))
    with pytest.raises(TemplateIntegrityError, match="committed writes are missing"):
        EncryptedStore(store_path, key)


@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_a_bad_schema_version_is_a_typed_error(store_path, value):
    key = os.urandom(32)
    EncryptedStore(store_path, key, create=True).close()
    with sqlite3.connect(store_path) as raw:
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (value,))
    raw.close()
    with pytest.raises(TemplateIntegrityError, match="damaged store metadata"):
        EncryptedStore(store_path, key)


def test_a_flipped_byte_in_the_schema_text_is_a_typed_error(store_path):
    key = os.urandom(32)
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template())
    data = bytearray(store_path.read_bytes())
    at = data.index(b"CREATE TABLE meta")
    data[at + 3] = 0xFF  # not UTF-8
    store_path.write_bytes(bytes(data))
    with pytest.raises(StoreError):
        EncryptedStore(store_path, key)


class _CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[list[str]] = []

    def put_many(self, templates) -> None:
        templates = list(templates)
        self.writes.append([t.engine for t in templates])
        super().put_many(templates)


def test_enrolment_is_one_write(pens):
    store = _CountingStore()
    v = edgesig.Verifier("dtw", store)
    v.enroll("alice", pens[:5])
    variant = pressure_free("dtw", v.manifest)  # a pressure pad enrols the pressure-free variant too
    expected = ["dtw"] + ([variant] if variant else []) + (["id-pen"] if "id-pen" in v.manifest.entries else [])
    assert store.writes == [expected]


def test_the_one_shot_call_shares_the_verifiers_replay_memory(pens):
    store = MemoryStore()
    v = edgesig.Verifier("dtw", store)
    v.enroll("alice", pens[:5])
    assert v.verify_stroke("alice", pens[5]).accepted
    again = edgesig.verify_stroke("alice", pens[5], store=store, engine="dtw")
    assert not again.accepted and any("recently accepted" in r for r in again.reasons)


def test_replay_memory_survives_a_restart_when_persisted(tmp_path, pens):
    """Issue 20 #1: optional persistence of recently accepted signatures in the store."""
    path, key = tmp_path / "t.db", os.urandom(32)
    with EncryptedStore(path, key, create=True) as store:
        v = edgesig.Verifier("dtw", store, persist_replays=True)
        v.enroll("alice", pens[:5])
        assert v.verify_stroke("alice", pens[5]).accepted
    with EncryptedStore(path, key) as store:  # a restart: a new process, a new guard
        again = edgesig.Verifier("dtw", store, persist_replays=True).verify_stroke("alice", pens[5])
        assert not again.accepted and any("recently accepted" in r for r in again.reasons)
        assert store.users() == ["alice"]
    with EncryptedStore(path, key) as store:  # without persistence only memory is consulted
        assert edgesig.Verifier("dtw", store).verify_stroke("alice", pens[5]).accepted


class _GatedStore(MemoryStore):
    """Holds each replay-memory write until ``gate`` opens; ``fail`` makes the next one fail."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.gate, self.fail = threading.Event(), threading.Event(), False

    def put_many(self, templates) -> None:
        templates = list(templates)
        if any(t.engine == REPLAY_RECORD for t in templates):
            self.entered.set()
            assert self.gate.wait(10), "the replay write was not let through"
            if self.fail:
                self.fail = False
                raise StoreError("disk full; free space")
        super().put_many(templates)


def test_write_behind_takes_the_replay_write_off_the_verification(pens):
    """A synchronous replay write is a durable commit (6-19 ms a verification on an
    EncryptedStore, tests.store.bench_store): with write_behind the verification returns
    while the write is still held."""
    store = _GatedStore()
    guard = ReplayGuard(store=store, write_behind=True)
    v = edgesig.Verifier("dtw", store, replay_guard=guard)
    v.enroll("alice", pens[:5])
    assert v.verify_stroke("alice", pens[5]).accepted  # returns: the write waits on the gate
    assert store.entered.wait(10) and REPLAY_RECORD not in store.engines("alice")
    store.gate.set()
    guard.flush()
    assert REPLAY_RECORD in store.engines("alice")


def test_a_persisting_shared_guard_goes_with_its_store_and_its_writer_ends(pens):
    """The shared guard's table entry is keyed by the store; a guard that held its store
    strongly kept it, itself and its writer thread alive for the process's life."""
    store = MemoryStore()
    guard = shared_guard(store, persist=True, write_behind=True)
    assert guard.store is store
    guard.remember_accepted("alice", pens[0])
    guard.flush()
    writer, store_ref = guard._writer, weakref.ref(store)
    del store, guard
    gc.collect()
    writer.join(10)
    assert store_ref() is None and not writer.is_alive()


def test_a_deleted_user_is_not_brought_back_by_a_replay_write_in_flight(pens):
    store = _GatedStore()
    guard = ReplayGuard(store=store, write_behind=True)
    v = edgesig.Verifier("dtw", store, replay_guard=guard)
    v.enroll("alice", pens[:5])
    assert v.verify_stroke("alice", pens[5]).accepted
    assert store.entered.wait(10)
    deleting = threading.Thread(target=v.delete, args=("alice",))
    deleting.start()  # waits for the write in flight, then deletes it with the templates
    store.gate.set()
    deleting.join(10)
    guard.flush()
    assert store.users() == []


def test_a_failed_replay_write_is_kept_and_raised_by_the_next_acceptance(pens):
    store = _GatedStore()
    store.put_many([make_template("alice"), make_template("bob")])  # replay memory is kept for enrolled users
    store.fail = True
    store.gate.set()
    guard = ReplayGuard(store=store, write_behind=True)
    guard.remember_accepted("alice", pens[0])
    deadline = time.monotonic() + 10
    while guard._write_error is None and time.monotonic() < deadline:  # the background write fails
        time.sleep(0.01)
    with pytest.raises(StoreError, match="could not be written to the store.*disk full"):
        guard.remember_accepted("bob", pens[1])
    guard.flush()
    assert {REPLAY_RECORD} <= set(store.engines("alice")) & set(store.engines("bob"))


def test_a_store_from_before_counter_files_opens_and_starts_one(store_path):
    key = os.urandom(32)
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template())
    counter_file = store_path.with_name(store_path.name + ".counter")
    counter_file.unlink()
    with sqlite3.connect(store_path) as raw:
        raw.execute("DELETE FROM meta WHERE key = 'counter_file'")
    raw.close()
    with EncryptedStore(store_path, key) as store:
        assert store.users() == ["alice"]
    assert counter_file.exists()
    counter_file.unlink()  # from now on a lost counter file is noticed
    with pytest.raises(TemplateIntegrityError, match="missing or damaged"):
        EncryptedStore(store_path, key)


def test_a_persisted_replay_memory_sees_what_another_process_accepted(tmp_path, pens):
    """Each process read a user's replay record from the store once and then kept its own
    copy: a signature accepted by `edgesig verify` (or a second server) on the same store
    was accepted again by a server that had verified that user before, and the server's
    next write dropped it from the store."""
    path, key = tmp_path / "t.db", os.urandom(32)
    with EncryptedStore(path, key, create=True) as first, EncryptedStore(path, key) as second:
        a = edgesig.Verifier("dtw", first, persist_replays=True)  # two store objects: two processes' guards
        b = edgesig.Verifier("dtw", second, persist_replays=True)
        a.enroll("alice", pens[:5])
        assert a.verify_stroke("alice", wavy_pen(14)).accepted  # a now holds alice's memory
        assert b.verify_stroke("alice", wavy_pen(15)).accepted
        again = a.verify_stroke("alice", wavy_pen(15))
        assert not again.accepted and any("recently accepted" in r for r in again.reasons)
        assert a.verify_stroke("alice", wavy_pen(16)).accepted
        assert not b.verify_stroke("alice", wavy_pen(14)).accepted  # a's write kept b's signature
        assert not b.verify_stroke("alice", wavy_pen(15)).accepted


@pytest.mark.parametrize("behind", [False, True], ids=["at-once", "write-behind"])
def test_a_user_deleted_while_their_verification_runs_gets_no_replay_record_back(tmp_path, pens, behind):
    """The delete came between the decision and remember_accepted (another thread, or another
    process on the store): the replay write that followed put the deleted user's signature
    fingerprints back in the store, listed by users()."""
    path, key = tmp_path / "t.db", os.urandom(32)
    with EncryptedStore(path, key, create=True) as store, EncryptedStore(path, key) as other:
        v = edgesig.Verifier("dtw", store, replay_guard=ReplayGuard(store=store, write_behind=behind))
        v.enroll("alice", pens[:5])
        decide = v._decide

        def decide_then_delete(*args):
            result = decide(*args)
            edgesig.Verifier("dtw", other).delete("alice")  # as another process does
            return result
        v._decide = decide_then_delete
        assert v.verify_stroke("alice", pens[5]).accepted
        v.replay_guard.flush()
        assert store.users() == [] and other.users() == []
        v._decide = decide
        v.enroll("alice", pens[:5])  # enrolled again: remembered again
        assert v.verify_stroke("alice", wavy_pen(14)).accepted
        v.replay_guard.flush()
        assert REPLAY_RECORD in store.engines("alice")


def test_a_replay_is_refused_while_its_users_memory_is_evicted_and_its_write_in_flight(pens):
    """With the user's table evicted from memory (max_users) and the write-behind batch
    taken off the queue but not yet in the store, the guard saw the signature nowhere and
    accepted its replay."""
    store = _GatedStore()
    store.put_many([make_template("alice"), make_template("bob")])
    guard = ReplayGuard(store=store, write_behind=True, max_users=1)
    guard.remember_accepted("alice", pens[0])
    assert store.entered.wait(10)  # the writer holds alice's row, the store has not got it
    guard.remember_accepted("bob", pens[1])  # evicts alice from memory
    reasons = guard.check("alice", pens[0])
    store.gate.set()
    guard.flush()
    assert any("recently accepted" in r for r in reasons), reasons
