"""Template store overhead: ``verify_stroke`` through the EncryptedStore vs the MemoryStore.

The encrypted store decrypts and authenticates the template on every ``get``; the
promise is that this costs under half a millisecond per verification. Both verifiers
share the engine and the inputs and are timed interleaved, so the difference is the
store's alone. ``get`` and ``put`` are also timed bare.
"""
from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

import numpy as np

from edgesig.bench.context import Context, installed_engines, optional_attr
from edgesig.bench.inputs import cycle, pen_set
from edgesig.bench.record import Row, Section, Value
from edgesig.bench.timing import interleaved

USER = "bench-user"


def run(ctx: Context) -> Section:
    section = Section("store", "Template store overhead (EncryptedStore vs MemoryStore)")
    encrypted_store = optional_attr("edgesig.store.encrypted", "EncryptedStore")
    if encrypted_store is None:
        section.skipped = "edgesig.store.encrypted.EncryptedStore is not installed"
        return section
    if not installed_engines(ctx, "pen"):
        section.skipped = "no pen engine is installed in the model manifest"
        return section
    from edgesig.engines import best_engine
    from edgesig.store import MemoryStore
    from edgesig.verifier import Verifier
    engine = best_engine(ctx.manifest(), "pen")
    n = min(ctx.lengths)  # the overhead does not depend on the signature; shorter = less noise
    pens = pen_set(n, ctx.seed)
    with tempfile.TemporaryDirectory(prefix="edgesig-bench-store-") as tmp:
        stores = {"memory": MemoryStore(), "encrypted": encrypted_store(Path(tmp) / "templates.db",
                                                                        secrets.token_bytes(32), create=True)}
        try:
            verifiers = {k: Verifier(engine, s, models_dir=ctx.models_dir) for k, s in stores.items()}
            for v in verifiers.values():
                v.enroll(USER, list(pens.references))
            _time(ctx, section, verifiers, stores, pens.queries, engine, n)
        finally:
            stores["encrypted"].close()
    return section


def _time(ctx: Context, section: Section, verifiers: dict, stores: dict, queries: tuple, engine: str,
          n: int) -> None:
    calls = {k: cycle(lambda q, v=v: v.verify_stroke(USER, q), queries) for k, v in verifiers.items()}
    verify_t = interleaved(calls, ctx.effort.scaled(3.0))
    get_t = interleaved({k: (lambda s=s: s.get(USER, engine)) for k, s in stores.items()}, ctx.effort)
    template = stores["memory"].get(USER, engine)
    put_t = interleaved({k: (lambda s=s: s.put(template)) for k, s in stores.items()}, ctx.effort.lighter())
    for op, samples in (("verify_stroke", verify_t), ("get", get_t), ("put", put_t)):
        for kind, t in samples.items():
            label = f"{op} via {kind} store" + (f" ({engine}, {n} pts)" if op == "verify_stroke" else "")
            section.rows.append(Row.of(label, t, None, {"store": kind, "engine": engine}, f"store.{op}.{kind}"))
    for what, clock, key in (("CPU time", "cpu", "store.verify_overhead_ms"),
                             ("wall clock", "wall", "store.verify_overhead_wall_ms")):
        diff = float(np.median(getattr(verify_t["encrypted"], clock)) - np.median(getattr(verify_t["memory"], clock)))
        section.values.append(Value(f"verify_stroke p50 overhead of EncryptedStore over MemoryStore ({what})",
                                    round(diff, 4), "ms", key=key))
    get_diff = float(np.median(get_t["encrypted"].wall) - np.median(get_t["memory"].wall))
    section.values.append(Value("get p50 overhead of EncryptedStore over MemoryStore (wall clock)",
                                round(get_diff, 4), "ms", key="store.get_overhead_ms"))
    section.notes.append("the verify overhead is a difference of two medians of much longer calls; on a "
                         "busy machine the wall-clock one is noisy (preemption), the CPU-time one is not. "
                         "The bare get difference is the same cost measured alone "
                         "(verify = get + identical engine work)")
