"""What moves between capture sessions for a genuine query of the DTW entries?

The error analysis of ``benchmarks/online_fit.py --analyse`` found the shipped decisions'
false rejects mostly among second-session genuine signatures (references are the first
five, all from session 1): FRR at the fold's threshold session 1 / session 2, ``dtw`` Task
2 0.5 / 8.5 %, SUSig 0.4 / 4.0 %; ``dtw-nopressure`` Task 1 2.0 / 10.8 %. This script
looks at which of the decision's inputs carry that drift, on fold 0's training and
validation writers only (its test writers are left out):

- per term of the entry (the four normalised distances, their logs, the global deviations
  absolute and signed, the path terms): its mean over session-1 genuine queries (S6-S10
  on SVC2004, the rest of session 1 on SUSig), session-2 genuine queries and skilled
  forgeries, the drift as a share of the forgery gap ((s2 - s1) / (forged - s1)), and what
  the drift adds to the shipped decision's score (its weight × (s2 - s1)), against the
  score's own s1-to-forged gap;
- per global feature, the raw drift (query minus the references' mean, in the feature's
  units: a log feature's is a log ratio) of session-2 against session-1 queries: which way
  duration, speed, size and pressure move;
- with ``--channels``, per channel group of the DTW rows (LNPS, then each raw channel),
  its mean squared difference along the engine's own warping path to each reference
  (``online_stability.align``), session 1 / session 2 / forged: which local channels the
  second session no longer matches.

Rows come from ``online_fit``'s writer matrices (cached there: no DTW but ``--channels``').

What it found (RESULTS_online_dtw.md, "Session drift"): the fit already sees the drift
(its genuine rows are S6-S20, both sessions, against session-1 references, as the
protocol scores them); what moves is mostly the DTW distance terms (``log.min`` and
``log.mean`` carry half of the score's session drift on Task 2 and SUSig), and within the
DTW rows the LNPS shape columns, the horizontal ones most (Task 2: ``lnps0`` and ``lnps2``
drift 0.22-0.23 of their forgery gap, the vertical ``lnps1`` 0.08; ``vy`` 0.02); on Task
1 the velocity and acceleration channels too (0.20-0.30). The pen-down geometry moves
with it (``--geometry``): a query's slant and width/height deviate from its references'
more in session 2, by 0.26-0.6 of the forgery gap (Task 2 slant 0.32, aspect 0.50;
Task 1 0.6 / 0.56; SUSig 0.26 / 0.14). The speed and duration terms barely move.

Candidates (``--candidates``), fixed with the rule before any of their figures: the DTW
rows (not the global descriptor, which keeps ``log_width`` for the decision) read from a
pen whose positions are normalised per signature against that geometric drift:

- ``deslant``: x - k y, k the least-squares slope of dx = k dy over the pen-down steps
  (``slant``): the writing's lean removed;
- ``aspect``: x scaled so its spread over the pen-down samples equals y's (``motion_table``
  divides both axes by y's spread; the width/height ratio removed);
- ``deslant+aspect``: both, the shear first.

Every writer of the variant's sets is scored once per candidate (``online_fit``'s writer
matrices with the candidate's engine; the protocol's rows through ``protocol_set``), then
the decision is chosen and fitted per fold as shipped (``choose_combiner(select="lodo")``,
``earned``, the shipped grid with the path family where the entry reads the path) and
thresholded on the fold's validation writers.

Verdict (RESULTS_online_dtw.md, "Session drift under the learned decision"): no candidate
wins for either variant; ``--sessions`` prints each one's FRR by session for the record.

Rule: ``benchmarks.online_channels.verdict`` unchanged against the shipped entry (lower
left-out criterion and lower mean in-domain validation EER, on fold 0 and over four
folds; better on more sets than worse, on fold 0 and on the four-fold means), ``dtw`` and
``dtw-nopressure`` separately, validation writers only; of several winners the lowest
four-fold criterion; and a winner's verification must cost at most 1.10 × the shipped
entry's: ``prepare`` + ``compare`` of the bench's 1000-point query against five prepared
references (``edgesig.bench.inputs.pen_set(1000, 0)``), the two alternating in one
process (``online_path.median_ms``, 31 rounds × 10 calls, median). (A whole-signature
normalisation also means a streaming session computes the LNPS rows at pen-up rather than
while the pen moves; that pen-up → result cost is measured and reported, not judged.)
Test writers are printed after the verdict, for the record only: four-fold test means,
fold-0 test EER (95 % writer interval), FAR / FRR at the fold-0 threshold, AUC, and
leave-one-dataset-out (fold 0).

    PYTHONPATH=. python benchmarks/online_drift.py --variant dtw --channels
    PYTHONPATH=. python benchmarks/online_drift.py --variant dtw-nopressure --channels
    PYTHONPATH=. python benchmarks/online_drift.py --variant dtw --geometry
    PYTHONPATH=. python benchmarks/online_drift.py --variant dtw --candidates --out build/online/drift_candidates_dtw.json
    PYTHONPATH=. python benchmarks/online_drift.py --variant dtw-nopressure --candidates \\
        --out build/online/drift_candidates_dtw-nopressure.json
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from benchmarks.online_channels import SHIPPED, figures, summary, verdict
from benchmarks.online_combiner import VARIANTS, part
from benchmarks.online_fit import (REFS, WriterMatrix, draw_rows, evaluate_fit, fold_decision, lodo_lines,
                                   protocol_set, score_set)
from benchmarks.online_metric import cached
from benchmarks.online_path import median_ms
from benchmarks.online_resample import record_lines
from benchmarks.online_stability import align
from edgesig.decision import Combiner, ReferenceStats
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.combiner import TermRows, default_grid
from edgesig.eval.datasets import FOLDS, split, writers
from edgesig.eval.protocols import load_set
from edgesig.features.kinematics import extract
from edgesig.features.lnps import signature_dim
from edgesig.pen import PenStream
from edgesig.runtime import Manifest, ModelEntry

#: The parts whose writers the analysis reads (fold 0; never its test writers).
PARTS = ("train", "val")
CLASSES = ("s1", "s2", "forged")


def seen(name: str) -> set[int]:
    return {int(w) for part in PARTS for w in split(name, part, 0)}


def query_rows(engine: DtwEngine, matrices: Sequence[WriterMatrix]) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    """Every protocol query's term row, by class: genuine of session 1, of session 2, forged."""
    out: dict[str, list[np.ndarray]] = {c: [] for c in CLASSES}
    names: tuple[str, ...] = ()
    for w in matrices:
        names, rows = draw_rows(engine, w, range(REFS))
        sess = np.array(w.sessions[REFS:])
        out["s1"].append(rows.genuine[sess == 1])
        out["s2"].append(rows.genuine[sess == 2])
        out["forged"].append(rows.forgery)
    return names, {c: np.concatenate(v) if v else np.zeros((0, len(names))) for c, v in out.items()}


