"""What should the DTW entries' learned decision learn from?

The decision (``edgesig.eval.combiner``) is fitted on one row per genuine test and skilled
forgery of each training writer, scored against that writer's protocol references (the
first five genuine). This benchmark changes only what the fit sees; the engines, the
grid, the choice (``choose_combiner(select="lodo")``, ``earned``), the threshold and the
validation and test rows are the shipped ones.

Every writer of the variant's sets is scored once as a matrix: each of its signatures
(genuine and forged) against each of its genuine ones, by the entry's own distance (with
``path``, ``dtw_path_to_many``'s statistics). Any five genuine signatures then make a
reference draw whose rows (``draw_rows``: the engine's own ``decision_terms`` and
``terms``) need no DTW; the protocol's draw (the first five) gives the shipped rows bit
for bit (checked on every run).

The error analysis (``--analyse``, the shipped decision per fold on validation writers;
RESULTS_online_sets.md) found the false rejects mostly among genuine signatures of the
second session (references come from the first), the false accepts clustered on a few
writers, and the fit dominated in rows by SUSig (about half the rows of ``dtw``), the set
it already separates best (in-sample EER 1-3 % against SVC2004 Task 2's 5-11 %), from one
five-reference draw per training writer (20 Task 2 writers: 20 reference sets). So the
candidates, fixed before any of their figures was seen:

- ``draws``: each training writer scored under ``DRAWS`` reference draws, the protocol's
  first five and ``DRAWS - 1`` other five-subsets (seeded, distinct) of its first ten
  genuine signatures (the first session on SVC2004 and SUSig; SVC2004's published protocol
  draws references from S1-S10 too), its other genuine signatures and all its forgeries
  as queries; every row counted 1 / ``DRAWS``, so a writer weighs what it weighed before and
  the L2 grid keeps its meaning, but the weights see five reference sets per writer;
- ``sets``: the protocol's rows, each set's rows counted so every set weighs the same in
  the fit (weight = all rows / (sets × the set's rows): total unchanged);
- ``draws+sets``: both.

Judged as ``benchmarks/online_path.py`` judges (the rule written there before its
figures): ``benchmarks.online_channels.verdict`` unchanged against the shipped fit, the
decision chosen per fold as shipped (``choose_combiner(select="lodo")``, ``earned``, the
shipped grid: with the path family for an entry with ``path``), threshold from the fold's
validation writers, validation writers only; of several winners the lowest four-fold
criterion; ``dtw`` and ``dtw-nopressure`` separately. Test writers are printed after the
choice, for the report only: four-fold test means, fold-0 test EER (95 % writer
interval), FAR / FRR at the fold-0 threshold, AUC, and leave-one-dataset-out (fold 0,
the fit and threshold from the other sets) against the in-domain fold-0 test EER.

    PYTHONPATH=. python benchmarks/online_fit.py --variant dtw --analyse
    PYTHONPATH=. python benchmarks/online_fit.py --variant dtw --out build/online/fit_dtw.json
    PYTHONPATH=. python benchmarks/online_fit.py --variant dtw-nopressure --out build/online/fit_dtw-nopressure.json
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from benchmarks.online_channels import SHIPPED, figures, summary, verdict
from benchmarks.online_cohort import recorded
from benchmarks.online_combiner import VARIANTS, part, run
from benchmarks.online_metric import cached
from benchmarks.online_resample import record_lines
from edgesig.decision import Combiner, ReferenceStats, decision_terms
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.combiner import CombinerChoice, TermRows, default_grid
from edgesig.eval.datasets import FOLDS, writers
from edgesig.eval.protocols import UserRows, load_set
from edgesig.features.dtw import PATH_STATS, dtw_path_to_many
from edgesig.runtime import Manifest

REFS = 5
#: Reference draws per training writer (``draws``), and the genuine signatures they come from.
DRAWS, POOL = 5, 10
#: Each candidate: reference draws per training writer, and whether every set weighs the same.
CANDIDATES = {"draws": (DRAWS, False), "sets": (1, True), "draws+sets": (DRAWS, True)}


@dataclass(frozen=True)
class WriterMatrix:
    """One writer scored once: every signature (genuine first, then forgeries) against every
    genuine one (``paths[i, j]``: the distance, with ``path`` then the path statistics), the
    signatures' descriptor rows (what ``DtwEngine.terms`` reads) and the genuine ones' sessions."""

    user: int
    n_genuine: int
    heads: np.ndarray
    paths: np.ndarray
    sessions: tuple[int, ...]


def writer_matrix(engine: DtwEngine, user: int, signatures: Sequence[Any], n_genuine: int,
                  sessions: Sequence[int]) -> WriterMatrix:
    prepared = [engine.prepare(s) for s in signatures]
    genuine = prepared[:n_genuine]
    if engine.path:
        paths = np.stack([dtw_path_to_many(p[engine.header:], [g[engine.header:] for g in genuine], engine.band)
                          for p in prepared])
    else:
        paths = np.stack([engine.distances(p, genuine) for p in prepared])[:, :, None]
    return WriterMatrix(user, n_genuine, np.stack([p[:engine.header] for p in prepared]), paths, tuple(sessions))


def score_set(engine: DtwEngine, name: str) -> list[WriterMatrix]:
    """Every writer with skilled forgeries of ``name`` (all folds' parts) as a ``WriterMatrix``."""
    sessions = {int(w.writer): [s.session for s in (*w.references, *w.genuine)] for w in writers(name)}
    users = [u for part in ("train", "val", "test") for u in load_set(name, part)]
    return [writer_matrix(engine, u.user, [*u.genuine, *u.forgery], len(u.genuine), sessions[u.user])
            for u in users]


def draw_rows(engine: DtwEngine, w: WriterMatrix, refs: Sequence[int]) -> tuple[tuple[str, ...], UserRows]:
    """The writer's rows against the references ``refs`` (indices of genuine signatures): its
    other genuine signatures and its forgeries as the protocol's loop scores them."""
    refs = list(refs)
    k = len(refs)
    dist = np.zeros((k, k))
    for i in range(k - 1):
        dist[i, i + 1:] = w.paths[refs[i], refs[i + 1:], 0]
        dist[i + 1:, i] = dist[i, i + 1:]
    stats = ReferenceStats.from_matrix(dist)
    own = w.paths[np.ix_(refs, refs)]
    if engine.path:
        stats = replace(stats, extra={f"path.{s}": ReferenceStats.from_matrix(own[:, :, PATH_STATS.index(s)]).d_mean
                                      for s in engine.path})
    ref_heads = list(w.heads[refs])
    names: list[str] = []

    def row(q: int) -> np.ndarray:
        values = {**decision_terms(w.paths[q, refs, 0], stats),
                  **engine.terms(w.heads[q], ref_heads, stats, w.paths[q, refs] if engine.path else None)}
        names[:] = names or list(values)
        return np.array([values[n] for n in names])
    genuine = [q for q in range(w.n_genuine) if q not in refs]
    forged = range(w.n_genuine, len(w.heads))
    rows = UserRows(w.user, np.array([row(q) for q in genuine]), np.array([row(q) for q in forged]),
                    replace(stats, extra={}))
    return tuple(names), rows


def protocol_set(engine: DtwEngine, matrices: Sequence[WriterMatrix]) -> TermRows:
    """The protocol's rows (the first five genuine as references): the shipped rows."""
    drawn = [draw_rows(engine, w, range(REFS)) for w in matrices]
    return TermRows(drawn[0][0], [r for _, r in drawn])


def reference_draws(w: WriterMatrix, draws: int, seed: int = 0) -> list[tuple[int, ...]]:
    """The protocol's draw and ``draws - 1`` other distinct five-subsets of the writer's first
    ``POOL`` genuine signatures (seeded by the writer, so a draw does not depend on the fold)."""
    rng = np.random.default_rng([seed, w.user])
    out = [tuple(range(REFS))]
    pool = min(POOL, w.n_genuine - 1)
    while len(out) < draws:
        drawn = tuple(sorted(rng.choice(pool, REFS, replace=False).tolist()))
        if drawn not in out:
            out.append(drawn)
    return out


class Augment:
    """A candidate's training rows: each training writer under its reference draws (rows
    scored once, kept), the sets weighted as the candidate says."""

    def __init__(self, engine: DtwEngine, matrices: dict[str, list[WriterMatrix]], draws: int, balance: bool):
        self.draws, self.balance = draws, balance
        self.rows = {name: {w.user: [draw_rows(engine, w, d)[1] for d in reference_draws(w, draws)] for w in ms}
                     for name, ms in matrices.items()}

    def __call__(self, train: dict[str, TermRows]) -> dict[str, TermRows]:
        counts = {name: sum(len(u.genuine) + len(u.forgery) for u in rows.users) for name, rows in train.items()}
        total = sum(counts.values())
        out = {}
        for name, rows in train.items():
            weight = total / (len(train) * counts[name]) if self.balance else 1.0
            users = [r for u in rows.users for r in self.rows[name][u.user]]
            out[name] = TermRows(rows.names, users, weight / self.draws)
        return out


def evaluate_fit(rows: dict[str, TermRows], sets: tuple[str, ...], choices: list[CombinerChoice],
                 augment: Augment | None) -> dict[str, Any]:
    """``online_channels.evaluate`` with the fit's training rows from ``augment`` (none: the
    shipped fit); the validation and test rows, grid, choice and threshold unchanged."""
    records: list[dict[str, Any]] = []
    shipped = recorded(records, choices)

    def decide(train: dict[str, TermRows], val: dict[str, TermRows]) -> Combiner:
        return shipped(augment(train) if augment else train, val)
    folds = [run(rows, k, decide, sets, sets) for k in range(FOLDS)]
    left_out = {s: run(rows, 0, lambda t, v: shipped(augment(t) if augment else t, v),
                       tuple(x for x in sets if x != s), (s,))["per_set"][s] for s in sets}
    return {"folds": folds, "chosen": records[:FOLDS], "leave_one_out": left_out}


def lodo_lines(result: dict[str, Any], sets: Sequence[str]) -> list[str]:
    """Leave-one-dataset-out test EER (fold 0) and its ratio to the in-domain fold-0 test EER."""
    out = ["\nleave-one-dataset-out, fold-0 test writers (record only): candidate | test EER left out "
           "(ratio to in-domain) per set; FAR / FRR at the carried threshold"]
    for name, res in result.items():
        cells = []
        for s in sets:
            lo, ind = res["leave_one_out"][s], res["folds"][0]["per_set"][s]
            cells.append(f"{s} {100 * lo['test_eer']:.2f} ({lo['test_eer'] / max(ind['test_eer'], 1e-9):.2f}×), "
                         f"{100 * lo['test_far']:.2f} / {100 * lo['test_frr']:.2f}")
        out.append(f"| {name} | " + " ; ".join(cells) + " |")
    return out


def check_protocol(engine: DtwEngine, mine: dict[str, TermRows], name: str, users: int = 2) -> None:
    """The protocol draw's rows equal ``term_rows``'s (the shipped scoring) on a few writers."""
    from edgesig.eval.combiner import term_rows
    shipped = term_rows(engine, load_set(name, "train")[:users])
    for theirs in shipped.users:
        ours = next(u for u in mine[name].users if u.user == theirs.user)
        assert shipped.names == mine[name].names, (shipped.names, mine[name].names)
        for a, b in ((ours.genuine, theirs.genuine), (ours.forgery, theirs.forgery)):
            assert np.array_equal(a, b), f"{name} writer {theirs.user}: max diff {np.abs(a - b).max()}"


def fold_decision(rows: dict[str, TermRows], fold: int, sets: tuple[str, ...]) -> tuple[Any, float, dict[str, Any]]:
    """The shipped decision of ``fold`` (chosen and fitted as ``online_channels.evaluate`` does),
    its threshold from the fold's validation writers, and ``run``'s record."""
    records: list[dict[str, Any]] = []
    res = run(rows, fold, recorded(records), sets, sets)
    return Combiner.from_dict(res["decision"]), res["threshold"], res


def analyse(rows: dict[str, TermRows], matrices: dict[str, list[WriterMatrix]], sets: tuple[str, ...]) -> list[str]:
    """Error analysis of the shipped decision on validation writers, per fold: per set its
    validation EER, FAR / FRR at the fold's one threshold, the set's own EER point against
    that threshold, FRR of genuine tests by capture session, how the false accepts cluster
    on writers, and what the fit saw (training writers, genuine and forged rows, its
    in-sample EER)."""
    out = []
    for fold in range(FOLDS):
        combiner, threshold, _ = fold_decision(rows, fold, sets)
        out.append(f"\nfold {fold}: {len(combiner.terms)} terms, threshold {threshold:.3f}")
        for name in sets:
            sess = {w.user: np.array(w.sessions[REFS:]) for w in matrices[name]}
            train, val = part(rows[name], name, "train", fold), part(rows[name], name, "val", fold)
            fit = train.report(combiner).summary()
            report = val.report(combiner)
            report.threshold = threshold
            s = report.summary()
            g_sess = np.concatenate([sess[u.user] for u in report.users])
            rejected = report.genuine > threshold
            by_sess = ", ".join(f"s{k} {100 * rejected[g_sess == k].mean():.1f} % of {(g_sess == k).sum()}"
                                for k in sorted(set(g_sess.tolist())))
            fa = np.array([(u.forgery <= threshold).sum() for u in report.users])
            fr = np.array([(u.genuine > threshold).sum() for u in report.users])
            top = np.sort(fa)[::-1]
            n_g, n_f = sum(len(u.genuine) for u in train.users), sum(len(u.forgery) for u in train.users)
            out.append(
                f"  {name}: val EER {100 * s['eer']:.2f} (own point {s['eer_threshold'] - threshold:+.3f} from the "
                f"threshold), FAR {100 * s['far']:.2f} / FRR {100 * s['frr']:.2f}; FRR by session {by_sess}; "
                f"false accepts {fa.sum()} on {(fa > 0).sum()} of {len(fa)} writers (top 3: {top[:3].tolist()}), "
                f"false rejects {fr.sum()} on {(fr > 0).sum()} writers; "
                f"fit: {len(train.users)} writers, {n_g} genuine / {n_f} forged rows, in-sample EER {100 * fit['eer']:.2f}"
                f"; val medians genuine {np.median(report.genuine) - threshold:+.3f}, "
                f"forged {np.median(report.forgery) - threshold:+.3f} from the threshold")
    return out


@click.command()
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="dtw", show_default=True)
@click.option("--cache", default="build/online/fit", show_default=True,
              help="folder for the writers' matrices (the DTW work)")
