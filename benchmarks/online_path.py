"""Does the DTW warping path tell more than its summed cost?

The DTW engines score a query by its path-length-normalised cost to each reference; how the
path got there is thrown away. Sharma & Sundaram (IEEE Trans. Cybernetics 2018) read more of
the alignment: a forger who draws slowly or hesitates aligns with more horizontal and
vertical steps and less even local costs than the writer's own signatures do. Here each
query–reference pair also gives, from the same recurrence (``edgesig.features.dtw
.dtw_path_to_many``: each cell's move noted, one walk back along the path sums it; the
engine's ``path`` option, ``edgesig.engines.dtw``):

- ``nondiag``: the share of the path's steps that are not diagonal (the path's length over
  n + m is 1 / (2 - this share), so it is not a term of its own);
- ``cost_sd``: the standard deviation of the local costs along the path;
- ``cost_max``: the largest local cost along the path.

Like the distances, each is read against the references' own: ``path.<stat>`` is the mean
over the five references of the query's value divided by the mean over reference pairs of
theirs (``ReferenceStats``'s ``mean`` term on that statistic's matrix, each reference
against the others in both directions), so a writer whose own signatures warp a lot is not
held to a straight path. Everything else is the installed entry's (features, band, global
terms); the distance terms are bit for bit the shipped engine's.

Candidates, fixed before any figure of theirs was seen: ``nondiag`` (``path.nondiag``),
``cost`` (``path.cost_sd``, ``path.cost_max``) and ``path`` (all three). Each is judged with
the decision chosen as shipped (``choose_combiner(select="lodo")`` and ``earned``, per fold,
threshold from the fold's validation writers; ``benchmarks.online_channels.evaluate``) on
the shipped grid plus the same family sets with the ``path`` family added
(``edgesig.eval.combiner.FAMILIES``); the shipped entry on the shipped grid (and with its
own path terms, if it has some: ``dtw-nopressure`` since 1.6, this benchmark's winner).

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

    PYTHONPATH=. python benchmarks/online_path.py --variant dtw --out build/online/path_dtw.json
    PYTHONPATH=. python benchmarks/online_path.py --variant dtw-nopressure --out build/online/path_dtw-nopressure.json
"""
from __future__ import annotations

import json
import timeit
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import click
import numpy as np

from benchmarks.online_channels import SHIPPED, evaluate, figures, summary, verdict
from benchmarks.online_combiner import VARIANTS
from benchmarks.online_metric import cached, scored
from benchmarks.online_resample import record_lines
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.combiner import TermRows, default_grid
from edgesig.eval.datasets import FOLDS
from edgesig.eval.protocols import load_set
from edgesig.features.dtw import PATH_STATS, dtw_path_to_many
from edgesig.runtime import Manifest, ModelEntry

#: Each candidate's path statistics (``PATH_STATS`` after the distance).
CANDIDATES = {"nondiag": ("nondiag",), "cost": ("cost_sd", "cost_max"), "path": PATH_STATS[1:]}


def path_entry(entry: ModelEntry) -> ModelEntry:
    """``entry`` reading every path statistic (``DtwEngine``'s ``path`` option); its other
    terms are the entry's, bit for bit."""
    return replace(entry, params={**entry.params, "path": list(PATH_STATS[1:])})


def keep(rows: dict[str, TermRows], terms: Sequence[str], prefix: str = "path.") -> dict[str, TermRows]:
    """``rows`` without the terms named ``prefix...`` other than ``terms``."""
    out = {}
    for name, r in rows.items():
        cols = [i for i, n in enumerate(r.names) if not n.startswith(prefix) or n in terms]
        out[name] = TermRows(tuple(r.names[i] for i in cols),
                             [replace(u, genuine=u.genuine[:, cols], forgery=u.forgery[:, cols]) for u in r.users])
    return out


