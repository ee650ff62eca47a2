"""Does impostor-cohort score normalisation (Z-norm at enrolment) help the DTW decision?

The learned decision sees a query's distances to the references over the references' own
spread (``ReferenceStats``), and one global threshold must fit every writer. Z-norm adds
what other people's signatures look like from each reference: at enrolment each
reference is compared with a small fixed cohort of background signatures (training
writers only), and the query's distances are expressed in units of that impostor
distribution. The verification runs no extra DTW; the enrolment runs references ×
cohort more.

Measured without touching the engine: every writer of the variant's sets is scored once
by the installed entry (the protocol's loop, ``protocol_rows``: the entry's named terms
plus the five raw distances), and each reference of every writer is compared with one
signature (its first reference) of every writer of those sets, the genuine-only MCYT
writers included. A cohort is then a choice of columns: ``--size`` signatures drawn
(seeded) evenly from the sets' training writers of the fold (for leave-one-dataset-out,
of the other sets only), a writer's own signature left out of their own cohort. The terms
added per query (``q`` the distances to the references, ``D`` the references × cohort
distances):

- ``cohort.min``, ``cohort.mean``: (min q − mean D) / std D, (mean q − mean D) / std D;
- ``cohort.zmin``, ``cohort.zmean``: min and mean over references of (q_i − mean D_i) / std D_i;
- ``cohort_log.min``, ``cohort_log.mean``: log(min q / mean D), log(mean q / mean D);
- ``cohort_log.near``: log(min q / the references' mean distance to their nearest impostor);
- ``cohort_near.*``: the ``cohort.*`` and ``cohort_log`` min / mean terms over each
  reference's ``NEAR`` nearest cohort signatures only (an adaptive cohort: the whole cohort
  mixes pads, and a reference lies farther from other pads' signatures than from its own's).

The shipped grid (``edgesig.eval.combiner.default_grid``) against the same grid plus six
family sets with the cohort terms on top and one with them in place of the reference
normalisation (``COHORT_SETS``), both chosen by the shipped rule
(``choose_combiner(select="lodo")``, the left-out criterion and ``earned``); the
validation figures decide, then four-fold test means and leave-one-dataset-out
(``benchmarks.online_combiner.run``) are reported.

    PYTHONPATH=. python benchmarks/online_cohort.py --variant dtw --size 48 --size 24 --time-enrol \
        --out build/online/cohort_dtw.json
    PYTHONPATH=. python benchmarks/online_cohort.py --variant dtw-nopressure --size 48 --size 24 --time-enrol \
        --out build/online/cohort_dtw-nopressure.json
"""
from __future__ import annotations

import json
import pickle
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from benchmarks.online_combiner import VARIANTS, Decide, run, table
from edgesig.capture import load_pen
from edgesig.decision import ReferenceStats
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.combiner import L2, CombinerChoice, Selection, TermRows, choose_combiner, default_grid
from edgesig.eval.datasets import FOLDS, REFERENCES, split, writers
from edgesig.eval.protocols import load_set, protocol_rows
from edgesig.runtime import Manifest

#: Families of the cohort terms (prefixes of their names).
COHORT_FAMILIES = {"cohort": "cohort.", "cohort_log": "cohort_log.", "cohort_near": "cohort_near."}
#: Family sets tried on top of the shipped grid's.
COHORT_SETS = (("all", "global", "signed", "cohort"), ("all", "global", "signed", "cohort_log"),
               ("pair", "global", "signed", "cohort"), ("all", "global", "signed", "cohort", "cohort_log"),
               ("cohort", "global", "signed"), ("all", "global", "signed", "cohort_near"),
               ("pair", "global", "signed", "cohort_near"))
#: How many of each reference's nearest cohort signatures the ``cohort_near`` terms use.
NEAR = 10
#: Names of the cohort terms, in ``cohort_terms``'s order.
COHORT_TERMS = ("cohort.min", "cohort.mean", "cohort.zmin", "cohort.zmean", "cohort_log.min", "cohort_log.mean",
                "cohort_log.near", "cohort_near.min", "cohort_near.mean", "cohort_near.zmin", "cohort_near.zmean",
                "cohort_near.log_min", "cohort_near.log_mean")
DIST = tuple(f"dist.{i}" for i in range(REFERENCES))
Key = tuple[str, int]


@dataclass(frozen=True)
class CohortChoice(CombinerChoice):
    """A grid point whose families may name the cohort terms."""

    def terms(self, names: Sequence[str]) -> tuple[str, ...]:
        out: list[str] = []
        for family in self.families:
            if family in COHORT_FAMILIES:
                out += [n for n in names if n.startswith(COHORT_FAMILIES[family])]
            else:
                out += CombinerChoice((family,), self.log, self.l2).terms(names)
        return tuple(out)