@click.option("--score-only", is_flag=True, help="score and cache the matrices, evaluate nothing")
@click.option("--analyse", "analyse_only", is_flag=True, help="only the shipped decision's error analysis")
@click.option("--out", default="build/online/fit.json", show_default=True)
def main(variant: str, cache: str, score_only: bool, analyse_only: bool, out: str) -> None:
    sets = VARIANTS[variant]
    entry = Manifest().get(variant)
    if "stability" in entry.params:  # dtw-nopressure since 1.7
        raise click.ClickException(f"{variant} {entry.version} weighs its distances by the references' stabilities, "
                                   "so a reference draw's distances are not the one matrix's: this benchmark "
                                   "(written for 1.6) does not score it")
    engine = DtwEngine(entry)
    matrices = {name: cached(Path(cache) / f"{variant}-{entry.version}-{name}.pkl",
                             lambda name=name: score_set(engine, name)) for name in sets}
    base = {name: protocol_set(engine, m) for name, m in matrices.items()}
    for name in sets:
        check_protocol(engine, base, name)
    click.echo(f"{variant}: protocol rows equal the shipped scoring", err=True)
    if score_only:
        return
    if analyse_only:
        for line in analyse(base, matrices, sets):
            click.echo(line)
        return
    choices = default_grid(path=bool(engine.path))
    result = {SHIPPED: evaluate_fit(base, sets, choices, None)}
    click.echo(f"{variant} {SHIPPED}: evaluated", err=True)
    for name, (draws, balance) in CANDIDATES.items():
        result[name] = evaluate_fit(base, sets, choices, Augment(engine, matrices, draws, balance))
        click.echo(f"{variant} {name}: evaluated", err=True)
    figs = {n: figures(res, sets) for n, res in result.items()}
    verdicts = {n: verdict(figs[n], figs[SHIPPED]) for n in CANDIDATES}
    wins = [n for n, (_, won) in verdicts.items() if won]
    chosen = min(wins, key=lambda n: figs[n]["left_out"].mean(), default=None)
    lines = summary(variant, result, sets) + [f"winner: {chosen or 'none (' + variant + ' ' + entry.version + ' stays)'}"]
    lines += record_lines(result, sets, {}) + lodo_lines(result, sets)
    for line in lines:
        click.echo(line)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"variant": variant, "version": entry.version, "sets": sets,
                                     "candidates": CANDIDATES, "draws": DRAWS, "pool": POOL,
                                     "better_worse": {n: v[0] for n, v in verdicts.items()}, "winner": chosen,
                                     "result": result}, indent=1))


if __name__ == "__main__":
    main()
