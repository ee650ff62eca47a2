"""Does a pen-up share by time carry to a new pad better than ``down_fraction``?

``down_fraction`` counts samples, and MCYT sends samples while the pen hovers, so a
genuine MCYT signature deviates 6–10× as much in it as on the other pads and a threshold
carried from them rejects it (``benchmarks/online_threshold_carry.py``). The extended
descriptor's ``up_time_fraction`` measures the pen-up share by time, holes in the
timestamps included (pads without pen-up samples), and varies alike on every pad.

The candidate engine's terms differ from the installed entry's only in that feature's
two columns (``global.`` and ``signed.``: each global term depends on its feature
alone), so the cached rows of ``benchmarks/online_combiner.py`` are reused with those
columns recomputed from each writer's descriptors, by the engine's own arithmetic
(descriptor stored as float32, deviation from the references' mean over the scale, which
is ``edgesig tune``'s from the fold-0 validation writers): the rows an engine with
``global.up_time`` gives. The recomputed ``down_fraction`` columns must equal the cached
ones exactly, which checks the row order. Then, for the installed and the candidate rows,
with the left-out choice (``choose_combiner(select="lodo")``): the carried FAR / FRR per
left-out set, fold 0's validation figures, test EER on four folds, leave-one-dataset-out,
and FAR / FRR on synthetic writers at the fold-0 threshold (``synthetic_far``: the
candidate's rows there come from the engine with ``global.up_time``).

    mkdir -p build/m13 && git show 949205f:edgesig/models/manifest.json > build/m13/manifest.json
    PYTHONPATH=. python benchmarks/online_pen_up_share.py --cache build/online/rows13 --models-dir build/m13 \
        [--variant dtw-nopressure]
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import numpy as np

from benchmarks.online_combiner import VARIANTS, all_rows, part, run, synthetic_far, table
from benchmarks.online_threshold_carry import carry
from edgesig.engines.base import Engine
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.combiner import CombinerChoice, TermRows, choose_combiner
from edgesig.eval.datasets import FOLDS
from edgesig.eval.protocols import UserSamples, load_set
from edgesig.eval.tuning import global_scale
from edgesig.features.global_features import EXTENDED_FEATURES, GLOBAL_FEATURES, global_features
from edgesig.runtime import Manifest

OLD, NEW = "down_fraction", "up_time_fraction"
#: Each share's index in the extended descriptor.
INDEX = {OLD: GLOBAL_FEATURES.index(OLD), NEW: len(GLOBAL_FEATURES) + EXTENDED_FEATURES.index(NEW)}


def shares(engine: Engine, users: list[UserSamples]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per writer, both shares of every genuine signature and forgery, as the engine stores them (float32)."""
    def values(pens: list[Any]) -> np.ndarray:
        d = np.stack([global_features(engine.pen_input(p), True).astype(np.float32) for p in pens])
        return d[:, [INDEX[OLD], INDEX[NEW]]]
    return {u.user: (values(u.genuine), values(u.forgery)) for u in users}


def deviations(genuine: np.ndarray, forgery: np.ndarray, refs: int) -> tuple[np.ndarray, np.ndarray]:
    """Signed deviations (unscaled) of the genuine tests and forgeries from the references' mean."""
    mean = genuine[:refs].astype(np.float64).mean(axis=0)
    return genuine[refs:].astype(np.float64) - mean, forgery.astype(np.float64) - mean


def swapped(rows: TermRows, values: dict[int, tuple[np.ndarray, np.ndarray]], old_scale: float,
            new_scale: float, refs: int) -> TermRows:
    """``rows`` with ``down_fraction``'s two columns replaced by ``up_time_fraction``'s, after
    checking that the recomputed ``down_fraction`` columns equal the cached ones."""
    cols = [rows.names.index(f"{kind}.{OLD}") for kind in ("global", "signed")]
    users = []
    for u in rows.users:
        g, f = (d / np.array([old_scale, new_scale]) for d in deviations(*values[u.user], refs))
        for cached, signed in ((u.genuine, g), (u.forgery, f)):
            if not np.array_equal(cached[:, cols], np.column_stack([np.abs(signed[:, 0]), signed[:, 0]])):
                raise AssertionError(f"writer {u.user}: recomputed {OLD} terms differ from the cached rows")
        users.append(replace(u, genuine=_put(u.genuine, cols, g[:, 1]), forgery=_put(u.forgery, cols, f[:, 1])))
    names = tuple(n.replace(OLD, NEW) for n in rows.names)
    return TermRows(names, users)


