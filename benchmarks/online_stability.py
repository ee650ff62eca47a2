"""Should a query's deviations weigh more where the writer's own signatures are stable?

Parziale, Diaz, Ferrer & Marcelli (SM-DTW, Pattern Recognition Letters 2019): a writer's
signatures have stable regions, which every genuine execution reproduces, and unstable
ones; a forger's deviations in the stable regions tell more than in the others. The DTW
engines weigh every part of the alignment alike. Here the references alone (enrolment
data, never a query) say which of each reference's rows are stable:

- each reference is aligned to each of the four others by the engine's own DTW (same
  features, band, local distances and ties; ``edgesig.features.dtw.warping_path``
  keeps each cell's step and reads the path back: 20 alignments at enrolment);
- a reference row is a *direct match* in one alignment if the path holds it in exactly one
  cell whose other row the path holds in no other cell (matched one-to-one);
- its stability is the share of the four alignments in which it is a direct match, in
  [0, 1] (a reference with no direct match at all gets stability 1 everywhere: no row is
  preferred).

Each query–reference alignment then gives (the reference's rows are the alignment's
columns):

- ``sm.stable``: along the usual optimal path (the engine's, unweighted), the local costs'
  mean weighted by the stability of the reference row each cell reaches: how far the query
  is where the writer is consistent (a term the path pass could sum, as
  ``dtw_path_to_many`` sums its statistics along the path);
- ``sm.distance``: the stability-modulated DTW distance, the recurrence run on local costs
  multiplied by 0.5 + the reference row's stability (stable rows count up to three times
  unstable ones, no row counts nothing, so the path cannot slide for free through an
  unstable part), divided by the path's length: a second DTW pass per reference.

Like the distances and ``path.<stat>``, each is read against the references' own: the
query's mean over the five references divided by the references' mean among themselves
(each reference aligned as the query to each other, that other's stabilities weighting;
``ReferenceStats``'s ``mean`` of that matrix), stored at enrolment in an engine. Everything
else is the installed entry's, bit for bit (its terms come from ``DtwEngine.terms``).

Candidates, fixed before any figure of theirs was seen: ``stable`` (``sm.stable``),
``smdtw`` (``sm.distance``) and ``both``. Round 2, fixed after round 1's figures (``both``
won for ``dtw`` but costs one to two more DTW passes per verification and a template that
keeps per-row stabilities), before its own: ``consistency`` (``sm.consistency``, the
writer's mean stability: the mean over references of their rows' stability), a term of the
references alone, the same for every query of a writer, so a verification pays nothing and
a template keeps one number (a writer whose signatures align one-to-one less may need a
looser decision). Each is judged with the decision chosen as shipped
(``choose_combiner(select="lodo")`` and ``earned``, per fold, threshold from the fold's
validation writers; ``benchmarks.online_channels.evaluate``) on the shipped entry's grid
plus each of its family sets with the ``sm`` family added (``edgesig.eval.combiner
.FAMILIES``); the shipped entry on its own grid (``dtw-nopressure``: with its path terms).

The rule, written before any candidate figure (validation writers only), is
``benchmarks/online_channels.py``'s, unchanged (its ``verdict``): a candidate wins only if
its left-out criterion (mean over sets of the left-out validation EER of the chosen grid
point) and its mean in-domain validation EER are both lower than the shipped entry's, on
fold 0 and as four-fold means, and its in-domain validation EER is better on more sets than
worse, on fold 0 and on the four-fold means. Of several winners, the one with the lowest
four-fold criterion. Judged separately for ``dtw`` (Task 2, SUSig, MCYT) and for
``dtw-nopressure`` (the four sets). Test writers are printed after the choice, for the
report only: four-fold test means, fold-0 test EER with 95 % writer interval, FAR / FRR at
the fold-0 threshold, AUC.

    PYTHONPATH=. python benchmarks/online_stability.py --variant dtw --out build/online/stability_dtw.json
    PYTHONPATH=. python benchmarks/online_stability.py --variant dtw-nopressure \\
        --out build/online/stability_dtw-nopressure.json
    PYTHONPATH=. python benchmarks/online_stability.py --variant dtw --only consistency \\
        --out build/online/stability2_dtw.json    # round 2 (same for dtw-nopressure)
    PYTHONPATH=. python benchmarks/online_stability.py --variant dtw --time   # cost, 1000-point pen
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from benchmarks.online_channels import SHIPPED, evaluate, figures, summary
from benchmarks.online_combiner import VARIANTS
from benchmarks.online_metric import cached, scored
from benchmarks.online_path import keep, median_ms, winner
from benchmarks.online_resample import record_lines
from edgesig.decision import ReferenceStats
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.combiner import CombinerChoice, default_grid
from edgesig.eval.datasets import FOLDS
from edgesig.eval.protocols import load_set
from edgesig.features.dtw import _padded, dtw_path_to_many, dtw_to_many, stabilities, warping_path
from edgesig.runtime import Manifest

#: Each candidate's terms: round 1, then round 2 (``consistency``, fixed after round 1's figures).
CANDIDATES = {"stable": ("sm.stable",), "smdtw": ("sm.distance",), "both": ("sm.stable", "sm.distance"),
              "consistency": ("sm.consistency",)}
#: SM-DTW's local-cost weight is this plus the reference row's stability.
FLOOR = 0.5


@dataclass(frozen=True)
class Alignment:
    """One alignment: the path's cells and the local cost of each."""

    rows: np.ndarray
    cols: np.ndarray
    costs: np.ndarray