def term_table(names: Sequence[str], rows: dict[str, np.ndarray], decision: Combiner | None) -> list[dict[str, Any]]:
    """Per term: class means, the drift's share of the forgery gap, and its part of the score."""
    weights = dict(zip(decision.terms, decision.weights)) if decision else {}
    means = {c: rows[c].mean(axis=0) for c in CLASSES}
    out = []
    for i, n in enumerate(names):
        s1, s2, f = (float(means[c][i]) for c in CLASSES)
        w = weights.get(n, 0.0)
        out.append({"term": n, "s1": s1, "s2": s2, "forged": f,
                    "share": (s2 - s1) / (f - s1) if abs(f - s1) > 1e-12 else float("nan"),
                    "weight": w, "score_drift": w * (s2 - s1), "score_gap": w * (f - s1)})
    return out


def channel_groups(engine: DtwEngine, split_lnps: bool = False) -> list[tuple[str, slice]]:
    """The DTW row's columns by channel: LNPS (with ``split_lnps`` column by column), then
    each raw channel."""
    cfg = engine.features
    k = signature_dim(len(cfg.path), cfg.level) if cfg.level else 0
    groups = ([(f"lnps{i}", slice(i, i + 1)) for i in range(k)] if split_lnps else [("lnps", slice(0, k))]) if k else []
    return groups + [(c, slice(k + i, k + i + 1)) for i, c in enumerate(cfg.extra)]


def channel_costs(engine: DtwEngine, name: str, users: set[int], groups: list[tuple[str, slice]]
                  ) -> dict[str, np.ndarray]:
    """Per class, per channel group: the mean squared difference along the path to each of the
    five references, averaged over them (one value per query)."""
    out: dict[str, list[np.ndarray]] = {c: [] for c in CLASSES}
    sessions = {int(w.writer): [s.session for s in (*w.references, *w.genuine)]
                for w in writers(name)}
    for part in PARTS:
        for u in load_set(name, part):
            if u.user not in users:
                continue
            prepared = [engine.prepare(s).astype(np.float64)[engine.header:] for s in (*u.genuine, *u.forgery)]
            refs = prepared[:REFS]
            sess = sessions[u.user]
            for q, rows in enumerate(prepared[REFS:], start=REFS):
                per_ref = []
                for r in refs:
                    path = align(rows, r, engine.band)
                    d = (rows[path.rows] - r[path.cols]) ** 2
                    per_ref.append([d[:, g].sum(axis=1).mean() for _, g in groups])
                cls = "forged" if q >= len(u.genuine) else ("s1" if sess[q] == 1 else "s2")
                out[cls].append(np.mean(per_ref, axis=0))
    return {c: np.array(v) for c, v in out.items()}


