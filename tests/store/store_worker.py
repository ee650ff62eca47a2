"""Child process for the durability tests: enrol in a burst, or hammer the store.

Run as ``python store_worker.py burst DB KEYHEX START`` (prints "committed N" after
each put returns), ``python store_worker.py mixed DB KEYHEX WORKER SECONDS``
(threads doing puts and gets; prints "ok PUTS GETS" or the first error) or
``python store_worker.py remember DB KEYHEX WORKER N START_AT [behind]`` (from wall-clock
time START_AT, N accepted fingerprints of one user kept through a persisting
ReplayGuard, written at once or behind; prints "ok").
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np

from edgesig.errors import UnknownUserError
from edgesig.security import FP_SIZE, ReplayGuard
from edgesig.store.encrypted import EncryptedStore
from tests.store.store_helpers import make_template


def burst(path: str, key: bytes, start: int) -> None:
    with EncryptedStore(path, key, create=True) as store:
        for i in range(start, start + 100_000):
            store.put(make_template(f"user{i}", n_refs=5, shape=(200, 30), seed=i))
            print(f"committed {i}", flush=True)


def mixed(path: str, key: bytes, worker: int, seconds: float) -> None:
    store = EncryptedStore(path, key, create=True)
    counts, errors = [0, 0], []

    def loop(thread: int) -> None:
        deadline = time.monotonic() + seconds
        i = 0
        try:
            # run for the time given, and at least a few of each operation on a loaded machine
            while time.monotonic() < deadline or i < 12:
                user = f"shared{i % 4}" if i % 2 else f"w{worker}t{thread}u{i % 3}"
                if i % 3 == 0:
                    store.put(make_template(user, seed=i))
                    counts[0] += 1
                else:
                    try:
                        got = store.get(user, "dtw")
                        assert got.user_id == user
                    except UnknownUserError:
                        pass
                    counts[1] += 1
                i += 1
        except Exception as exc:  # reported to the parent, which fails the test
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=loop, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    print(f"error {errors[0]}" if errors else f"ok {counts[0]} {counts[1]}", flush=True)


def accepted_fingerprint(worker: int, i: int) -> np.ndarray:
    """The ``i``-th fingerprint a ``remember`` worker keeps (the parent checks for each)."""
    return np.random.default_rng([worker, i]).random(FP_SIZE, dtype=np.float32)


def remember(path: str, key: bytes, worker: int, n: int, start_at: float, behind: bool) -> None:
    with EncryptedStore(path, key) as store:
        guard = ReplayGuard(store=store, recent_per_user=1000, write_behind=behind)
        time.sleep(max(0.0, start_at - time.time()))  # the workers start together
        for i in range(n):
            guard.remember_accepted("alice", None, query_fp=accepted_fingerprint(worker, i))
            if behind:  # one row a background write, not all of them in the final flush
                time.sleep(0.05)
        guard.flush()
    print("ok", flush=True)


if __name__ == "__main__":
    mode, db, key_hex = sys.argv[1:4]
    if mode == "burst":
        burst(db, bytes.fromhex(key_hex), int(sys.argv[4]))
    elif mode == "remember":
        remember(db, bytes.fromhex(key_hex), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]),
                 sys.argv[7:] == ["behind"])
    else:
        mixed(db, bytes.fromhex(key_hex), int(sys.argv[4]), float(sys.argv[5]))
