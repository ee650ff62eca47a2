"""Online verification latency: ``Verifier.verify_stroke`` against 5 enrolled references.

This is the figure the product promise is about ("well under 10 ms per pair"), timed
through the public facade so it includes everything a POS call pays: input checks,
feature extraction, the model (if any), DTW to every reference and the decision.
"""
from __future__ import annotations

import itertools
import threading
import time

import numpy as np

from edgesig.bench.context import NUMBA_NOTE, Context, engine_threads, installed_engines
from edgesig.bench.inputs import PenSet, cycle, pen_set
from edgesig.bench.record import Row, Section, Value
from edgesig.bench.timing import measure, measure_staged
from edgesig.errors import EdgesigError

USER = "bench-user"
#: The slowest pad in common use (SVC2004's): nothing to thin, so the most work per point.
SLOW_PAD_HZ = 100.0
#: A typical POS pad's rate, at which the streaming row replays its signatures.
STREAM_PAD_HZ = 200.0
#: The README's two latency promises, timed in every run (quick too) for the engine
#: ``auto`` picks: verify_stroke on 500 points from a 100 Hz pad, and a 1,000-point
#: signature streamed at 200 Hz from pen-up to result.
HEADLINE_SLOW_PAD_POINTS = 500
HEADLINE_STREAM_POINTS = 1000


def run(ctx: Context) -> Section:
    section = Section("online", "Online verify (verify_stroke, 5 references)")
    entries = installed_engines(ctx, "pen")
    if not entries:
        section.skipped = "no pen engine is installed in the model manifest"
        return section
    for entry in entries:
        for n in ctx.lengths:
            for threads in engine_threads(ctx, entry):
                try:
                    section.rows.extend(_engine_rows(ctx, entry.name, n, threads))
                    if threads in (None, 1):
                        section.notes.append(_decisions(ctx, entry.name, n))
                except EdgesigError as exc:
                    section.notes.append(f"{entry.name} ({n} points): skipped: {exc}")
                    break
    if ctx.quick:
        section.rows.extend(_headline_rows(ctx, entries))
    best = _fastest_single(section)
    if best is not None and not ctx.quick:
        section.values.append(_concurrent_throughput(ctx, best))
    section.notes.append(NUMBA_NOTE)
    return section


def _verifier(ctx: Context, engine: str, n: int, threads: int | None, pens: PenSet | None = None):
    from edgesig.verifier import Verifier
    verifier = Verifier(engine, models_dir=ctx.models_dir, threads=threads or 1)
    verifier.enroll(USER, list((pens or pen_set(n, ctx.seed)).references))
    return verifier


def _engine_rows(ctx: Context, engine: str, n: int, threads: int | None) -> list[Row]:
    verifier = _verifier(ctx, engine, n, threads)
    pens = pen_set(n, ctx.seed)
    rows = [_verify_row(ctx, engine, verifier, pens, threads, "verify")]
    if threads in (None, 1) and not ctx.quick:  # quick: only the headline rows (_headline_rows)
        rows += [_slow_pad_row(ctx, engine, n, threads), _stream_row(ctx, engine, n, threads)]
    if not ctx.quick:  # enrolment is rarer and slower; the full run times it
        enroll_t = measure(lambda: verifier.enroll(USER, list(pens.references)), ctx.effort.lighter())
        rows.append(Row.of(f"enroll {engine}, 5 x {n} pts", enroll_t, threads, _params(engine, pens),
                           f"online.{engine}.enroll.n{n}.t{_tag(threads)}"))
    return rows


def _headline_rows(ctx: Context, entries: list) -> list[Row]:
    """The README's two latency targets for the engine ``auto`` picks (quick mode, where
    the per-length rows of every engine are left out to fit in a minute)."""
    from edgesig.engines import best_engine
    best = best_engine(ctx.manifest(), "pen")
    entry = next(e for e in entries if e.name == best)
    threads = engine_threads(ctx, entry)[0]
    return [_slow_pad_row(ctx, entry.name, HEADLINE_SLOW_PAD_POINTS, threads),
            _stream_row(ctx, entry.name, HEADLINE_STREAM_POINTS, threads)]


def _slow_pad_row(ctx: Context, engine: str, n: int, threads: int | None) -> Row:
    """verify_stroke on pens from the slowest pad (nothing to thin: the most work per point)."""
    slow = pen_set(n, ctx.seed, SLOW_PAD_HZ)
    return _verify_row(ctx, engine, _verifier(ctx, engine, n, threads, slow), slow, threads,
                       f"verify_at{SLOW_PAD_HZ:.0f}")


