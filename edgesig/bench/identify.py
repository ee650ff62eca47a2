"""Writer identification: embedding one query, and the search among 1,000 enrolled users.

A kiosk identifies the account from the signature before verifying it, so this runs
before every verification there; the target is ≤ 20 ms for 1,000 users (issue 10).
The gallery is random unit-variance embeddings of the installed embedder's dimension:
search time depends on the number of rows and their size, not on their values.
"""
from __future__ import annotations

import numpy as np

from edgesig.bench.context import Context, optional_attr
from edgesig.bench.inputs import N_REFERENCES, cycle, images, pen_set
from edgesig.bench.record import Row, Section
from edgesig.bench.timing import measure
from edgesig.errors import EdgesigError

GALLERY_USERS = (1000,)
DEFAULT_DIM = 256


def run(ctx: Context) -> Section:
    section = Section("identify", "Writer identification (embed one query; search the enrolled gallery)")
    identifier = optional_attr("edgesig.identify", "Identifier")
    if identifier is None:
        section.skipped = "edgesig.identify is not installed"
        return section
    from edgesig.identify import load_identification
    dims = {}
    for modality in ("pen", "image"):
        try:
            embedder, _ = load_identification(modality, ctx.manifest())
        except EdgesigError as exc:
            section.notes.append(f"{modality} embedding: skipped: {exc}")
            continue
        samples = pen_set(max(ctx.lengths), ctx.seed).queries if modality == "pen" else images(ctx.seed)
        dims[modality] = int(embedder.embed(samples[0]).size)
        timed = measure(cycle(embedder.embed, samples), ctx.effort.lighter())
        section.rows.append(Row.of(f"embed one {modality} query ({embedder.source}, {dims[modality]} dims)",
                                   timed, None, {"source": embedder.source, "dim": dims[modality]},
                                   f"identify.embed.{modality}"))
    for dim in sorted(set(dims.values()) or {DEFAULT_DIM}):
        for users in GALLERY_USERS:
            section.rows.append(_search_row(ctx, identifier, users, dim))
    return section


def _search_row(ctx: Context, identifier_cls, users: int, dim: int) -> Row:
    rng = np.random.default_rng(ctx.seed)
    ident = identifier_cls(threshold=0.0)
    for u in range(users):
        ident.add(f"user{u:05d}", rng.standard_normal((N_REFERENCES, dim)).astype(np.float32))
    queries = list(rng.standard_normal((64, dim)).astype(np.float32))
    ident.identify(queries[0])  # the index is built once after enrolment, not per query
    timed = measure(cycle(lambda q: ident.identify(q, top_k=5), queries), ctx.effort)
    return Row.of(f"identify among {users} users ({N_REFERENCES} x {dim} embeddings, top 5)", timed, None,
                  {"users": users, "refs": N_REFERENCES, "dim": dim}, f"identify.search.u{users}.d{dim}")