def grid(cohort: bool) -> list[CombinerChoice]:
    """The shipped grid, and with ``cohort`` the cohort family sets after it."""
    more = [CohortChoice(f, log, l2) for f in COHORT_SETS for log in (False, True) for l2 in L2] if cohort else []
    return [*default_grid(), *more]


@dataclass
class Scored:
    """One variant's writers: term rows with the raw distances, and each writer's
    references × pool distances (``pool``: the (set, writer) of every column)."""

    rows: dict[str, TermRows]
    pool: list[Key]
    to_pool: dict[Key, np.ndarray]


def score(engine: DtwEngine, sets: Sequence[str]) -> Scored:
    """The DTW work, done once: protocol rows, and every reference against every pool signature."""
    def decide(distances: np.ndarray, stats: ReferenceStats, query: np.ndarray,
               refs: Sequence[np.ndarray]) -> np.ndarray:
        values = engine.term_values(distances, stats, query, refs)
        names[:] = names or list(values)
        return np.array([*(values[n] for n in names), *distances])
    rows, refs, names = {}, {}, []
    for s in sets:
        users = [u for p in ("train", "val", "test") for u in load_set(s, p)]
        rows[s] = TermRows((), protocol_rows(users, engine.prepare, engine.distances, decide))
        refs.update({(s, u.user): [engine.prepare(p) for p in u.genuine[:REFERENCES]] for u in users})
        click.echo(f"{engine.name} {s}: {len(users)} writers scored", err=True)
    rows = {s: replace(r, names=(*names, *DIST)) for s, r in rows.items()}
    pool_keys = [(s, int(w.writer)) for s in sets for w in writers(s)]
    pool_arrays = [engine.prepare(load_pen(w.references[0].path)) for s in sets for w in writers(s)]
    start = time.perf_counter()
    to_pool = {k: np.stack([engine.distances(r, pool_arrays) for r in ref]) for k, ref in refs.items()}
    click.echo(f"{engine.name}: {sum(v.size for v in to_pool.values())} reference-pool DTWs in "
               f"{time.perf_counter() - start:.0f} s", err=True)
    return Scored(rows, pool_keys, to_pool)


def cohort(pool: list[Key], sets: Sequence[str], fold: int, size: int, seed: int = 0) -> list[int]:
    """Pool columns of a cohort: ``size`` signatures drawn evenly from ``sets``' training writers of ``fold``."""
    per_set = size // len(sets)
    out: list[int] = []
    for s in sets:
        rng = np.random.default_rng([seed, fold, zlib.crc32(s.encode())])
        train = {int(w) for w in split(s, "train", fold)}
        cols = [i for i, (name, w) in enumerate(pool) if name == s and w in train]
        out += sorted(rng.choice(cols, size=min(per_set, len(cols)), replace=False).tolist())
    return out


def cohort_terms(q: np.ndarray, d: np.ndarray) -> list[np.ndarray]:
    """The ``COHORT_TERMS`` of queries ``q`` (queries × references) against ``d`` (references × cohort):
    over the whole cohort, then over each reference's ``NEAR`` nearest members (an adaptive
    cohort: mostly signatures from the reference's own pad, where the whole cohort mixes pads)."""
    qmin, qmean = q.min(axis=1), q.mean(axis=1)
    near = np.sort(d, axis=1)[:, :NEAR]
    out = []
    for impostors in (d, near):
        mu, sd = impostors.mean(), impostors.std() + 1e-9
        z = (q - impostors.mean(axis=1)) / (impostors.std(axis=1) + 1e-9)
        out += [(qmin - mu) / sd, (qmean - mu) / sd, z.min(axis=1), z.mean(axis=1), np.log(qmin / mu),
                np.log(qmean / mu)]
        if impostors is d:
            out.append(np.log(qmin / d.min(axis=1).mean()))
    return out


def with_cohort(scored: Scored, members: list[int]) -> dict[str, TermRows]:
    """Every set's rows with the cohort terms of ``members`` appended (a writer's own signature left out)."""
    out = {}
    for s, rows in scored.rows.items():
        dist = [rows.names.index(n) for n in DIST]
        users = []
        for u in rows.users:
            cols = [c for c in members if scored.pool[c] != (s, u.user)]
            d = scored.to_pool[(s, u.user)][:, cols]

            def extend(r: np.ndarray) -> np.ndarray:
                return np.column_stack([r, *cohort_terms(r[:, dist], d)])
            users.append(replace(u, genuine=extend(u.genuine), forgery=extend(u.forgery)))
        out[s] = TermRows((*rows.names, *COHORT_TERMS), users)
    return out


