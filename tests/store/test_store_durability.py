"""Nothing lost: a writer killed mid-burst, and concurrent processes and threads."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from edgesig.store.encrypted import EncryptedStore
from tests.store.store_helpers import make_template, same_template

WORKER = Path(__file__).with_name("store_worker.py")


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}


def _burst_and_kill(path: Path, key: bytes, start: int, kill_after: int) -> list[int]:
    """Run a burst of enrolments, SIGKILL it after ``kill_after`` commits; the committed ids."""
    child = subprocess.Popen([sys.executable, str(WORKER), "burst", str(path), key.hex(), str(start)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    committed = []
    for line in child.stdout:
        committed.append(int(line.split()[1]))
        if len(committed) >= kill_after:
            child.send_signal(signal.SIGKILL)
            break
    committed += [int(line.split()[1]) for line in child.stdout]  # lines already in the pipe
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, child.stderr.read()
    return committed


def test_killed_writer_loses_nothing_committed(store_path, key):
    rng = np.random.default_rng(7)
    committed: list[int] = []
    start = 0
    for _ in range(3):  # kill at a different point of the burst each time
        got = _burst_and_kill(store_path, key, start, int(rng.integers(3, 12)))
        committed += got
        start = got[-1] + 2
        with EncryptedStore(store_path, key, create=True) as store:
            users = store.users()
            present = {int(u[4:]) for u in users}
            assert {int(u) for u in committed} <= present
            # at most the one put that committed after the last print and before the kill
            assert len(present) - len(committed) <= 1
            for i in present:
                assert same_template(store.get(f"user{i}", "dtw"),
                                     make_template(f"user{i}", n_refs=5, shape=(200, 30), seed=i))
            committed = sorted(present)


def test_concurrent_processes_and_threads(store_path, key):
    EncryptedStore(store_path, key, create=True).close()
    children = [subprocess.Popen([sys.executable, str(WORKER), "mixed", str(store_path), key.hex(), str(w), "1.5"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
                for w in range(3)]
    errors: list[str] = []
    store = EncryptedStore(store_path, key, create=True)

    def local(thread: int) -> None:  # this process's threads join in too
        try:
            for i in range(60):
                store.put(make_template(f"local{thread}", seed=i))
                assert store.get(f"local{thread}", "dtw").user_id == f"local{thread}"
                store.users()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=local, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outputs = [c.communicate(timeout=60) for c in children]
    assert not errors, errors
    for out, err in outputs:
        assert out.startswith("ok"), (out, err)
        puts, gets = map(int, out.split()[1:])
        assert puts > 0 and gets > 0
    users = store.users()
    assert {"local0", "local1", "shared1", "shared3"} <= set(users)
    for user in users:  # everything decrypts and authenticates after the storm
        assert store.get(user, "dtw").user_id == user
    assert store.get("local1", "dtw").version == 60
    store.close()
    with EncryptedStore(store_path, key, create=True) as reopened:
        assert reopened.users() == users
