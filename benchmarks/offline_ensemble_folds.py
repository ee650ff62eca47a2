"""The shipped ``auto`` image engine's recipe measured on every fold (issue 19's "mean over folds").

``auto`` is ``ensemble`` (2.6.0): ``sigembed-wd`` (SigEmbed run R3), ``sdinet``, ``descriptor`` and ``concavity``
(chosen by ``offline_descriptor_families.py decide``) fused per reference,
member calibrations, weights, terms and threshold fitted on fold 0's validation writers of
all five sets. Its fold-0 test figures say little on their own (13-14 CEDAR test writers a
fold), so this script rebuilds the recipe on another fold from that fold's trained models,
through the same commands the shipped entries came from, into a models folder of its own
(``build/fourfold/models/fold<k>``; the package's folder is never written):

1. ``python -m export offline embed ship`` of the fold's SigEmbed checkpoint (``embed cv
   --work build/embed_r3``), then ``export.precision.dequantize`` of the int8 file and
   ``python -m export precision sigembed|sigembed-wd`` (the precision rule: int8 ships
   only at >= 1.3x the speed of fp32, rebuilt from the int8 weights);
2. ``python -m export offline pool ship-sdinet`` of the fold's SDINet checkpoint (``pool
   sdinet --work build/sdinet_folds``), then the same dequantize and precision rule;
3. ``python -m export offline pool ensemble --fold k --models-dir ... --no-install``: the
   fit on the fold's validation writers (by the joint rule on skilled and random forgeries,
   or ``--objective skilled`` as entries up to 2.4.0 were fitted) and the one scoring of its
   test writers.

Fold 0 is the installed ensemble's own fit (``fit 0 --installed`` reads the package's entries
and writes nothing there). ``table`` prints the per-fold table and, from every fold's validation grid,
the pooled validation objective of each weight averaged over the folds: the test writers are not
looked at to judge the weights. ``compare`` judges a member set against another on the
validation writers, set by set, by the joint rule (``ensemble_fit.joint_eer``: the mean of a
set's skilled- and random-forgery EER) unless ``--objective skilled``.

    PYTHONPATH=. python benchmarks/offline_ensemble_folds.py ship-embed 1 --embed-work build/embed_r3
    PYTHONPATH=. python benchmarks/offline_ensemble_folds.py ship-sdinet 1 --sdinet-work build/sdinet_folds
    PYTHONPATH=. python benchmarks/offline_ensemble_folds.py fit 1          # fit 0 --installed for fold 0
    PYTHONPATH=. python benchmarks/offline_ensemble_folds.py table 0 1 2 3
    PYTHONPATH=. python benchmarks/offline_ensemble_folds.py ship-descriptor 1
    PYTHONPATH=. python benchmarks/offline_ensemble_folds.py fit 1 --members sigembed-wd,sdinet,descriptor
    PYTHONPATH=. python benchmarks/offline_ensemble_folds.py compare 0 1 2 3 --members sigembed-wd,sdinet,descriptor
    PYTHONPATH=. python benchmarks/offline_ensemble_folds.py ship-descriptor 1 --ridge 0.01   # descriptor-wd
    PYTHONPATH=. python benchmarks/offline_ensemble_folds.py fit 1 --members sigembed-wd,sdinet,descriptor --objective skilled
    PYTHONPATH=. python benchmarks/offline_ensemble_folds.py compare 0 1 2 3 --members sigembed-wd,sdinet,descriptor --base sigembed-wd,sdinet,descriptor --base-fit skilled
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from export.offline.ensemble_fit import OBJECTIVES, judged_by_set

SETS = "cedar,svc2004-task2,svc2004-task1,susig,mcyt"
MEMBERS = "sigembed-wd,sdinet"
WORK = Path("build/fourfold")
#: The table's cells: (label, test cell of ``pool ensemble``'s output).
CELLS = [("CEDAR skilled", "cedar/scan/skilled"), ("CEDAR random", "cedar/scan/random"),
         ("Task 2 camera skilled", "svc2004-task2/camera/skilled"),
         ("Task 1 camera skilled", "svc2004-task1/camera/skilled"),
         ("SUSig camera skilled", "susig/camera/skilled"), ("MCYT camera skilled", "mcyt/camera/skilled")]


def export(*args: str) -> None:
    """One ``python -m export`` command, with this checkout first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    click.echo("$ python -m export " + " ".join(args))
    subprocess.run([sys.executable, "-m", "export", *args], check=True, env=env)