def evaluate(scored: Scored, sets: tuple[str, ...], size: int) -> dict[str, Any]:
    """Both grids on every fold (cohort from the fold's training writers) and left out of
    each set (cohort, decision and threshold from the other sets)."""
    folds = [with_cohort(scored, cohort(scored.pool, sets, k, size)) for k in range(FOLDS)]
    result: dict[str, Any] = {}
    for rule, cohort_on in (("shipped grid", False), ("with cohort", True)):
        records: list[dict[str, Any]] = []
        decide = recorded(records, grid(cohort_on))
        res = {"folds": [run(folds[k], k, decide, sets, sets) for k in range(FOLDS)], "chosen": records[:FOLDS],
               "leave_one_out": {}}
        for s in sets:
            others = tuple(x for x in sets if x != s)
            rows = with_cohort(scored, cohort(scored.pool, others, 0, size))
            res["leave_one_out"][s] = run(rows, 0, decide, others, (s,))
        result[rule] = res
    return result


def recorded(records: list[dict[str, Any]], choices: list[CombinerChoice] | None = None) -> Decide:
    """The decision as shipped (``choose_combiner(select="lodo")`` on ``choices``, default: the
    shipped grid) for ``run``, each chosen grid point's record appended to ``records``."""
    def decide(train: dict[str, TermRows], val: dict[str, TermRows]) -> Any:
        chosen = choose_combiner(train, val, choices, select="lodo")
        records.append(chosen_record(chosen, next(iter(train.values())).names))
        return chosen.combiner
    return decide


def chosen_record(selection: Selection, names: Sequence[str]) -> dict[str, Any]:
    """The chosen grid point's trial record (its left-out validation figures per set)."""
    return next(t for t in selection.trials if t["mean_left_out_val_eer"] == selection.criterion and CohortChoice(
        tuple(t["families"]), t["log"], t["l2"]).terms(names) == selection.combiner.terms)


def enrol_cost(members: list[Key], repeats: int = 15) -> dict[str, float]:
    """Milliseconds (median) of today's ``Verifier.enroll`` on the bench's five 1000-point
    references (a pressure pen: ``dtw`` and ``dtw-nopressure`` templates), and of the DTWs a
    cohort of ``members`` would add (each reference against each member, both variants),
    timed alternately in one process."""
    from edgesig.bench.inputs import pen_set
    from edgesig.verifier import Verifier
    paths = {(s, int(w.writer)): w.references[0].path for s in {k[0] for k in members} for w in writers(s)}
    pens = list(pen_set(1000, 0).references)
    verifier = Verifier("dtw")
    engines = [verifier.engine(v) for v in VARIANTS]
    work = [(e, [e.prepare(p) for p in pens], [e.prepare(load_pen(paths[k])) for k in members]) for e in engines]

    def cohort_dtws() -> None:
        for engine, refs, cohort_arrays in work:
            for r in refs:
                engine.distances(r, cohort_arrays)
    times: dict[str, list[float]] = {"enroll": [], "cohort": []}
    for _ in range(repeats):
        for name, call in (("enroll", lambda: verifier.enroll("bench-user", pens)), ("cohort", cohort_dtws)):
            start = time.perf_counter()
            call()
            times[name].append(1e3 * (time.perf_counter() - start))
    return {**{name: float(np.median(t)) for name, t in times.items()},
            **{f"{e.name}_cohort_bytes": float(sum(a.nbytes for a in arrays)) for e, _, arrays in work}}


def pad_table(scored: Scored, nearest: int = NEAR) -> list[str]:
    """Markdown: per set, its references' median distance to each pad's pool signatures, and
    the share of a reference's ``nearest`` pool signatures from its own pad (no labels used:
    why a cohort mixing pads may measure the pad more than the writer)."""
    sets = list(scored.rows)
    pads = np.array([s for s, _ in scored.pool])
    out = ["\nreferences of | median distance to the pool signatures of " + " / ".join(sets)
           + f" | own pad among the {nearest} nearest", "|---|---|---|"]
    for s in sets:
        d = [v for (name, _), v in scored.to_pool.items() if name == s]
        medians = " / ".join(f"{np.mean([np.median(x[:, pads == t]) for x in d]):.2f}" for t in sets)
        own = np.mean([np.mean(pads[np.argsort(x.mean(axis=0))[:nearest]] == s) for x in d])
        out.append(f"| {s} | {medians} | {own:.2f} |")
    return out