def winner(figs: dict[str, dict[str, np.ndarray]],
           names: Sequence[str] = tuple(CANDIDATES)) -> tuple[dict[str, str], str | None]:
    """Each candidate's sets better / worse, and the winner by ``verdict`` (None: none wins)."""
    verdicts = {n: verdict(figs[n], figs[SHIPPED]) for n in names}
    wins = [n for n, (_, won) in verdicts.items() if won]
    return ({n: v[0] for n, v in verdicts.items()},
            min(wins, key=lambda n: figs[n]["left_out"].mean(), default=None))


def path_cost(variant: str, rounds: int = 15, number: int = 10) -> dict[str, float]:
    """Milliseconds (median over ``rounds`` alternating rounds of ``number`` calls) of the
    installed entry's ``distances`` and of ``dtw_path_to_many`` for the same query and five
    references: the bench's 1000-point pen (``edgesig.bench.inputs.pen_set``); and of the
    references' own path statistics (each against the others, both directions), which a
    shipped entry would compute at enrolment."""
    from edgesig.bench.inputs import pen_set
    engine = DtwEngine(path_entry(Manifest().get(variant)))
    pens = pen_set(1000, 0)
    prepared, query = [engine.prepare(p) for p in pens.references], engine.prepare(pens.queries[0])
    refs = [r[engine.header:] for r in prepared]
    calls = {"distances": lambda: engine.distances(query, prepared),
             "path": lambda: dtw_path_to_many(query[engine.header:], refs, engine.band),
             "references": lambda: [dtw_path_to_many(r, refs, engine.band) for r in refs]}
    return median_ms(calls, rounds, number)


def median_ms(calls: dict[str, Callable[[], Any]], rounds: int, number: int) -> dict[str, float]:
    """Each call's milliseconds, the median over ``rounds`` rounds of ``number`` calls, the
    calls alternating within a round (so a load change hits them alike)."""
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            times[name].append(timeit.timeit(call, number=number) / number * 1e3)
    return {name: float(np.median(t)) for name, t in times.items()}


@click.command()
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="dtw", show_default=True)
@click.option("--cache", default="build/online/path", show_default=True,
              help="folder for the scored term rows (the DTW work)")
@click.option("--out", default="build/online/path.json", show_default=True)
@click.option("--time", "time_only", is_flag=True, help="only time the path statistics against the distances")
def main(variant: str, cache: str, out: str, time_only: bool) -> None:
    if time_only:
        click.echo(f"{variant}, 1000-point pen, 5 references, ms (median): " + ", ".join(
            f"{k} {v:.2f}" for k, v in path_cost(variant).items()))
        return
    sets = VARIANTS[variant]
    entry = Manifest().get(variant)
    users = {name: [u for part in ("train", "val", "test") for u in load_set(name, part)] for name in sets}
    rows = cached(Path(cache) / f"{variant}-{entry.version}.pkl", lambda: scored(DtwEngine(path_entry(entry)), users))
    own = [f"path.{s}" for s in entry.params.get("path", ())]
    result = {SHIPPED: evaluate([keep(rows, own)] * FOLDS, sets, default_grid(path=bool(own)))}
    click.echo(f"{variant} {SHIPPED}: evaluated", err=True)
    for name, stats in CANDIDATES.items():
        result[name] = evaluate([keep(rows, [f"path.{s}" for s in stats])] * FOLDS, sets, default_grid(path=True))
        click.echo(f"{variant} {name}: evaluated", err=True)
    figs = {n: figures(res, sets) for n, res in result.items()}
    better, chosen = winner(figs)
    lines = summary(variant, result, sets) + [f"winner: {chosen or 'none (' + variant + ' ' + entry.version + ' stays)'}"]
    lines += record_lines(result, sets, {})
    for line in lines:
        click.echo(line)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"variant": variant, "version": entry.version, "sets": sets,
                                     "candidates": CANDIDATES, "better_worse": better, "winner": chosen,
                                     "result": result}, indent=1))


if __name__ == "__main__":
    main()