def slant(pen: PenStream) -> float:
    """The least-squares k of dx = k dy over the pen-down steps (0 for a flat pen): how far
    the writing leans, read off the near-vertical movement that dominates dy."""
    down = pen.pen_down[1:] & pen.pen_down[:-1]
    dx, dy = np.diff(pen.x)[down], np.diff(pen.y)[down]
    yy = float((dy * dy).sum())
    return float((dx * dy).sum() / yy) if yy > 0 else 0.0


def aspect(pen: PenStream) -> float:
    """log(spread of x / spread of y) over the pen-down samples."""
    x, y = pen.x[pen.pen_down], pen.y[pen.pen_down]
    return float(np.log(max(np.std(x), 1e-9) / max(np.std(y), 1e-9)))


def geometry(name: str, users: set[int]) -> dict[str, dict[str, np.ndarray]]:
    """Per class, each query's absolute deviation of slant and aspect from its references' mean."""
    sessions = {int(w.writer): [s.session for s in (*w.references, *w.genuine)] for w in writers(name)}
    out: dict[str, dict[str, list[float]]] = {g: {c: [] for c in CLASSES} for g in ("slant", "aspect")}
    for part in PARTS:
        for u in load_set(name, part):
            if u.user not in users:
                continue
            for g, f in (("slant", slant), ("aspect", aspect)):
                values = [f(p) for p in (*u.genuine, *u.forgery)]
                ref = np.mean(values[:REFS])
                for q in range(REFS, len(values)):
                    cls = "forged" if q >= len(u.genuine) else ("s1" if sessions[u.user][q] == 1 else "s2")
                    out[g][cls].append(abs(values[q] - ref))
    return {g: {c: np.array(v) for c, v in d.items()} for g, d in out.items()}


#: Each candidate: whether the slant is removed, whether x is scaled to y's spread.
CANDIDATES = {"deslant": (True, False), "aspect": (False, True), "deslant+aspect": (True, True)}


def normalised(pen: PenStream, deslant: bool, aspect_: bool) -> PenStream:
    """``pen`` with its positions deslanted and / or its x spread set to its y spread (the
    pen-down samples'), the shear first; everything else as it was."""
    x, y = pen.x.astype(np.float64), pen.y.astype(np.float64)
    if deslant:
        x = x - slant(pen) * y
    if aspect_:
        down = pen.pen_down
        x = x * (max(float(np.std(y[down])), 1e-9) / max(float(np.std(x[down])), 1e-9))
    return replace(pen, x=x)


class GeometryDtw(DtwEngine):
    """The entry's engine with its DTW rows read from the ``normalised`` pen; the global
    descriptor from the pen as captured."""

    def __init__(self, entry: ModelEntry, deslant: bool, aspect_: bool):
        super().__init__(entry)
        self.deslant, self.aspect = deslant, aspect_

    def prepare(self, sample: PenStream) -> np.ndarray:
        pen = normalised(sample, self.deslant, self.aspect)
        return self.from_features(extract(self.pen_input(pen), self.features), sample)


def engines(entry: ModelEntry) -> dict[str, DtwEngine]:
    """The shipped engine and each candidate's, by name."""
    return {SHIPPED: DtwEngine(entry), **{n: GeometryDtw(entry, *c) for n, c in CANDIDATES.items()}}


def scored(variant: str, cache: str) -> dict[str, tuple[dict[str, list[WriterMatrix]], dict[str, TermRows]]]:
    """Per engine of ``engines``: every writer's matrix by set (cached: the DTW work) and the
    protocol's rows."""
    entry = Manifest().get(variant)
    out = {}
    for name, engine in engines(entry).items():
        tag = "" if name == SHIPPED else f"-{name}"
        matrices = {s: cached(Path(cache) / f"{variant}-{entry.version}{tag}-{s}.pkl",
                              lambda s=s: score_set(engine, s)) for s in VARIANTS[variant]}
        out[name] = matrices, {s: protocol_set(engine, m) for s, m in matrices.items()}
    return out