def fold_copy(source: Path, fold: int, target: Path) -> Path:
    """The fold's checkpoint and result beside each other in a folder of their own (the ship
    commands write their ONNX files into their --work folder, which stays ours)."""
    target.mkdir(parents=True, exist_ok=True)
    for suffix in (".pt", ".json"):
        shutil.copyfile(source / f"fold{fold}{suffix}", target / f"fold{fold}{suffix}")
    return target


def ship_precision(names: Sequence[str], int8: Path, rebuilt: Path, models: Path) -> None:
    """fp32 rebuilt from the int8 weights, then the precision rule for every entry on that file."""
    from export.precision import dequantize
    rebuilt.parent.mkdir(parents=True, exist_ok=True)
    dequantize(int8, rebuilt)
    for name in names:
        export("precision", name, "--fp32", str(rebuilt), "--int8", str(int8), "--models-dir", str(models))


@click.group()
def main() -> None:
    """Rebuild the shipped ensemble recipe per fold and tabulate it."""


def fold_models(work: str, fold: int) -> Path:
    """The fold's own models folder (never the package's)."""
    models = Path(work) / "models" / f"fold{fold}"
    models.mkdir(parents=True, exist_ok=True)
    return models


def result_path(work: str, fold: int, members: str, objective: str = "joint") -> Path:
    """Where ``fit`` leaves a fold's result (the shipped member set keeps its plain name; a
    skilled-only fit is tagged so that it never overwrites the joint fit of the same members)."""
    tag = ("" if members == MEMBERS else "-" + members.replace(",", "+")) + ("" if objective == "joint" else f"-{objective}")
    return Path(work) / f"ensemble{tag}_fold{fold}.json"


def ship_member(fold: int, source: str, work: str, member: str, ship: Sequence[str], names: Sequence[str]) -> None:
    """``ship`` (an export command that installs into --models-dir) on the fold's checkpoint of
    ``member`` copied from ``source``, then the precision rule for ``names`` on its int8 file."""
    models = fold_models(work, fold)
    folder = fold_copy(Path(source), fold, Path(work) / member / f"fold{fold}")
    export(*ship, "--work", str(folder), "--fold", str(fold), "--threads", "1", "--models-dir", str(models))
    ship_precision(names, models / f"{member}-int8.onnx", folder / "rebuilt" / f"{member}-fp32.onnx", models)


@main.command("ship-embed")
@click.argument("fold", type=int)
@click.option("--embed-work", default="build/embed_r3", show_default=True, help="embed cv's fold<k>.pt / .json")
@click.option("--work", default=str(WORK), show_default=True)
def ship_embed(fold: int, embed_work: str, work: str) -> None:
    """Install the fold's SigEmbed as ``sigembed`` / ``sigembed-wd``, as 1.2.0 was installed."""
    ship_member(fold, embed_work, work, "sigembed",
                ["offline", "embed", "ship", "--version", "1.2.0", "--eval-sets", SETS], ["sigembed", "sigembed-wd"])


@main.command("ship-sdinet")
@click.argument("fold", type=int)
@click.option("--sdinet-work", default="build/sdinet_folds", show_default=True, help="pool sdinet's fold<k>.pt / .json")
@click.option("--work", default=str(WORK), show_default=True)
def ship_sdinet(fold: int, sdinet_work: str, work: str) -> None:
    """Install the fold's SDINet as ``sdinet``, as 2.0.0 was installed."""
    ship_member(fold, sdinet_work, work, "sdinet", ["offline", "pool", "ship-sdinet"], ["sdinet"])


