"""Store and security overhead benchmark (not collected by pytest).

Run: ``PYTHONPATH=. python -m tests.store.bench_store [--ops 300]``. Prints median
latencies of put/get (one Template with 5 references of (200, 30) float64) for
MemoryStore and EncryptedStore, of ``Verifier("dtw").verify_stroke`` through each store
(median and 10th percentile: on a shared machine, preemption inflates medians of
millisecond calls), of the security checks the Verifier would add per verification,
and of ``verify_stroke`` of accepted signatures with the replay memory kept in an
EncryptedStore: not at all, by a synchronous write, and written behind (edgesig serve).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from edgesig.audit import AuditLog
from edgesig.security import ReplayGuard, fingerprint, shared_guard, timing_anomalies
from edgesig.store import MemoryStore
from edgesig.store.base import Template
from edgesig.store.encrypted import EncryptedStore
from edgesig.verifier import Verifier
from tests.conftest import wavy_pen


def median_ms(fn: Callable[[], object], ops: int) -> float:
    times = []
    for _ in range(ops):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=300)
    ops = parser.parse_args().ops
    rng = np.random.default_rng(0)
    template = Template("bench-user", "dtw", "1.0", tuple(rng.normal(size=(200, 30)) for _ in range(5)), {"d": 1.0})
    with tempfile.TemporaryDirectory() as tmp:
        enc = EncryptedStore(Path(tmp) / "bench.db", os.urandom(32), create=True)
        stores = (("MemoryStore", MemoryStore()), ("EncryptedStore", enc),
                  ("EncryptedStore, cache_size=0", EncryptedStore(Path(tmp) / "nocache.db", os.urandom(32), cache_size=0, create=True)))
        for name, store in stores:
            store.put(template)
            put = median_ms(lambda: store.put(template), ops)
            get = median_ms(lambda: store.get("bench-user", "dtw"), ops)
            print(f"{name:29s} put {put:8.3f} ms   get {get:8.3f} ms   (median of {ops})")

        pens = [wavy_pen(seed) for seed in range(5)]
        query = wavy_pen(42)
        verifiers = {"MemoryStore": Verifier("dtw", store=MemoryStore()),
                     "EncryptedStore": Verifier("dtw", store=EncryptedStore(Path(tmp) / "v.db", os.urandom(32), create=True))}
        for v in verifiers.values():
            v.enroll("alice", pens)
            v.verify_stroke("alice", query)  # warm the numba kernels
        samples: dict[str, list[float]] = {k: [] for k in verifiers}
        for _ in range(ops):  # interleaved, so drift hits both alike
            for name, v in verifiers.items():
                start = time.perf_counter()
                v.verify_stroke("alice", query)
                samples[name].append(time.perf_counter() - start)
        med = {k: statistics.median(s) * 1e3 for k, s in samples.items()}
        p10 = {k: float(np.percentile(s, 10)) * 1e3 for k, s in samples.items()}
        for name in verifiers:
            print(f"verify_stroke via {name:15s} median {med[name]:8.3f} ms   p10 {p10[name]:8.3f} ms")
        print(f"EncryptedStore overhead on verify_stroke: median {med['EncryptedStore'] - med['MemoryStore']:+.3f} ms, "
              f"p10 {p10['EncryptedStore'] - p10['MemoryStore']:+.3f} ms (p10 resists preemption on a busy machine)")
        tpl = verifiers["EncryptedStore"].store.get("alice", "dtw")
        print(f"(dtw template: {len(tpl.references)} references of {tpl.references[0].shape}, "
              f"{len(tpl.to_bytes())} bytes)")

        refs = [fingerprint(p).tolist() for p in pens]
        guard = ReplayGuard()
        log = AuditLog(Path(tmp) / "audit.jsonl", key=os.urandom(32))
        print(f"fingerprint            {median_ms(lambda: fingerprint(query), ops):8.3f} ms")
        print(f"timing_anomalies       {median_ms(lambda: timing_anomalies(query), ops):8.3f} ms")
        print(f"ReplayGuard.check      {median_ms(lambda: guard.check('alice', query, refs), ops):8.3f} ms")
        print(f"AuditLog.record (file) {median_ms(lambda: log.record('verify', 'alice', accepted=True, engine='dtw', score=0.9, latency_ms=1.0), ops):8.3f} ms")
        enc.close()
        for gap_s in (0.0, 0.03):
            (Path(tmp) / f"gap{gap_s}").mkdir()
            replay_persistence(Path(tmp) / f"gap{gap_s}", pens, ops, gap_s=gap_s)


def replay_persistence(tmp: Path, pens: list, ops: int, rounds: int = 4, gap_s: float = 0.0) -> None:
    """verify_stroke of distinct signatures with the replay memory kept three ways, back to
    back or ``gap_s`` apart (a service's pace; the gap is not timed). Each
    mode verifies a block of new signatures in turn (blocks, not one call each in turn, so
    one mode's background commits do not share the disk with another's), ``rounds`` times
    so drift hits them alike; the latencies are those of the accepted signatures, the
    calls that write the replay memory."""
    modes = {"not kept": {}, "synchronous": {"persist": True}, "write-behind": {"persist": True, "write_behind": True}}
    verifiers = {}
    for i, (name, how) in enumerate(modes.items()):
        store = EncryptedStore(tmp / f"replay{i}.db", os.urandom(32), create=True)
        verifiers[name] = Verifier("dtw", store, replay_guard=shared_guard(store, **how))
        verifiers[name].enroll("alice", pens)
        verifiers[name].verify_stroke("alice", wavy_pen(99))  # warm
    samples: dict[str, list[float]] = {k: [] for k in verifiers}
    block = max(1, ops // rounds)
    for r in range(rounds):
        queries = [wavy_pen(seed) for seed in range(1000 + r * block, 1000 + (r + 1) * block)]
        for name, v in verifiers.items():
            for query in queries:
                start = time.perf_counter()
                accepted = v.verify_stroke("alice", query).accepted
                if accepted:
                    samples[name].append(time.perf_counter() - start)
                time.sleep(gap_s)
            v.replay_guard.flush()  # the block's writes end before the next mode's block
    for name, v in verifiers.items():
        print(f"verify_stroke {gap_s * 1e3:3.0f} ms apart, replay memory {name:12s} median {statistics.median(samples[name]) * 1e3:8.3f} ms   "
              f"p10 {float(np.percentile(samples[name], 10)) * 1e3:8.3f} ms   "
              f"p90 {float(np.percentile(samples[name], 90)) * 1e3:8.3f} ms   "
              f"({len(samples[name])} accepted of {block * rounds})")
        v.store.close()


if __name__ == "__main__":
    main()