def align(a: np.ndarray, b: np.ndarray, band: float, weight: np.ndarray | None = None) -> Alignment:
    """The DTW path of ``a`` against ``b`` (float64 feature rows) on local costs weighted per
    row of ``b`` (unit weights: the engine's path), with each cell's unweighted local cost."""
    rows, cols = warping_path(a, b, band, weight)
    a, b = _padded(a), _padded(b)
    return Alignment(rows, cols, np.sqrt(((a[rows] - b[cols]) ** 2).sum(axis=1)))


def pair_terms(query: np.ndarray, ref: np.ndarray, stable: np.ndarray, band: float) -> tuple[float, float]:
    """``sm.stable`` and ``sm.distance`` of one query against one reference (before the
    references' own values divide them)."""
    usual = align(query, ref, band)
    w = stable[usual.cols]
    weight = FLOOR + stable
    modulated = align(query, ref, band, weight)
    return (float((w * usual.costs).sum() / w.sum()),
            float((weight[modulated.cols] * modulated.costs).sum() / len(modulated.rows)))


@dataclass(frozen=True)
class Enrolled:
    """What enrolment would keep: the references' stabilities and their own mean terms."""

    stable: list[np.ndarray]
    own: np.ndarray

    @property
    def consistency(self) -> float:
        """The writer's mean stability: the mean over references of their rows' mean."""
        return float(np.mean([s.mean() for s in self.stable]))


class StabilityEngine(DtwEngine):
    """The installed engine with the ``sm.`` terms beside its own (the benchmark's scorer).

    The protocol hands the same reference list to every query of a writer, so what depends on
    the references alone (stabilities, their own terms, the entry's own ``path`` terms) is
    computed once per list."""

    _memo: tuple[Any, Enrolled, dict[str, float]] | None = None

    def enrolled(self, references: Sequence[np.ndarray]) -> tuple[Enrolled, dict[str, float]]:
        if self._memo is None or self._memo[0] is not references:
            refs = self._rows(references)
            stable = stabilities(refs, self.band)
            own = np.array([[pair_terms(q, r, s, self.band) if i != k else (0.0, 0.0)
                             for k, (r, s) in enumerate(zip(refs, stable))] for i, q in enumerate(refs)])
            means = np.array([ReferenceStats.from_matrix(own[:, :, t]).d_mean for t in range(2)])
            self._memo = (references, Enrolled(stable, means), super().reference_terms(references))
        return self._memo[1], self._memo[2]

    def reference_terms(self, references: Sequence[np.ndarray]) -> dict[str, float]:
        return self.enrolled(references)[1]

    def terms(self, query: np.ndarray, references: Sequence[np.ndarray],
              stats: ReferenceStats | None = None, paths: np.ndarray | None = None) -> dict[str, float]:
        values = super().terms(query, references, stats, paths)
        enrolled, _ = self.enrolled(references)
        q = self._rows([query])[0]
        mine = np.mean([pair_terms(q, r, s, self.band) for r, s in zip(self._rows(references), enrolled.stable)],
                       axis=0)
        values.update({"sm.stable": float(mine[0] / enrolled.own[0]),
                       "sm.distance": float(mine[1] / enrolled.own[1]), "sm.consistency": enrolled.consistency})
        return values

    def _rows(self, prepared: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(p[self.header:], dtype=np.float64) for p in prepared]


def with_sm(grid: list[CombinerChoice]) -> list[CombinerChoice]:
    """``grid`` and each of its points with the ``sm`` family added."""
    return grid + [CombinerChoice((*c.families, "sm"), c.log, c.l2) for c in grid]