def verify_cost(entry: ModelEntry, rounds: int = 31, number: int = 10) -> dict[str, float]:
    """Milliseconds (median, alternating) of ``prepare`` + ``compare`` of the bench's
    1000-point query against five prepared references, shipped and each candidate."""
    from edgesig.bench.inputs import pen_set
    pens = pen_set(1000, 0)
    calls = {}
    for name, engine in engines(entry).items():
        refs = [engine.prepare(p) for p in pens.references]
        stats = replace(ReferenceStats.from_matrix(engine.pairwise(refs)), extra=engine.reference_terms(refs))
        calls[name] = lambda engine=engine, refs=refs, stats=stats: engine.compare(
            engine.prepare(pens.queries[0]), refs, stats)
    return median_ms(calls, rounds, number)


def judge(variant: str, cache: str) -> tuple[dict[str, Any], list[str]]:
    """Every candidate scored, chosen and judged by the rule in the module docstring; the
    report's lines (validation, verdict, cost, then test figures for the record)."""
    sets = VARIANTS[variant]
    entry = Manifest().get(variant)
    choices = default_grid(path=bool(entry.params.get("path")))
    result: dict[str, Any] = {}
    for name, (_, rows) in scored(variant, cache).items():
        result[name] = evaluate_fit(rows, sets, choices, None)
        click.echo(f"{variant} {name}: evaluated", err=True)
    cost = verify_cost(entry)
    figs = {n: figures(res, sets) for n, res in result.items()}
    verdicts = {n: verdict(figs[n], figs[SHIPPED]) for n in CANDIDATES}
    cheap = {n: cost[n] <= 1.10 * cost[SHIPPED] for n in CANDIDATES}
    wins = [n for n, (_, won) in verdicts.items() if won and cheap[n]]
    chosen = min(wins, key=lambda n: figs[n]["left_out"].mean(), default=None)
    lines = summary(variant, result, sets)
    lines.append("verify cost, prepare + compare, 1000-point query, 5 references (ms, median): " + ", ".join(
        f"{n} {v:.3f}" + ("" if n == SHIPPED else f" ({v / cost[SHIPPED]:.2f}×)") for n, v in cost.items()))
    lines.append(f"winner: {chosen or 'none (' + variant + ' ' + entry.version + ' stays)'}")
    lines += record_lines(result, sets, {}) + lodo_lines(result, sets)
    return {"variant": variant, "version": entry.version, "sets": sets, "candidates": CANDIDATES,
            "better_worse": {n: v[0] for n, v in verdicts.items()}, "cost_ms": cost, "winner": chosen,
            "result": result}, lines


def session_frr(variant: str, cache: str) -> list[str]:
    """Per candidate (and the shipped entry) and set: FRR of session-1 and session-2 genuine
    queries and FAR, validation writers of the four folds together, each at its fold's
    threshold (``online_fit.fold_decision``: the decision chosen and fitted as shipped);
    from the cached matrices of ``--candidates``."""
    sets = VARIANTS[variant]
    out = [f"\n{variant}, validation writers of the four folds at each fold's threshold: candidate | per set "
           "FRR session 1 / session 2, FAR (%)"]
    for name, (matrices, rows) in scored(variant, cache).items():
        counts = {s: np.zeros(5) for s in sets}  # rejected s1, s1, rejected s2, s2, accepted forged
        forged = {s: 0 for s in sets}
        for fold in range(FOLDS):
            combiner, threshold, _ = fold_decision(rows, fold, sets)
            for s in sets:
                sess = {w.user: np.array(w.sessions[REFS:]) for w in matrices[s]}
                for u in part(rows[s], s, "val", fold).report(combiner).users:
                    rejected, g = u.genuine > threshold, sess[u.user]
                    counts[s] += [rejected[g == 1].sum(), (g == 1).sum(), rejected[g == 2].sum(), (g == 2).sum(),
                                  (u.forgery <= threshold).sum()]
                    forged[s] += len(u.forgery)
        cells = []
        for s in sets:
            c = counts[s]
            two = f"{100 * c[2] / c[3]:.1f}" if c[3] else "–"
            cells.append(f"{s} {100 * c[0] / c[1]:.1f} / {two}, {100 * c[4] / forged[s]:.1f}")
        out.append(f"| {name} | " + " ; ".join(cells) + " |")
    return out