@main.command("ship-descriptor")
@click.argument("fold", type=int)
@click.option("--work", default=str(WORK), show_default=True)
@click.option("--lbp-grids", default=None, help="pool descriptor's --lbp-grids ('' for none); default: its own")
@click.option("--ridge", type=float, default=None, help="install the writer-dependent descriptor-wd, this ridge")
def ship_descriptor(fold: int, work: str, lbp_grids: str | None, ridge: float | None) -> None:
    """Install the handcrafted descriptor (or with ``--ridge`` its writer-dependent route, the
    background from the fold's training writers) into the fold's folder (its threshold and terms
    from the fold's validation writers); fold 0's folder starts as a copy of the package's models."""
    from edgesig.runtime import MODELS_DIR
    models = fold_models(work, fold)
    if fold == 0 and not (models / "manifest.json").is_file():
        shutil.copytree(MODELS_DIR, models, dirs_exist_ok=True)
    layout = [] if lbp_grids is None else ["--lbp-grids", lbp_grids]
    route = [] if ridge is None else ["--ridge", str(ridge)]
    name = "descriptor" if ridge is None else "descriptor-wd"
    export("offline", "pool", "descriptor", "--sets", SETS, "--fold", str(fold), "--models-dir", str(models),
           *layout, *route, "--out", str(Path(work) / f"{name}_fold{fold}.json"))


@main.command()
@click.argument("fold", type=int)
@click.option("--work", default=str(WORK), show_default=True)
@click.option("--members", default=MEMBERS, show_default=True)
@click.option("--installed", is_flag=True, help="fit on the package's installed members (their fold: 0)")
@click.option("--step", default=0.05, show_default=True, help="pool ensemble's weight grid step")
@click.option("--objective", type=click.Choice(OBJECTIVES), default="joint", show_default=True,
              help="pool ensemble's --objective")
def fit(fold: int, work: str, members: str, installed: bool, step: float, objective: str) -> None:
    """Fit the ensemble on the fold's validation writers and score its test writers once."""
    where = [] if installed else ["--models-dir", str(fold_models(work, fold))]
    export("offline", "pool", "ensemble", "--members", members, "--sets", SETS, "--fold", str(fold), "--threads", "1",
           "--step", str(step), *where, "--no-install", "--cache", str(Path(work) / "cache"),
           "--objective", objective, "--out", str(result_path(work, fold, members, objective)))


def cell(m: dict[str, Any], full: bool) -> str:
    lo, hi = m["eer_interval"]
    text = f"{100 * m['eer']:.2f} ({100 * lo:.1f}–{100 * hi:.1f})"
    return f"{text}, {100 * m['far']:.1f} / {100 * m['frr']:.1f}, {m['auc']:.3f}" if full else text


def weight_means(results: Sequence[dict[str, Any]]) -> list[tuple[float, list[float]]]:
    """Each grid weight's pooled validation objective averaged over the folds (terms chosen per fold)."""
    by_weight: dict[tuple[float, ...], list[float]] = {}
    for r in results:
        for g in r["grid"]:
            by_weight.setdefault(tuple(round(w, 4) for w in g["weights"]), []).append(g["objective"])
    return sorted((float(np.mean(v)), list(w)) for w, v in by_weight.items() if len(v) == len(results))


def load(work: str, folds: Sequence[int], members: str, objective: str = "joint") -> list[dict[str, Any]]:
    return [json.loads(result_path(work, k, members, objective).read_text()) for k in folds]


@main.command()
@click.argument("folds", nargs=-1, type=int, required=True)
@click.option("--work", default=str(WORK), show_default=True)
@click.option("--members", default=MEMBERS, show_default=True)
@click.option("--objective", type=click.Choice(OBJECTIVES), default="joint", show_default=True,
              help="the fits' objective (which results to read)")
def table(folds: Sequence[int], work: str, members: str, objective: str) -> None:
    """The markdown table of the folds' ``fit`` results, and the weights judged by validation."""
    results = load(work, folds, members, objective)
    click.echo("| cell | " + " | ".join(f"fold {k}" for k in folds) + " | mean |")
    click.echo("|---|" + "---|" * (len(folds) + 1))
    rows = [(f"pooled validation, {label}", [f"{100 * r[key]:.2f}" for r in results], np.mean([r[key] for r in results]))
            for label, key in (("skilled", "val_eer"), ("random", "val_random_eer"), (f"{objective} objective (fitted)", "val_objective"))]
    rows += [
            ("weights " + members, [" / ".join(f"{w:.2f}" for w in r["weights"].values()) for r in results], None),
            ("terms", ["+".join(r["combine"]) for r in results], None)]
    for label, key in CELLS:
        ms = [r["test"][key] for r in results]
        rows.append((label, [cell(m, label.startswith("CEDAR")) for m in ms], np.mean([m["eer"] for m in ms])))
    for label, values, mean in rows:
        click.echo(f"| {label} | " + " | ".join(values) + f" | {'' if mean is None else f'**{100 * mean:.2f}**'} |")
    click.echo("\nCEDAR test writers: " + ", ".join(str(r["test"]["cedar/scan/skilled"]["writers"]) for r in results))
    ranked = weight_means(results)
    shipped = next((f"; shipped 0.50 / 0.50: {100 * m:.2f} %" for m, w in ranked if w == [0.5, 0.5]), "")
    click.echo(f"weights by mean pooled validation {objective} objective over the folds (best five): " + "; ".join(
        f"{' / '.join(f'{x:.2f}' for x in w)}: {100 * m:.2f} %" for m, w in ranked[:5]) + shipped)