def _put(rows: np.ndarray, cols: list[int], signed: np.ndarray) -> np.ndarray:
    out = rows.copy()
    out[:, cols] = np.column_stack([np.abs(signed), signed])
    return out


def validation(rows: dict[str, TermRows]) -> dict[str, Any]:
    """Fold 0's left-out choice (what decides): its grid point and criterion, and per set the
    in-domain validation EER and the left-out validation EER with FAR / FRR at the carried
    threshold (the chosen trial's record)."""
    chosen = choose_combiner({s: part(r, s, "train", 0) for s, r in rows.items()},
                             {s: part(r, s, "val", 0) for s, r in rows.items()}, select="lodo")
    names = next(iter(rows.values())).names
    record = next(t for t in chosen.trials if t["mean_left_out_val_eer"] == chosen.criterion and CombinerChoice(
        tuple(t["families"]), t["log"], t["l2"]).terms(names) == chosen.combiner.terms)
    return {"choice": {k: record[k] for k in ("families", "log", "l2")}, "criterion": chosen.criterion,
            "val_eer": record["val_eer"], "left_out": record["left_out"]}


def evaluate(rows: dict[str, TermRows], sets: tuple[str, ...]) -> dict[str, Any]:
    """Carried threshold, validation, four folds and leave-one-dataset-out of the left-out choice."""
    def decide(train: dict[str, TermRows], val: dict[str, TermRows]) -> Any:
        return choose_combiner(train, val, select="lodo").combiner
    return {"carry": {s: carry(rows, s, CombinerChoice(("all", "global", "signed"), True, 10.0)) for s in sets},
            "validation": validation(rows),
            "folds": [run(rows, k, decide, sets, sets) for k in range(FOLDS)],
            "leave_one_out": {s: run(rows, 0, decide, tuple(x for x in sets if x != s), (s,)) for s in sets}}


@click.command()
@click.option("--cache", default="build/online/combiner_rows", show_default=True,
              help="benchmarks/online_combiner.py's folder of scored term rows (the installed entries')")
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="dtw", show_default=True)
@click.option("--out", default="build/online/pen_up_share.json", show_default=True)
@click.option("--refs", default=5, show_default=True)
@click.option("--models-dir", default=None,
              help="the manifest holding the entries to compare against (version 1.3, with down_fraction); "
                   "default the package's")
def main(cache: str, variant: str, out: str, refs: int, models_dir: str | None) -> None:
    sets = VARIANTS[variant]
    entry = Manifest(models_dir).get(variant)
    if entry.params["global"].get("up_time"):
        raise click.UsageError(f"{variant} {entry.version} already holds up_time_fraction; pass --models-dir with "
                               "a manifest of the 1.3 entries (git show 949205f:edgesig/models/manifest.json)")
    rows = all_rows(entry, sets, Path(cache) / f"{variant}.pkl")
    engine = DtwEngine(entry)
    values = {s: shares(engine, [u for p in ("train", "val", "test") for u in load_set(s, p)]) for s in sets}
    old_scale = entry.params["global"]["scale"][INDEX[OLD]]
    pooled_val = [u for s in sets for u in load_set(s, "val")]
    new_scale = global_scale(pooled_val, refs, engine.uses_pressure, up_time=True)[INDEX[OLD]]
    candidate = {s: swapped(rows[s], values[s], old_scale, new_scale, refs) for s in sets}
    click.echo(f"{variant}: {NEW} scale {new_scale!r} (pooled fold-0 validation writers)")
    result = {"installed": evaluate(rows, sets), NEW: evaluate(candidate, sets), "scale": new_scale}
    timed = replace(entry, params={**entry.params, "global": {**entry.params["global"], "up_time": True, "scale": [
        new_scale if i == INDEX[OLD] else v for i, v in enumerate(entry.params["global"]["scale"])]}})
    for rule, e in (("installed", entry), (NEW, timed)):
        result[rule]["synthetic"] = synthetic_far(e, {rule: result[rule]["folds"][0]})[rule]
        click.echo(f"{rule} synthetic writers at the fold-0 threshold: {json.dumps(result[rule]['synthetic'])}")
    for rule in ("installed", NEW):
        click.echo(f"\n## {rule}: validation {json.dumps(result[rule]['validation'])}")
        for s in sets:
            click.echo("\n".join(result[rule]["carry"][s][:1]))
    for line in table(variant, {r: result[r] for r in ("installed", NEW)}):
        click.echo(line)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