def lines_terms(name: str, table: list[dict[str, Any]], counts: dict[str, int]) -> list[str]:
    out = [f"\n{name} (fold-0 training + validation writers; queries s1 {counts['s1']}, s2 {counts['s2']}, "
           f"forged {counts['forged']}): term | s1 | s2 | forged | (s2 - s1) / (forged - s1) | weight | "
           "score drift | score gap", "|---|---|---|---|---|---|---|---|"]
    for t in table:
        out.append(f"| {t['term']} | {t['s1']:.3f} | {t['s2']:.3f} | {t['forged']:.3f} | {t['share']:+.2f} | "
                   f"{t['weight']:+.3f} | {t['score_drift']:+.3f} | {t['score_gap']:+.3f} |")
    drift = sum(t["score_drift"] for t in table)
    gap = sum(t["score_gap"] for t in table)
    out.append(f"score: s2 - s1 {drift:+.3f}, forged - s1 {gap:+.3f} (drift {drift / gap:.2f} of the gap)"
               if gap else "")
    return out


def raw_drift(engine: DtwEngine, table: list[dict[str, Any]]) -> list[str]:
    """The signed global deviations back in feature units (× the entry's scale)."""
    scale = dict(zip(engine.term_names[len(engine.term_names) // 2:], engine.global_scale))
    cells = [f"{t['term'][7:]} {t['s1'] * scale[t['term']]:+.3f} → {t['s2'] * scale[t['term']]:+.3f} "
             f"(forged {t['forged'] * scale[t['term']]:+.3f})" for t in table if t["term"] in scale]
    return ["raw signed deviation from the references' mean, s1 → s2 (forged): " + "; ".join(cells)]


@click.command()
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="dtw", show_default=True)
@click.option("--cache", default="build/online/fit", show_default=True,
              help="online_fit's folder of writer matrices (made there if missing)")
@click.option("--channels", is_flag=True, help="also the per-channel costs along the path (DTW work)")
@click.option("--candidates", "candidates_only", is_flag=True, help="judge the candidates (the rule above)")
@click.option("--sessions", "sessions_only", is_flag=True,
              help="FRR by session of each candidate (after --candidates; record only)")
@click.option("--geometry", "geometry_only", is_flag=True, help="only the slant and aspect drift (no DTW)")
@click.option("--split-lnps", is_flag=True, help="with --channels: each LNPS column on its own")
@click.option("--only-set", "only_sets", multiple=True, help="sets to analyse (default: the variant's)")
@click.option("--out", default=None, help="JSON of every figure")
def main(variant: str, cache: str, channels: bool, candidates_only: bool, sessions_only: bool, geometry_only: bool, split_lnps: bool, only_sets: tuple[str, ...],
         out: str | None) -> None:
    if sessions_only:
        for line in session_frr(variant, cache):
            click.echo(line)
        return
    if candidates_only:
        record, lines = judge(variant, cache)
        for line in lines:
            click.echo(line)
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(json.dumps(record, indent=1))
        return
    sets = tuple(s for s in VARIANTS[variant] if not only_sets or s in only_sets)
    entry = Manifest().get(variant)
    engine = DtwEngine(entry)
    decision = Combiner.from_dict(entry.params["decision"]) if "decision" in entry.params else None
    result: dict[str, Any] = {}
    for name in sets:
        if geometry_only:
            geo = geometry(name, seen(name))
            for g, d in geo.items():
                click.echo(f"{name} {g}: |query - references' mean|, median / mean: " + "; ".join(
                    f"{c} {np.median(v):.3f} / {v.mean():.3f}" for c, v in d.items() if len(v)))
            continue
        matrices = cached(Path(cache) / f"{variant}-{entry.version}-{name}.pkl", lambda: score_set(engine, name))
        users = seen(name)
        names, rows = query_rows(engine, [w for w in matrices if w.user in users])
        if not len(rows["s2"]):
            click.echo(f"\n{name}: one session label for every genuine signature, no drift to measure")
            continue
        table = term_table(names, rows, decision)
        result[name] = {"terms": table, "counts": {c: len(rows[c]) for c in CLASSES}}
        for line in lines_terms(name, table, result[name]["counts"]) + raw_drift(engine, table):
            click.echo(line)
        if channels:
            grouping = channel_groups(engine, split_lnps)
            costs = channel_costs(engine, name, users, grouping)
            groups = [g for g, _ in grouping]
            means = {c: costs[c].mean(axis=0) for c in CLASSES}
            result[name]["channels"] = {g: {c: float(means[c][i]) for c in CLASSES} for i, g in enumerate(groups)}
            click.echo(f"{name} per channel, mean squared difference along the path: channel | s1 | s2 | forged | "
                       "(s2 - s1) / (forged - s1)")
            for i, g in enumerate(groups):
                s1, s2, f = (means[c][i] for c in CLASSES)
                click.echo(f"| {g} | {s1:.3f} | {s2:.3f} | {f:.3f} | {(s2 - s1) / (f - s1):+.2f} |")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps({"variant": variant, "version": entry.version, "result": result}, indent=1))


if __name__ == "__main__":
    main()
