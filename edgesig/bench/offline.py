"""Offline verification latency: ``Verifier.verify_image`` against 5 enrolled images, and
one model pair (a prepared query against one prepared reference).

The offline issues state their targets per pair (SDINet ≤ 5 ms, cross-writer ≤ 8 ms,
flow ≤ 20 ms) and per full verify (≤ 40 ms with preprocessing), so both are timed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from edgesig.bench.context import NUMBA_NOTE, Context, engine_threads, installed_engines
from edgesig.bench.inputs import N_REFERENCES, cycle, images
from edgesig.bench.record import Row, Section
from edgesig.bench.timing import measure
from edgesig.errors import EdgesigError

if TYPE_CHECKING:
    from edgesig.verifier import Verifier

USER = "bench-user"


def run(ctx: Context) -> Section:
    section = Section("offline", "Offline verify (verify_image, 5 references; one model pair)")
    from edgesig.verifier import Verifier
    if not hasattr(Verifier, "verify_image"):
        section.skipped = "this edgesig has no Verifier.verify_image"
        return section
    entries = installed_engines(ctx, "image")
    if not entries:
        section.skipped = "no image engine (sdinet, crosswriter, flow, ...) is installed in the model manifest"
        return section
    for entry in entries:
        for threads in engine_threads(ctx, entry):
            try:
                section.rows.extend(_engine_rows(ctx, entry.name, threads))
            except EdgesigError as exc:
                section.notes.append(f"{entry.name}: skipped: {exc}")
                break
    section.notes.append(NUMBA_NOTE)
    return section


def _enrol(verifier: "Verifier", imgs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Enrol USER with N_REFERENCES references the engine's consistency check keeps, so the
    timing is against the 5 references the latency targets name: a reference it drops is
    replaced by a genuine query (``image_set``'s queries alternate genuine and forgery from
    the first). Returns the queries left."""
    refs, queries = list(imgs[:N_REFERENCES]), list(imgs[N_REFERENCES:])
    spares = queries[0::2]
    kept = verifier.enroll_images(USER, refs).kept
    while len(kept) < N_REFERENCES and spares:
        taken, spares = spares[:N_REFERENCES - len(kept)], spares[N_REFERENCES - len(kept):]
        refs = [refs[i] for i in kept] + taken
        queries = [q for q in queries if all(q is not t for t in taken)]
        kept = verifier.enroll_images(USER, refs).kept
    return queries


def _engine_rows(ctx: Context, engine_name: str, threads: int | None) -> list[Row]:
    from edgesig.verifier import Verifier
    imgs = images(ctx.seed)
    verifier = Verifier(image_engine=engine_name, models_dir=ctx.models_dir, threads=threads or 1)
    queries = _enrol(verifier, imgs)
    engine = verifier.engine(engine_name)
    template = verifier.store.get(USER, engine_name)
    prepared = [engine.prepare(q) for q in queries]
    verify = cycle(lambda q: verifier.verify_image(USER, q), queries)
    pair = cycle(lambda q: engine.distances(q, template.references[:1]), prepared)

    tag = "-" if threads is None else threads
    h, w = imgs[0].shape[:2]
    params = {"engine": engine_name, "image": [h, w], "references": len(template.references)}
    verify_t = measure(verify, ctx.effort.lighter())
    pair_t = measure(pair, ctx.effort)
    return [Row.of(f"verify_image {engine_name} (prepare + {len(template.references)} refs)", verify_t,
                   threads, params, f"offline.{engine_name}.verify.t{tag}"),
            Row.of(f"{engine_name} pair (prepared query vs 1 ref)", pair_t, threads, params,
                   f"offline.{engine_name}.pair.t{tag}")]
