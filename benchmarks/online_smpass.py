"""Stability-modulated DTW in the one distance pass a verification already runs.

``benchmarks/online_stability.py`` (rounds 1 and 2) offered SM-DTW (Parziale, Diaz, Ferrer
& Marcelli, Pattern Recognition Letters 2019) to the learned decision as extra terms beside
the plain distances: for ``dtw`` they won the validation rule but each needed a second DTW
pass per reference at verification (+41-120 %), so they did not ship. What was never judged
is the form that costs nothing at verification: the engine's own distance pass run on the
stability-weighted local costs, in place of the plain ones.

Stabilities (enrolment only; ``online_stability.direct_matches``): each reference is aligned
to the four others by the engine's own DTW; a reference row's stability is the share of
those alignments that match it one-to-one. Here, per query and reference, the distance is
the engine's recurrence on local costs x (``FLOOR`` + the reference row's stability) over
the path's length (``dtw_to_many`` / ``dtw_path_to_many`` with ``weights``: the same kernel,
one multiply per cell; ``DtwEngine``'s ``stability`` option). Everything the decision reads from the distances (the four
normalised distances, their logs, the spreads; for ``dtw-nopressure`` its ``path`` terms,
whose statistics then read the weighted local costs) comes from these distances, and the
references' statistics (``ReferenceStats``, ``path.<stat>``'s own means) from the
references' weighted distances to each other: reference i as the query against reference k,
weighted by k's stabilities. The decision's terms, grid and rule are the shipped entry's.

Candidates, fixed before any figure of theirs was seen (the weight's form is round 1's
``sm.distance``, FLOOR 0.5):

- ``smpass``: the query's weights (each reference's stabilities from the four others) also
  weigh the references' matrix (reference i against k: k's stabilities, which i helped set);
- ``smpass-loo``: in the references' matrix, reference k's stabilities against reference i
  leave i's alignment out (the three others), so no reference is scored under weights it
  helped set, as a query never is.

A verification keeps one DTW pass per reference (the stabilities would be stored with the
template, or recomputed from its references once when missing).

The rule, committed before any candidate figure (validation writers only):
``benchmarks/online_channels.py``'s ``verdict``, unchanged (lower left-out criterion and
lower mean in-domain validation EER than the shipped entry, on fold 0 and as four-fold
means, and better in-domain validation EER on more sets than worse, fold 0 and four folds;
of several winners the lowest four-fold criterion), judged separately for ``dtw`` (Task 2,
SUSig, MCYT) and ``dtw-nopressure`` (the four sets), each fold's decision chosen and fitted
as shipped (``choose_combiner(select="lodo")``, ``earned``, threshold from the fold's
validation writers) on the shipped entry's grid. And a cost cap: a winner ships only if its
verification (``prepare`` + ``compare`` of the bench's 1000-point pen against five
references, stabilities precomputed) takes at most ``COST_CAP`` times the shipped entry's,
the ratio of medians over alternating rounds in one run (``--time``). Test writers are
printed after the choice, for the record only.

    PYTHONPATH=. python benchmarks/online_smpass.py --variant dtw --out build/online/smpass_dtw.json
    PYTHONPATH=. python benchmarks/online_smpass.py --variant dtw-nopressure --out build/online/smpass_dtw-nopressure.json
    PYTHONPATH=. python benchmarks/online_smpass.py --variant dtw --time    # cost, 1000-point pen (same for dtw-nopressure)
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from benchmarks.online_channels import SHIPPED, evaluate, figures, summary
from benchmarks.online_combiner import VARIANTS
from benchmarks.online_metric import cached, scored
from benchmarks.online_path import keep, median_ms, winner
from benchmarks.online_resample import record_lines
from benchmarks.online_stability import FLOOR
from edgesig.decision import ReferenceStats
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.combiner import default_grid
from edgesig.eval.datasets import FOLDS
from edgesig.eval.protocols import load_set
from edgesig.features.dtw import PATH_STATS, direct_matches, share
from edgesig.runtime import Manifest, ModelEntry

#: Each candidate: whether the references' matrix leaves the pair's own alignment out.
CANDIDATES = {"smpass": False, "smpass-loo": True}
#: A winner's verification may take at most this times the shipped entry's.
COST_CAP = 1.10


class SmPassEngine(DtwEngine):
    """The installed entry with ``stability`` = ``FLOOR`` (``DtwEngine``'s own stability-
    modulated pass), for ``smpass-loo`` with the references' matrix under leave-pair-out
    weights. The protocol hands the same reference list to every query of a writer and to
    the references' matrix, so the pair weights and the references' own path means (which
    ``terms`` asks for per query, the protocol's statistics lacking them) are computed once
    per list."""

    def __init__(self, entry: ModelEntry, loo: bool):
        super().__init__(replace(entry, params={**entry.params, "stability": FLOOR}))
        self.loo = loo
        self._own: tuple[Any, list[list[np.ndarray]], dict[str, float]] | None = None

    def pair_weights(self, references: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
        """Per reference i, the weights it is scored under against each reference (its own
        entry: the query's, never read)."""
        if self._own is None or self._own[0] is not references:
            query = self.row_weights(references)
            if self.loo:
                matches = direct_matches([r[self.header:] for r in references], self.band)
                pairs = [[FLOOR + share(matches, k, leave=i) if k != i else query[k] for k in range(len(query))]
                         for i in range(len(query))]
            else:
                pairs = [query] * len(query)
            self._own = (references, pairs, {})
        return self._own[1]

    def pairwise(self, references: Sequence[np.ndarray]) -> np.ndarray:
        out = np.stack([self._distances(r, references, w) for r, w in zip(references, self.pair_weights(references))])
        np.fill_diagonal(out, 0.0)
        return out

    def reference_terms(self, references: Sequence[np.ndarray]) -> dict[str, float]:
        if not self.path:
            return {}
        pairs = self.pair_weights(references)
        own = self._own[2]
        if not own:
            matrix = np.stack([self._path_stats(r, references, w) for r, w in zip(references, pairs)])
            own.update({f"path.{s}": ReferenceStats.from_matrix(matrix[:, :, PATH_STATS.index(s)]).d_mean
                        for s in self.path})
        return dict(own)


def pass_cost(variant: str, rounds: int = 15, number: int = 10) -> dict[str, float]:
    """Milliseconds (median over ``rounds`` alternating rounds of ``number`` calls) of a
    verification (``prepare`` + ``compare``) of the bench's 1000-point pen against five
    references (``edgesig.bench.inputs.pen_set``), shipped and under each candidate (its
    weights precomputed, as a template would hold them), and of the enrolment's weights."""
    from edgesig.bench.inputs import pen_set
    entry = Manifest().get(variant)
    pens = pen_set(1000, 0)
    shipped = DtwEngine(entry)
    prepared = [shipped.prepare(p) for p in pens.references]
    stats = {SHIPPED: shipped.reference_stats(prepared)}
    calls = {SHIPPED: lambda: shipped.compare(shipped.prepare(pens.queries[0]), prepared, stats[SHIPPED])}
    for name, loo in CANDIDATES.items():
        engine = SmPassEngine(entry, loo)
        stats[name] = engine.reference_stats(prepared)
        calls[name] = lambda e=engine, n=name: e.compare(e.prepare(pens.queries[0]), prepared, stats[n])
    weights = SmPassEngine(entry, False)
    calls["stabilities (enrolment)"] = lambda: weights.row_weights(list(prepared))
    return median_ms(calls, rounds, number)


@click.command()
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="dtw", show_default=True)
@click.option("--cache", default="build/online/smpass", show_default=True,
              help="folder for each candidate's scored term rows (the DTW work)")
@click.option("--shipped-rows", default="build/online/stability", show_default=True,
              help="online_stability.py's cache folder: the shipped entry's rows (its sm. terms dropped)")
@click.option("--out", default="build/online/smpass.json", show_default=True)
@click.option("--only", multiple=True, type=click.Choice(list(CANDIDATES)), help="candidates to judge (default: all)")
@click.option("--time", "time_only", is_flag=True, help="only time a verification, shipped against each candidate")
def main(variant: str, cache: str, shipped_rows: str, out: str, only: tuple[str, ...], time_only: bool) -> None:
    if time_only:
        cost = pass_cost(variant)
        click.echo(f"{variant}, 1000-point pen, 5 references, ms (median): "
                   + ", ".join(f"{k} {v:.3f}" for k, v in cost.items()) + "; ratio to shipped: "
                   + ", ".join(f"{k} {cost[k] / cost[SHIPPED]:.3f}" for k in CANDIDATES))
        return
    sets = VARIANTS[variant]
    entry = Manifest().get(variant)
    users = {name: [u for part in ("train", "val", "test") for u in load_set(name, part)] for name in sets}
    shipped = Path(shipped_rows) / f"{variant}-{entry.version}-r2.pkl"
    if not shipped.exists():
        raise click.ClickException(f"no shipped rows {shipped}: run benchmarks/online_stability.py "
                                   f"--variant {variant} --score-only first")
    base = cached(shipped, dict)
    grid = default_grid(path=bool(entry.params.get("path")))
    result = {SHIPPED: evaluate([keep(base, (), "sm.")] * FOLDS, sets, grid)}
    click.echo(f"{variant} {SHIPPED}: evaluated", err=True)
    todo = [n for n in CANDIDATES if not only or n in only]
    for name in todo:
        rows = cached(Path(cache) / f"{variant}-{entry.version}-{name}.pkl",
                      lambda n=name: scored(SmPassEngine(entry, CANDIDATES[n]), users))
        result[name] = evaluate([rows] * FOLDS, sets, grid)
        click.echo(f"{variant} {name}: evaluated", err=True)
    figs = {n: figures(res, sets) for n, res in result.items()}
    better, chosen = winner(figs, tuple(todo))
    lines = summary(variant, result, sets) + [f"winner by validation: {chosen or f'none ({variant} {entry.version} stays)'}"]
    lines += record_lines(result, sets, {})
    for line in lines:
        click.echo(line)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"variant": variant, "version": entry.version, "sets": sets, "floor": FLOOR,
                                     "candidates": {n: CANDIDATES[n] for n in todo}, "better_worse": better,
                                     "winner": chosen, "result": result}, indent=1))


if __name__ == "__main__":
    main()