def sm_cost(variant: str, rounds: int = 15, number: int = 10) -> dict[str, float]:
    """Milliseconds (median over ``rounds`` alternating rounds of ``number`` calls), the
    bench's 1000-point pen against five references (``edgesig.bench.inputs.pen_set``):
    ``verify``, the installed entry's ``prepare`` and ``compare`` of the query; its
    ``distances`` pass (``dtw_to_many``) and the ``path`` pass (``dtw_path_to_many``) alone;
    ``smdtw-kernel``, this benchmark's five SM-DTW passes (full matrix, step matrix kept:
    more than a runtime two-row pass would cost); ``stability``, the enrolment's 20
    alignments with traceback. A runtime SM-DTW pass is the distance pass with its local
    costs scaled by the row weights, so ``smdtw`` would cost about ``verify + distances``
    and ``both`` (its ``sm.stable`` carried by the path pass, whose first column gives the
    distances) about ``verify + path``."""
    from edgesig.bench.inputs import pen_set
    engine = DtwEngine(Manifest().get(variant))
    pens = pen_set(1000, 0)
    prepared = [engine.prepare(p) for p in pens.references]
    stats = engine.reference_stats(prepared)
    refs = [np.asarray(r[engine.header:], dtype=np.float64) for r in prepared]
    weights = [FLOOR + s for s in stabilities(refs, engine.band)]

    query = engine.prepare(pens.queries[0])
    q = np.asarray(query[engine.header:], dtype=np.float64)
    calls = {"verify": lambda: engine.compare(engine.prepare(pens.queries[0]), prepared, stats),
             "distances": lambda: dtw_to_many(q, refs, engine.band),
             "path": lambda: dtw_path_to_many(q, refs, engine.band),
             "smdtw-kernel": lambda: [warping_path(q, r, engine.band, w) for r, w in zip(refs, weights)],
             "stability": lambda: stabilities(refs, engine.band)}
    return median_ms(calls, rounds, number)


@click.command()
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="dtw", show_default=True)
@click.option("--cache", default="build/online/stability", show_default=True,
              help="folder for the scored term rows (the DTW work)")
@click.option("--out", default="build/online/stability.json", show_default=True)
@click.option("--only", multiple=True, type=click.Choice(list(CANDIDATES)),
              help="candidates to judge (default: all), e.g. --only consistency for round 2")
@click.option("--score-only", is_flag=True, help="score and cache the rows, evaluate nothing")
@click.option("--time", "time_only", is_flag=True, help="only time the SM-DTW pass against the distances")
def main(variant: str, cache: str, out: str, only: tuple[str, ...], score_only: bool, time_only: bool) -> None:
    if time_only:
        click.echo(f"{variant}, 1000-point pen, 5 references, ms (median): " + ", ".join(
            f"{k} {v:.2f}" for k, v in sm_cost(variant).items()))
        return
    sets = VARIANTS[variant]
    entry = Manifest().get(variant)
    users = {name: [u for part in ("train", "val", "test") for u in load_set(name, part)] for name in sets}
    # "-r2": the rows since round 2, with sm.consistency (round 1's rows lacked it)
    rows = cached(Path(cache) / f"{variant}-{entry.version}-r2.pkl", lambda: scored(StabilityEngine(entry), users))
    if score_only:
        return
    grid = default_grid(path=bool(entry.params.get("path")))
    result = {SHIPPED: evaluate([keep(rows, (), "sm.")] * FOLDS, sets, grid)}
    click.echo(f"{variant} {SHIPPED}: evaluated", err=True)
    todo = {n: t for n, t in CANDIDATES.items() if not only or n in only}
    for name, terms in todo.items():
        result[name] = evaluate([keep(rows, terms, "sm.")] * FOLDS, sets, with_sm(grid))
        click.echo(f"{variant} {name}: evaluated", err=True)
    figs = {n: figures(res, sets) for n, res in result.items()}
    better, chosen = winner(figs, tuple(todo))
    stays = f"none ({variant} {entry.version} stays)"
    lines = summary(variant, result, sets) + [f"winner: {chosen or stays}"]
    lines += record_lines(result, sets, {})
    for line in lines:
        click.echo(line)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"variant": variant, "version": entry.version, "sets": sets,
                                     "candidates": todo, "floor": FLOOR, "better_worse": better,
                                     "winner": chosen, "result": result}, indent=1))


if __name__ == "__main__":
    main()