def summary(variant: str, result: dict[str, Any], sets: tuple[str, ...]) -> list[str]:
    """Markdown: validation per fold (criterion, per set, mean), the cohort grid's wins and
    losses per set-fold against the shipped grid on validation; then test means and left out
    (with the ratio to the same rule's fold-0 in-domain test EER)."""
    out = [f"\n{variant}: fold | rule | criterion (mean left-out val EER) | left-out val per set | "
           "in-domain val per set (mean) | chosen terms with cohort", "|---|---|---|---|---|---|"]
    for k in range(FOLDS):
        for rule, res in result.items():
            fold = res["folds"][k]
            lo = res["chosen"][k]["left_out"]
            inval = " / ".join(f"{100 * fold['per_set'][s]['val_eer']:.2f}" for s in sets)
            chosen = [t for t in fold["decision"]["terms"] if t.startswith("cohort")]
            out.append(f"| {k} | {rule} | {100 * res['chosen'][k]['mean_left_out_val_eer']:.2f} | "
                       + " / ".join(f"{100 * lo[s]['eer']:.2f}" for s in sets)
                       + f" | {inval} ({100 * fold['mean_val_eer']:.2f}) | {', '.join(chosen) or '-'} |")
    base, new = (result[r] for r in ("shipped grid", "with cohort"))
    for what, get in (("left-out", lambda res, k, s: res["chosen"][k]["left_out"][s]["eer"]),
                      ("in-domain", lambda res, k, s: res["folds"][k]["per_set"][s]["val_eer"])):
        diffs = {s: [np.sign(round(get(new, k, s) - get(base, k, s), 12)) for k in range(FOLDS)] for s in sets}
        out.append(f"{what} validation, with cohort against the shipped grid, better / worse / tied set-folds: "
                   + "; ".join(f"{s} {d.count(-1)} / {d.count(1)} / {d.count(0)}" for s, d in diffs.items()))
    out += [f"\n{variant}: rule | test EER mean of four folds per set | left out: test EER (FAR / FRR), ratio",
            "|---|---|---|"]
    for rule, res in result.items():
        means = " / ".join(f"{100 * np.mean([f['per_set'][s]['test_eer'] for f in res['folds']]):.2f}" for s in sets)
        lodo = " / ".join(f"{100 * f['test_eer']:.2f} ({100 * f['test_far']:.2f} / {100 * f['test_frr']:.2f}), "
                          f"{f['test_eer'] / res['folds'][0]['per_set'][s]['test_eer']:.2f}"
                          for s in sets for f in [res["leave_one_out"][s]["per_set"][s]])
        out.append(f"| {rule} | {means} | {lodo} |")
    return out


@click.command()
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="dtw", show_default=True)
@click.option("--size", "sizes", multiple=True, type=int, default=(48,), show_default=True,
              help="cohort size(s), drawn evenly from the sets' training writers")
@click.option("--cache", default="build/online/cohort", show_default=True,
              help="folder for the scored rows and reference-pool distances (the DTW work)")
@click.option("--out", default="build/online/cohort.json", show_default=True)
@click.option("--time-enrol", is_flag=True, help="also time today's enrolment against the cohort's added DTWs")
def main(variant: str, sizes: tuple[int, ...], cache: str, out: str, time_enrol: bool) -> None:
    sets = VARIANTS[variant]
    entry = Manifest().get(variant)
    path = Path(cache) / f"{variant}-{entry.version}.pkl"
    if path.exists():
        scored = pickle.loads(path.read_bytes())
    else:
        scored = score(DtwEngine(entry), sets)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(scored))
    for line in pad_table(scored):
        click.echo(line)
    result = {}
    for size in sizes:
        result[size] = evaluate(scored, sets, size)
        click.echo(f"\n## cohort of {size}")
        for line in summary(variant, result[size], sets) + table(variant, result[size]):
            click.echo(line)
    if time_enrol:
        members = [scored.pool[c] for c in cohort(scored.pool, sets, 0, sizes[0])]
        result["enrol_ms"] = enrol_cost(members)
        click.echo(f"enrolment, 5 x 1000 points, median ms: today {result['enrol_ms']['enroll']:.1f}, "
                   f"the {len(members)}-signature cohort's DTWs (both variants) {result['enrol_ms']['cohort']:.1f}; "
                   "cohort arrays " + ", ".join(f"{k} {v / 1e3:.0f} kB" for k, v in result["enrol_ms"].items()
                                                if k.endswith("bytes")))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"variant": variant, "version": entry.version, "sets": sets,
                                     "result": result}, indent=1))


if __name__ == "__main__":
    main()