def wins(b: dict[str, float], o: dict[str, float]) -> tuple[list[str], bool]:
    """The sets whose judged validation EER ``o`` lowers against ``b``, and whether it lowers their mean."""
    return [s for s in b if o[s] < b[s]], float(np.mean([o[s] for s in b])) < float(np.mean(list(b.values())))


def fold_won(base: dict[str, float], other: dict[str, float]) -> bool:
    """The rule per fold: ``other`` lowers the judged EER of most sets and their mean."""
    won, mean = wins(base, other)
    return 2 * len(won) > len(base) and mean


def set_cell(result: dict[str, Any], judged: dict[str, float], s: str) -> str:
    """A set's judged validation EER, with its skilled / random EER where random was measured."""
    random = result.get("val_random_by_set", {}).get(s)
    return f"{100 * judged[s]:.2f}" + ("" if random is None else f" ({100 * result['val_by_set'][s]:.2f} / {100 * random:.2f})")


def pooled_cell(result: dict[str, Any]) -> str:
    """The pooled validation EER, skilled / random where random was measured."""
    random = result.get("val_random_eer")
    return f"{100 * result['val_eer']:.2f}" + ("" if random is None else f" / {100 * random:.2f}")


@main.command()
@click.argument("folds", nargs=-1, type=int, required=True)
@click.option("--work", default=str(WORK), show_default=True)
@click.option("--members", required=True, help="the member set judged against the base")
@click.option("--base", default=MEMBERS, show_default=True, help="the member set it is judged against")
@click.option("--base-work", default=None, help="where the base's fits lie (default: --work), e.g. another layout's")
@click.option("--objective", type=click.Choice(OBJECTIVES), default="joint", show_default=True,
              help="the rule judging each set (joint: the mean of its skilled and random EER), and the fit of --members")
@click.option("--base-fit", type=click.Choice(OBJECTIVES), default=None,
              help="the objective the base was fitted by (default: --objective), e.g. skilled for 2.4.0's recipe")
def compare(folds: Sequence[int], work: str, members: str, base: str, base_work: str | None, objective: str,
            base_fit: str | None) -> None:
    """Validation writers only: ``members`` wins a fold if it lowers the judged EER of most sets
    and their mean; it wins if it wins most folds."""
    won_folds = 0
    click.echo(f"{objective} rule per set (skilled / random EER in brackets where measured)\n"
               f"| fold | set | {base} | {members} |\n|---|---|---|---|")
    for k, ref, other in zip(folds, load(base_work or work, folds, base, base_fit or objective),
                             load(work, folds, members, objective)):
        sets, judged = (judged_by_set(r, objective) for r in (ref, other))
        won, mean = wins(sets, judged)
        for s in sets:
            click.echo(f"| {k} | {s} | {set_cell(ref, sets, s)} | {set_cell(other, judged, s)} |")
        click.echo(f"| {k} | pooled | {pooled_cell(ref)} | {pooled_cell(other)} |")
        this_fold = fold_won(sets, judged)
        won_folds += this_fold
        click.echo(f"fold {k}: lower on {len(won)}/{len(sets)} sets ({', '.join(won)}), "
                   f"mean {'lower' if mean else 'not lower'}: {'won' if this_fold else 'lost'}")
    click.echo(f"{members} wins {won_folds}/{len(folds)} folds: "
               + ("WINS" if 2 * won_folds > len(folds) else "does not win"))


if __name__ == "__main__":
    main()
