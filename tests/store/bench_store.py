"""Store and security overhead benchmark (not collected by pytest).

Run: ``PYTHONPATH=. python -m tests.store.bench_store [--ops 300]``. Prints median
latencies of put/get (one Template with 5 references of (200, 30) float64) for
MemoryStore and EncryptedStore, of ``Verifier("dtw").verify_stroke`` through each store
(median and 10th percentile: on a shared machine, preemption inflates medians of
millisecond calls), and of the security checks the Verifier would add per verification.
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
from edgesig.security import ReplayGuard, fingerprint, timing_anomalies
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


if __name__ == "__main__":
    main()
