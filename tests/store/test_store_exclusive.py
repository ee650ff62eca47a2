"""Read-merge-writes of several processes on one store lose nothing (issue: cross-process
read-merge-write). Before the fix each process wrote its own merge of the record it had
read, so fingerprints that another process accepted in between were overwritten."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from edgesig.errors import StoreBusyError
from edgesig.security import REPLAY_RECORD
from edgesig.store.encrypted import EncryptedStore
from tests.store.store_helpers import make_template
from tests.store.store_worker import accepted_fingerprint
from tests.store.test_store_durability import WORKER, _env

WORKERS, EACH = 3, 20


@pytest.mark.parametrize("behind", [False, True], ids=["at-once", "write-behind"])
def test_processes_keeping_one_users_replay_memory_lose_no_fingerprint(store_path, key, behind):
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template("alice"))  # replay memory is kept for enrolled users
    start_at = time.time() + 3.0  # after every worker has imported edgesig
    children = [subprocess.Popen([sys.executable, str(WORKER), "remember", str(store_path), key.hex(), str(w),
                                  str(EACH), repr(start_at)] + (["behind"] if behind else []),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
                for w in range(WORKERS)]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert out.strip() == "ok", err
    with EncryptedStore(store_path, key) as store:
        stored = store.get("alice", REPLAY_RECORD).references[0]
    expected = {accepted_fingerprint(w, i).tobytes() for w in range(WORKERS) for i in range(EACH)}
    lost = expected - {row.tobytes() for row in np.asarray(stored, dtype=np.float32)}
    assert not lost, f"{len(lost)} of {len(expected)} accepted fingerprints lost"
    assert len(stored) == len(expected)


def test_a_write_waits_for_a_read_merge_write_then_goes_in_after_it(store_path, key):
    with EncryptedStore(store_path, key, create=True) as first, EncryptedStore(store_path, key) as second:
        written = []
        with first.exclusive():
            writer = threading.Thread(target=lambda: (second.put(make_template("bob")), written.append("bob")))
            writer.start()
            time.sleep(0.3)
            assert not written  # held back by the lock file, not only by SQLite's write lock
            first.put(make_template("alice"))  # the holder's own write does not wait for itself
        writer.join(10)
        assert written == ["bob"] and first.users() == ["alice", "bob"]


def test_a_lock_held_too_long_is_a_typed_error_naming_the_lock_file(store_path, key):
    with EncryptedStore(store_path, key, create=True) as first, \
            EncryptedStore(store_path, key, timeout=0.2) as second:
        with first.exclusive():
            with pytest.raises(StoreBusyError, match=r"templates\.db\.lock.*never stale.*Do not delete") as info:
                second.put(make_template("bob"))
        assert info.value.path == store_path.with_name("templates.db.lock")
        second.put(make_template("bob"))  # released: goes in
        assert second.users() == ["bob"]


def test_a_thread_held_up_by_another_threads_read_merge_write_gets_the_typed_error(store_path, key):
    """Threads sharing one store object waited on its thread lock without bound, where a
    process got StoreBusyError after the timeout: a thread hung inside exclusive() hung
    every writer of the process."""
    with EncryptedStore(store_path, key, create=True, timeout=0.2) as store:
        inside, leave = threading.Event(), threading.Event()

        def hold() -> None:
            with store.exclusive():
                inside.set()
                leave.wait(10)
        holder = threading.Thread(target=hold)
        holder.start()
        assert inside.wait(10)
        try:
            with pytest.raises(StoreBusyError, match="another thread of this process.*timeout=") as info:
                store.put(make_template("bob"))
            assert info.value.path == store_path.with_name("templates.db.lock")
        finally:
            leave.set()
            holder.join(10)
        store.put(make_template("bob"))  # released: goes in
        with store.exclusive(), store.exclusive():  # nested in one thread: free
            store.put(make_template("carol"))
        assert store.users() == ["bob", "carol"]
