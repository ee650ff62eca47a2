"""Should the DTW entries' channels change now that a learned decision sits on top?

The raw channels appended to LNPS (``features.extra``) were chosen by ``edgesig tune
online`` greedily under the plain ``min + mean`` rule (a channel had to bring 0.5 points),
before the learned decision existed; a channel the plain rule could not use may help a
decision that weighs the distances with the global deviations, and one it needed may now
be redundant. Measured one step from the installed entry: every channel of
``edgesig.features.kinematics.CHANNELS`` not yet used added (the pressure-free variant
never reads pressure, so not ``p`` or ``dp``), and every used one dropped, all other
parameters (LNPS, band, stride, global scales) the entry's. Each candidate scores every
writer of the variant's sets once (``benchmarks.online_combiner.all_rows``, cached), then
per fold the decision is chosen and fitted as shipped (``choose_combiner(select="lodo")``
on the default grid) and judged by ``benchmarks.online_combiner.run``.

Which figures decide (validation writers only; test figures are reported after): the
left-out criterion the shipped decision is chosen by (mean over sets of the left-out
validation EER), the mean over sets of the in-domain validation EER, and the sets on
which the in-domain validation EER is better / worse, on fold 0 (the tuning fold) and
as means over the four folds' validation writers. A candidate wins only if it is lower
on both means, on fold 0 and over four folds, and better on more sets than worse.

Row width: the dtw entries hold 10 feature columns (LNPS level 2 of x, y: 6, plus four
raw channels), which the DTW kernel pads to ``NARROW`` (12): one more channel or one
fewer runs the same kernel at the same width.

    PYTHONPATH=. python benchmarks/online_channels.py --variant dtw --out build/online/channels_dtw.json
    PYTHONPATH=. python benchmarks/online_channels.py --variant dtw-nopressure \\
        --out build/online/channels_dtw-nopressure.json
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from benchmarks.online_cohort import recorded
from benchmarks.online_combiner import VARIANTS, all_rows, run
from edgesig.eval.combiner import CombinerChoice, TermRows
from edgesig.eval.datasets import FOLDS
from edgesig.eval.tuning import PRESSURE_CHANNELS
from edgesig.features.kinematics import CHANNELS
from edgesig.runtime import Manifest, ModelEntry

SHIPPED = "shipped"


def candidates(entry: ModelEntry) -> dict[str, ModelEntry]:
    """The installed entry and its one-step neighbours, by name (``+ax``, ``-p``)."""
    features = entry.params["features"]
    extra = tuple(features["extra"])
    unusable = PRESSURE_CHANNELS if entry.params.get("pressure", True) is False else ()
    sets = {SHIPPED: extra, **{f"+{c}": (*extra, c) for c in CHANNELS if c not in extra and c not in unusable},
            **{f"-{c}": tuple(x for x in extra if x != c) for c in extra}}
    return {name: replace(entry, params={**entry.params, "features": {**features, "extra": list(channels)}})
            for name, channels in sets.items()}


def evaluate(rows: Sequence[dict[str, TermRows]], sets: tuple[str, ...],
             choices: list[CombinerChoice] | None = None) -> dict[str, Any]:
    """Per fold k, on ``rows[k]`` (one scoring for every fold, or a fold's own when the engine
    was fitted per fold): the shipped rule's decision and threshold (``run``) on ``choices``
    (default: the shipped grid), with the chosen grid point's left-out validation figures
    (its criterion)."""
    records: list[dict[str, Any]] = []
    folds = [run(rows[k], k, recorded(records, choices), sets, sets) for k in range(FOLDS)]
    return {"folds": folds, "chosen": records}


def figures(res: dict[str, Any], sets: Sequence[str]) -> dict[str, np.ndarray]:
    """Folds × sets arrays: in-domain validation, left-out validation and test EER."""
    def grid(get: Any) -> np.ndarray:
        return np.array([[get(k, s) for s in sets] for k in range(FOLDS)])
    return {"val": grid(lambda k, s: res["folds"][k]["per_set"][s]["val_eer"]),
            "left_out": grid(lambda k, s: res["chosen"][k]["left_out"][s]["eer"]),
            "test": grid(lambda k, s: res["folds"][k]["per_set"][s]["test_eer"])}


def verdict(mine: dict[str, np.ndarray], base: dict[str, np.ndarray]) -> tuple[str, bool]:
    """Sets better / worse on in-domain validation (fold 0; four-fold means), and whether the
    candidate wins by the rule in the module docstring."""
    def count(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
        d = np.round(a - b, 12)
        return int((d < 0).sum()), int((d > 0).sum())
    f0, four = count(mine["val"][0], base["val"][0]), count(mine["val"].mean(0), base["val"].mean(0))
    lower = all(mine[k][rows].mean() < base[k][rows].mean() for k in ("val", "left_out") for rows in (0, slice(None)))
    return f"{f0[0]} / {f0[1]}; {four[0]} / {four[1]}", lower and f0[0] > f0[1] and four[0] > four[1]


def summary(variant: str, result: dict[str, dict[str, Any]], sets: Sequence[str]) -> list[str]:
    """Markdown: per candidate, fold-0 and four-fold validation figures, the verdict, then
    the four-fold test means (reported, not used)."""
    figs = {name: figures(res, sets) for name, res in result.items()}
    base = figs[SHIPPED]
    out = [f"\n{variant} ({' / '.join(sets)}): candidate | fold 0: criterion, in-domain val per set (mean) | "
           "four folds: criterion, in-domain val per set (mean) | sets better / worse (fold 0; four folds) | wins | "
           "test, mean of four folds per set (mean)", "|---|---|---|---|---|---|"]
    for name, f in figs.items():
        four_val = f["val"].mean(0)
        better, wins = verdict(f, base) if name != SHIPPED else ("", False)
        test = f["test"].mean(0)
        out.append(f"| {name} | {100 * f['left_out'][0].mean():.2f}; "
                   + " / ".join(f"{100 * v:.2f}" for v in f["val"][0]) + f" ({100 * f['val'][0].mean():.2f}) | "
                   f"{100 * f['left_out'].mean():.2f}; " + " / ".join(f"{100 * v:.2f}" for v in four_val)
                   + f" ({100 * four_val.mean():.2f}) | {better} | {'yes' if wins else 'no'} | "
                   + " / ".join(f"{100 * v:.2f}" for v in test) + f" ({100 * test.mean():.2f}) |")
    return out


@click.command()
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="dtw", show_default=True)
@click.option("--only", multiple=True, help="candidate names to run (default: all), e.g. --only +ax --only -p")
@click.option("--cache", default="build/online/channels", show_default=True,
              help="folder for each candidate's scored term rows (the DTW work)")
@click.option("--score-only", is_flag=True, help="score and cache the candidates, evaluate nothing")
@click.option("--out", default="build/online/channels.json", show_default=True)
def main(variant: str, only: tuple[str, ...], cache: str, score_only: bool, out: str) -> None:
    sets = VARIANTS[variant]
    entry = Manifest().get(variant)
    todo = {n: e for n, e in candidates(entry).items() if not only or n in only or n == SHIPPED}
    result = {}
    for name, cand in todo.items():
        rows = all_rows(cand, sets, Path(cache) / f"{variant}-{entry.version}-{name}.pkl")
        if not score_only:
            result[name] = evaluate([rows] * FOLDS, sets)
            click.echo(f"{variant} {name}: evaluated", err=True)
    if score_only:
        return
    for line in summary(variant, result, sets):
        click.echo(line)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"variant": variant, "version": entry.version, "sets": sets,
                                     "extra": {n: e.params["features"]["extra"] for n, e in todo.items()},
                                     "result": result}, indent=1))


if __name__ == "__main__":
    main()