def _verify_row(ctx: Context, engine: str, verifier, pens: PenSet, threads: int | None, kind: str) -> Row:
    """verify_stroke over the pool's queries. The row names the rate: an engine that thins
    pens to a common rate does less work on a fast pad."""
    timed = measure(cycle(lambda q: verifier.verify_stroke(USER, q), pens.queries), ctx.effort)
    params = _params(engine, pens)
    return Row.of(f"verify_stroke {engine}, {pens.n} pts @ {params['sample_rate_hz']} Hz", timed, threads, params,
                  f"online.{engine}.{kind}.n{pens.n}.t{_tag(threads)}")


def _tag(threads: int | None) -> str:
    return "-" if threads is None else str(threads)


def _params(engine: str, pens: PenSet) -> dict[str, object]:
    """Row parameters, with the queries' measured sample rate (median interval)."""
    rate = 1000.0 / float(np.median([np.median(np.diff(q.t)) for q in pens.queries]))
    return {"engine": engine, "points": pens.n, "references": len(pens.references), "sample_rate_hz": round(rate)}


def _stream_row(ctx: Context, engine: str, n: int, threads: int | None) -> Row:
    """A streaming Session fed all ``n`` points (untimed); timed: pen-up to result (``done()``)."""
    from edgesig.capture import Session, stream_points
    pens = pen_set(n, ctx.seed, STREAM_PAD_HZ)
    verifier = _verifier(ctx, engine, n, threads, pens)
    queries = itertools.cycle(pens.queries)

    def signed() -> Session:
        query = next(queries)
        session = Session(verifier, USER, device=query.device)
        for point in stream_points(query):
            session.add_point(*point)
        return session

    timed = measure_staged(signed, lambda session: session.done(), ctx.effort)
    params = _params(engine, pens)
    return Row.of(f"stream pen-up -> result {engine}, {n} pts @ {params['sample_rate_hz']} Hz", timed, threads,
                  params, f"online.{engine}.stream.n{n}.t{_tag(threads)}")


def _decisions(ctx: Context, engine: str, n: int) -> str:
    """What the timed calls decided, so a fast path (e.g. a replay refusal) cannot hide."""
    verifier = _verifier(ctx, engine, n, 1)
    pens = pen_set(n, ctx.seed)
    results = [verifier.verify_stroke(USER, q) for q in pens.queries]
    gen = [r.accepted for r, g in zip(results, pens.genuine) if g]
    forged = [r.accepted for r, g in zip(results, pens.genuine) if not g]
    reasons = sorted({r for res in results for r in res.reasons if not r.startswith("score ")})
    return (f"{engine}, {n} pts: query pool decisions: genuine accepted {sum(gen)}/{len(gen)}, "
            f"skilled forgeries accepted {sum(forged)}/{len(forged)}"
            + (f"; other reasons seen: {'; '.join(reasons)}" if reasons else ""))


def _fastest_single(section: Section) -> Row | None:
    """The verify row with the lowest p50 among single-thread (or thread-less) rows at the longest input."""
    rows = [r for r in section.rows if ".verify." in r.key and r.threads in (None, 1)]
    if not rows:
        return None
    longest = max(r.params["points"] for r in rows)
    return min((r for r in rows if r.params["points"] == longest), key=lambda r: r.stats.p50)


def _concurrent_throughput(ctx: Context, row: Row, callers: int = 2) -> Value:
    """Verifications per second with ``callers`` threads sharing one Verifier (nogil kernels)."""
    engine, n = row.params["engine"], row.params["points"]
    verifier = _verifier(ctx, engine, n, row.threads)
    queries = pen_set(n, ctx.seed).queries
    calls = max(20, int(row.stats.per_second * (0.5 if ctx.quick else 3.0)))
    barrier = threading.Barrier(callers + 1)

    def worker(offset: int) -> None:
        barrier.wait()
        for k in range(calls):
            verifier.verify_stroke(USER, queries[(k + offset) % len(queries)])

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(callers)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    rate = callers * calls / (time.perf_counter() - start)
    return Value(f"verify_stroke {engine}, {n} pts: throughput with {callers} concurrent callers",
                 float(np.round(rate, 1)), "calls/s", key=f"online.{engine}.concurrent{callers}.n{n}")
