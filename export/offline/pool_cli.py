"""``python -m export offline pool ...``: the training pool, SDINet retrained on it, and installed
image engines measured on it.

``build`` renders and caches the pool (``export.offline.pool``). ``sdinet`` trains the same
network and loop as ``python -m export offline cv`` (``export.offline.train.fit``) on the
pooled sets' training writers of an ``edgesig.eval.datasets`` fold instead of 25 rendered
SVC2004 writers. Everything is measured by ``export.offline.pool_eval``, the protocol
SigEmbed is measured by, and ``measure --record`` gives an installed engine the terms, threshold
and figures measured on the file it ships (its pooled validation EER as its ``selection_eer``,
so ``image_engine="auto"`` compares like with like).
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import numpy as np

from export.offline.embed_cli import POOLED_DEFINITION, SETS, echo_result, fold_results, install_pool_model
from export.offline.ensemble_fit import OBJECTIVES
from export.run_options import command_line, is_main, run_options

WORK = "build/offline_sdinet_pool"


@click.group()
def pool() -> None:
    """CEDAR scans and rendered online writers: build, train SDINet, measure installed engines."""


@pool.command()
@click.option("--sets", default=SETS, show_default=True, help="comma-separated sets of edgesig.eval.datasets")
@click.option("--target", type=click.Choice(["sdinet", "crosswriter"]), default="sdinet", show_default=True)
@click.option("--seed", default=0, show_default=True, help="render seed")
def build(sets: str, target: str, seed: int) -> None:
    """Prepare every writer once (scans through prepare, pens rendered in every style) into build/offline_pool."""
    from export.offline.pool import load_pool
    found = load_pool(sets.split(","), seed=seed, target=target)
    click.echo(f"{len(found)} writers, {sum(w.genuine.shape[0] * w.genuine.shape[1] for w in found.values())} "
               f"genuine and {sum(w.forgery.shape[0] * w.forgery.shape[1] for w in found.values())} forgery images")


@pool.command("sdinet")
@click.option("--sets", default=SETS, show_default=True, help="comma-separated sets of edgesig.eval.datasets")
@click.option("--folds", default="0", show_default=True, help="comma-separated folds to run")
@click.option("--steps", default=1500, show_default=True)
@click.option("--batch", default=32, show_default=True)
@click.option("--lr", default=2e-3, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--threads", default=1, show_default=True)
@click.option("--work", default=WORK, show_default=True)
@run_options
def sdinet(sets: str, folds: str, steps: int, batch: int, lr: float, seed: int, threads: int, work: str) -> None:
    """Train per fold on the pooled training writers; test on every set's test writers."""
    import torch
    from export.checkpoint import save_checkpoint
    from export.offline.evaluate import torch_scorer
    from export.offline.pool import load_pool, part
    from export.offline.pool_eval import pair_comparator
    from export.offline.train import TrainConfig, fit
    torch.set_num_threads(threads)
    names = sets.split(",")
    pool = load_pool(names)
    work_dir = Path(work)
    for k in (int(f) for f in folds.split(",")):
        train = part(pool, names, "train", k)
        cfg = replace(TrainConfig(steps=steps, batch=batch, lr=lr), seed=seed + k)
        model, stats = fit(train, cfg, desc=f"sdinet fold {k}")
        if not is_main():
            continue
        save_checkpoint(model, cfg, work_dir / f"fold{k}.pt", {"fold": k, "sets": names})
        r = {"command": command_line(), "fold": k, "sets": names, "train_writers": [w.key for w in train], **stats,
             **fold_results(pair_comparator(torch_scorer(model)), pool, names, k)}
        (work_dir / f"fold{k}.json").write_text(json.dumps(r, indent=1))
        echo_result(r)


@pool.command("ship-sdinet")
@click.option("--work", default=WORK, show_default=True, help="where `sdinet` left fold<k>.pt and fold<k>.json")
@click.option("--fold", default=0, show_default=True)
@click.option("--threads", default=1, show_default=True)
@click.option("--models-dir", default=None, help="default: the package's models folder")
@click.option("--version", default="2.0.0", show_default=True)
def ship(work: str, fold: int, threads: int, models_dir: str | None, version: str) -> None:
    """ONNX, int8 (QDQ convs and FCs, dynamic LSTMs), parity on every set, install as ``sdinet``
    in the precision ``export.precision`` picks, with that file's terms and threshold."""
    from edgesig.runtime import MODELS_DIR
    from export.offline.evaluate import onnx_scorer
    from export.offline.pool import load_pool, part
    from export.offline.pool_eval import pair_comparator
    from export.offline.ship import calibration_pairs, checked_int8
    from export.offline.to_onnx import export_onnx, quantize
    from export.offline.train import load_checkpoint
    work_dir = Path(work)
    r = json.loads((work_dir / f"fold{fold}.json").read_text())
    model, cfg, _ = load_checkpoint(work_dir / f"fold{fold}.pt")
    pool = load_pool(r["sets"], progress=False)
    train = part(pool, r["sets"], "train", fold)
    fp32 = export_onnx(model, work_dir / "sdinet-fp32.onnx")
    int8 = quantize(fp32, work_dir / "sdinet-int8.onnx", calibration_pairs(train))
    try:
        info32, info8 = checked_int8(fp32, int8, echo=click.echo)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    res = {name: fold_results(pair_comparator(onnx_scorer(str(path), threads)), pool, r["sets"], fold)
           for name, path in (("fp32", fp32), ("int8", int8))}
    install_pool_model(
        "sdinet", int8, res, r, r["sets"], {"steps": cfg.steps, "batch": cfg.batch}, models_dir, version,
        inputs=[{"name": "pair", "dtype": "float32", "shape": ["N", 2, 155, 220],
                 "layout": "channel 0 = reference, 1 = query; ink = 1, paper = 0"},
                {"name": "p_genuine", "dtype": "float32", "shape": ["N"], "role": "output"}],
        params={"target": "sdinet"}, sizes={"fp32_bytes": info32["file_bytes"], "int8_bytes": info8["file_bytes"]})
    ship_measured(Path(models_dir or MODELS_DIR), "sdinet", fp32, int8, res, threads)


CROSSWRITER_WORK = "build/offline_crosswriter_pool"


@pool.command("crosswriter")
@click.option("--sets", default="cedar,svc2004-task2,svc2004-task1", show_default=True,
              help="comma-separated sets whose training writers it learns from")
@click.option("--fold", default=0, show_default=True)
@click.option("--steps", default=1600, show_default=True)
@click.option("--batch", default=24, show_default=True)
@click.option("--lr", default=1e-3, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--input-pool", default=4, show_default=True,
              help="in-model average pool of the 224x224 input (1.0.0: 2; 4 costs about half a step)")
@click.option("--levels", default="1,7", show_default=True, help="SPP grid sizes; each divides the final map")
@click.option("--eval-every", default=400, show_default=True,
              help="steps between validation points of the learning curve (the training sets' writers)")
@click.option("--threads", default=1, show_default=True)
@click.option("--work", default=CROSSWRITER_WORK, show_default=True)
@run_options
def crosswriter(sets: str, fold: int, steps: int, batch: int, lr: float, seed: int, input_pool: int, levels: str,
                eval_every: int, threads: int, work: str) -> None:
    """Train the cross-writer network on the fold's training writers of --sets (crosswriter-normalised pool).

    Writes fold<k>.pt (the last step's model), fold<k>.json and the learning curve
    (curve.json, curve.png) in --work; ``ship-crosswriter`` measures and installs it.
    """
    import torch
    from export import checkpoint
    from export.offline.crosswriter import CrossWriterConfig
    from export.offline.crosswriter_pool import ValidationCurve
    from export.offline.crosswriter_train import TrainConfig, fit
    from export.offline.pool import held_out, train_writers
    torch.set_num_threads(threads)
    names = sets.split(",")
    try:
        net = CrossWriterConfig(pool=input_pool, levels=tuple(int(v) for v in levels.split(",")))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    cfg = TrainConfig(steps=steps, batch=batch, lr=lr, seed=seed + fold, net=net)
    train = train_writers(names, fold, "crosswriter")
    val = {ds: held_out([ds], fold, "crosswriter")[0] for ds in names}
    click.echo(f"fold {fold}: {len(train)} training writers of {sets}; curve on "
               f"{sum(len(v) for v in val.values())} validation writers")
    work_dir = Path(work)
    curve = ValidationCurve(val, work_dir, eval_every)
    checkpoint.OBSERVERS.append(curve)
    try:
        model, stats = fit(train, cfg, desc=f"crosswriter fold {fold}")
    finally:
        checkpoint.OBSERVERS.remove(curve)
    if not is_main():
        return
    checkpoint.save_checkpoint(model, cfg, work_dir / f"fold{fold}.pt", {"fold": fold, "sets": names})
    r = {"command": command_line(), "fold": fold, "sets": names, "config": cfg.to_dict(),
         "train_writers": [w.key for w in train], **stats, "curve": curve.points}
    (work_dir / f"fold{fold}.json").write_text(json.dumps(r, indent=1))
    click.echo(f"trained in {stats['train_seconds']:.0f} s; {work_dir / f'fold{fold}.pt'}")


@pool.command("ship-crosswriter")
@click.option("--work", default=CROSSWRITER_WORK, show_default=True, help="where `crosswriter` left fold<k>.pt and .json")
@click.option("--fold", default=0, show_default=True)
@click.option("--sets", default=SETS, show_default=True, help="sets whose validation writers judge it and whose "
              "test writers it is measured on")
@click.option("--threads", default=1, show_default=True)
@click.option("--models-dir", default=None, help="default: the package's models folder")
@click.option("--version", default="2.0.0", show_default=True)
def ship_crosswriter(work: str, fold: int, sets: str, threads: int, models_dir: str | None, version: str) -> None:
    """ONNX, int8 (QDQ convs after the first dense block, dynamic MatMuls), fp32 and int8 measured on the pool;
    installed as ``crosswriter`` only if both files' pooled validation EER is below the installed entry's
    ``selection_eer``, then shipped in the precision ``export.precision`` picks."""
    from edgesig.runtime import MODELS_DIR, Manifest
    from export.offline.crosswriter import IMG
    from export.offline.crosswriter_ship import export_onnx, float_convs, quantize
    from export.offline.crosswriter_train import load_checkpoint
    from export.offline.evaluate import onnx_scorer
    from export.offline.pool import held_out, train_writers
    from export.offline.pool_eval import evaluate, pair_comparator
    from export.offline.ship import calibration_pairs, checked_int8
    work_dir, names = Path(work), sets.split(",")
    r = json.loads((work_dir / f"fold{fold}.json").read_text())
    model, cfg, _ = load_checkpoint(work_dir / f"fold{fold}.pt")
    fp32 = export_onnx(model, work_dir / "crosswriter-fp32.onnx")
    int8 = quantize(fp32, work_dir / "crosswriter-int8.onnx", calibration_pairs(train_writers(r["sets"], fold,
                                                                                              "crosswriter")))
    kept = float_convs(fp32)
    try:
        info32, info8 = checked_int8(fp32, int8, kept, echo=click.echo)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    val, test = held_out(names, fold, "crosswriter")
    res = {name: evaluate(pair_comparator(onnx_scorer(str(path), threads)), val, test)
           for name, path in (("fp32", fp32), ("int8", int8))}
    (work_dir / f"ship_fold{fold}.json").write_text(json.dumps({"command": command_line(), **res}, indent=1))
    for name, m in res.items():
        echo_result({**m, "fold": fold}, f"{name} ")
    manifest = Manifest(models_dir or MODELS_DIR)
    old = manifest.entries.get("crosswriter")
    bar = old.metrics.get("selection_eer", 1.0) if old is not None else 1.0
    if max(res["fp32"]["val_eer"], res["int8"]["val_eer"]) >= bar:
        click.echo(f"NOT installed: pooled validation EER fp32 {100 * res['fp32']['val_eer']:.2f} % / int8 "
                   f"{100 * res['int8']['val_eer']:.2f} % is not below the installed crosswriter's {100 * bar:.2f} %")
        return
    install_pool_model(
        "crosswriter", int8, res, r, names, {"steps": cfg.steps, "batch": cfg.batch}, models_dir, version,
        inputs=[{"name": "pair", "dtype": "float32", "shape": ["N", 2, IMG, IMG],
                 "layout": "channel 0 = reference, 1 = query; gray + moment normalised, ink bright, paper 0"},
                {"name": "p_genuine", "dtype": "float32", "shape": ["N"], "role": "output"}],
        params={"target": "crosswriter", "net": cfg.net.to_dict(), "loss": cfg.loss.to_dict()},
        sizes={"fp32_bytes": info32["file_bytes"], "int8_bytes": info8["file_bytes"], "float_convs": kept})
    ship_measured(Path(manifest.dir), "crosswriter", fp32, int8, res, threads)


def ship_measured(models: Path, name: str, fp32: Path, int8: Path, res: dict[str, dict[str, Any]],
                  threads: int) -> str:
    """Point the entry ``name`` installed in ``models`` at the precision ``export.precision``
    picks and give it that file's measurement (``res``: the pool protocol's result per
    precision); returns the precision. An export that installs one file and lets a later
    command swap it leaves the entry deciding with the other file's threshold (sdinet 2.0,
    sigembed 1.2.0)."""
    from edgesig.runtime import Manifest
    from export.precision import ship_precision
    choice = ship_precision(Manifest(models), name, fp32, int8, threads=threads)
    click.echo(f"precision: {json.dumps(choice.metrics())}")
    use_measured_terms(Manifest(models), name, res[choice.chosen])
    return choice.chosen


def use_measured_terms(manifest: Any, name: str, result: dict[str, Any]) -> None:
    """Give the entry ``name`` what ``result`` (the pool protocol run on the very file the entry
    ships) chose and measured: its terms and threshold, its pooled validation EER (as
    ``selection_eer`` and ``val_eer``) and its test figures. An entry whose file changed since
    it was measured (the precision rule swapping int8 for fp32) would otherwise decide with,
    and report, the other file's threshold and figures."""
    entry = manifest.get(name)
    fold = entry.metrics.get("shipped_fold", {})
    manifest.put(replace(entry, params={**entry.params, "combine": list(result["combine"])},
                         calibration=result["calibration"],
                         metrics={**entry.metrics, "selection_eer": result["val_eer"], "val_eer": result["val_eer"],
                                  "selection_eer_definition": POOLED_DEFINITION,
                                  "val_eer_definition": POOLED_DEFINITION,
                                  "shipped_fold": {**fold, "test": result["test"],
                                                   **({"sets": result["sets"]} if "sets" in result else {})},
                                  "pool": {**result, "file": entry.file}}))


#: Installed image engines ``measure`` scores: the pair networks (their file's batched pair
#: scores) and SigEmbed's two routes (the engine itself, as the kiosk runs it).
MEASURED = ("sdinet", "crosswriter", "sigembed", "sigembed-wd")
PAIR_NETWORKS = ("sdinet", "crosswriter")


@pool.command()
@click.argument("engine", type=click.Choice(MEASURED))
@click.option("--sets", default=SETS, show_default=True)
@click.option("--fold", default=0, show_default=True)
@click.option("--threads", default=1, show_default=True)
@click.option("--models-dir", default=None, help="default: the package's models folder")
@click.option("--record/--no-record", default=False, show_default=True,
              help="give the entry what was measured on its file: terms, threshold, pooled validation EER "
                   "(its selection_eer) and test figures")
@click.option("--parity/--no-parity", default=False, show_default=True,
              help="with --record: measure the entry's other precision (extra.fp32_file / int8_file) on the "
                   "same writers too and record metrics.parity, the shipped file against it")
@click.option("--out", default=None, help="also write the result as JSON here")
def measure(engine: str, sets: str, fold: int, threads: int, models_dir: str | None, record: bool, parity: bool,
            out: str | None) -> None:
    """The file an installed image engine ships, on the fold's validation and test writers of the pool."""
    if parity and not record:  # parity is recorded in the entry: alone it measured the other file for nothing
        raise click.UsageError("--parity records the shipped file against the other precision in the entry: "
                               "add --record")
    from edgesig.runtime import MODELS_DIR, Manifest
    from export.offline.embed_cli import precision_parity
    from export.offline.pool import held_out
    from export.offline.pool_eval import evaluate
    names = sets.split(",")
    manifest = Manifest(models_dir or MODELS_DIR)
    entry = manifest.get(engine)
    val, test = held_out(names, fold, str(entry.params.get("target", engine)))
    r = evaluate(entry_comparator(manifest, entry, threads), val, test)
    r = {"command": command_line(), "engine": engine, "file": entry.file, "sets": names, "fold": fold, **r}
    echo_result(r, f"{engine} ")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(r, indent=1))
    if record:
        use_measured_terms(manifest, engine, r)
        click.echo(f"recorded for {engine} ({entry.file}): terms {'+'.join(r['combine'])}, threshold "
                   f"{r['calibration']['threshold']:.4f}, selection_eer {100 * r['val_eer']:.2f} %")
    if record and parity:
        files = {p: entry.extra[f"{p}_file"] for p in ("fp32", "int8")}
        shipped = next(p for p, f in files.items() if f == entry.file)
        other = "int8" if shipped == "fp32" else "fp32"
        res = {shipped: r, other: evaluate(entry_comparator(manifest, other_file(manifest, entry, files[other]),
                                                            threads), val, test)}
        echo_result({**res[other], "fold": fold}, f"{engine} {files[other]} ")
        entry = manifest.get(engine)
        manifest.put(replace(entry, metrics={**entry.metrics, "parity": precision_parity(res),
                                             "parity_files": files}))
        click.echo(f"recorded parity {files['fp32']} against {files['int8']} for {engine}")


def entry_comparator(manifest: Any, entry: Any, threads: int) -> Any:
    """The comparator ``measure`` scores an entry's file with: a pair network's batched pair
    scores, or SigEmbed's engine itself as the kiosk runs it (its background included)."""
    from edgesig.engines.sigembed import SigEmbedEngine
    from export.offline.evaluate import onnx_scorer
    from export.offline.pool_eval import engine_comparator, pair_comparator
    if entry.name in PAIR_NETWORKS:
        return pair_comparator(onnx_scorer(str(manifest.model_path(entry)), threads))
    return engine_comparator(SigEmbedEngine(entry, threads, manifest))


def other_file(manifest: Any, entry: Any, file: str) -> Any:
    """``entry`` pointed at ``file`` beside it (the precision it does not ship), with that file's sha256."""
    from edgesig.runtime import sha256_file
    return replace(entry, file=file, sha256=sha256_file(manifest.origin(entry.name) / file))


def parse_grids(spec: str) -> tuple[tuple[int, int], ...]:
    """'1x1,2x3' -> ((1, 1), (2, 3)); '' -> no grid."""
    try:
        return tuple((int(h), int(w)) for h, w in (g.split("x") for g in spec.split(",") if g))
    except ValueError:
        raise click.BadParameter(f"{spec!r}: grids are ROWSxCOLUMNS separated by commas, e.g. 1x1,2x3") from None


@pool.command()
@click.option("--sets", default=SETS, show_default=True)
@click.option("--fold", default=0, show_default=True, help="whose validation writers choose terms and threshold")
@click.option("--bins", default=12, show_default=True, help="gradient-direction bins over 180 degrees")
@click.option("--direction-grids", default="1x1,2x3,4x6", show_default=True, callback=lambda c, p, v: parse_grids(v))
@click.option("--lbp-grids", default="", show_default=True, callback=lambda c, p, v: parse_grids(v),
              help="uniform-LBP grids; none in the shipped 1.1.0 (1.0.0: 1x1,2x3, which validated worse on 3 of 4 folds)")
@click.option("--power", default=0.5, show_default=True, help="histogram power normalisation (0.5: Hellinger)")
@click.option("--concavity-grids", default="", show_default=True, callback=lambda c, p, v: parse_grids(v),
              help="concavity-code grids (the `concavity` entry's 2x3,4x6 with --direction-grids '')")
@click.option("--name", type=click.Choice(["descriptor", "concavity"]), default="descriptor", show_default=True,
              help="the entry to install")
@click.option("--ridge", type=float, default=None,
              help="install the writer-dependent route `descriptor-wd` instead: sigembed-wd's user model on the "
                   "rows, against the fold's training writers' background with this covariance ridge")
@click.option("--models-dir", default=None, help="default: the package's models folder")
@click.option("--version", default="1.1.0", show_default=True)
@click.option("--out", default=None, help="also write the result as JSON here")
def descriptor(sets: str, fold: int, bins: int, direction_grids: Any, lbp_grids: Any, power: float,
               concavity_grids: Any, name: str, ridge: float | None, models_dir: str | None, version: str,
               out: str | None) -> None:
    """Install the handcrafted descriptor engine (``edgesig.offline.descriptor``).

    Nothing is trained: it runs as the kiosk runs it on the fold's validation writers of every
    set pooled, which choose its terms and threshold, and is tested on every set's test writers.
    With ``--ridge`` the background of the writer-dependent route is the mean and precision of
    the fold's training writers' rows, shipped beside the manifest as ``descriptor-wd-background.npz``.
    """
    from edgesig.eval.datasets import split
    from edgesig.offline.descriptor import DescriptorConfig
    from edgesig.runtime import MODELS_DIR, Manifest, ModelEntry
    from export.offline.pool import held_out
    from export.offline.pool_eval import descriptor_embedder, embedding_comparator, evaluate
    names = sets.split(",")
    config = DescriptorConfig(bins, direction_grids, lbp_grids, power, concavity_grids)
    if not config.size:
        raise click.BadParameter("no grid of any family: give --direction-grids, --lbp-grids or --concavity-grids")
    if ridge is not None and name != "descriptor":
        raise click.BadParameter(f"--ridge installs the writer-dependent descriptor-wd, not {name}-wd: leave out --name")
    manifest = Manifest(models_dir or MODELS_DIR)
    params = {"descriptor": config.to_params(), "target": "sdinet"}
    embed = descriptor_embedder(config)
    compare, trained_on = embedding_comparator(embed), "nothing (handcrafted)"
    if ridge is not None:
        name = "descriptor-wd"
        compare, background, trained_on = write_background(embed, names, fold, ridge,
                                                           manifest.dir / f"{name}-background.npz")
        params.update(background, ridge=ridge)
    # every SVC2004 Task 2 writer but the validation ones that chose the threshold (writer-dependent:
    # the test writers, as the background saw the training writers)
    parts = ("val", "train") if ridge is not None else ("val",)
    seen = {int(u) for p in parts for u in split("svc2004-task2", p, fold)}
    unseen = sorted(set(range(1, 41)) - seen)
    r = evaluate(compare, *held_out(names, fold, "sdinet"))
    r = {"command": command_line(), "engine": name, "sets": names, "fold": fold, **r}
    echo_result(r, f"{name} ")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(r, indent=1))
    manifest.put(ModelEntry(name=name, version=version, modality="image",
                            params={**params, "combine": r["combine"]}, calibration=r["calibration"],
                            made_by=r["command"],
                            metrics={"val_eer": r["val_eer"], "selection_eer": r["val_eer"],
                                     "selection_eer_definition": POOLED_DEFINITION, "trained_on": trained_on,
                                     "unseen_users": unseen,
                                     "pool": r}))
    click.echo(f"installed {name} {version} in {manifest.dir}")


def write_background(embed: Any, sets: list[str], fold: int, ridge: float, path: Path) -> tuple[Any, dict, str]:
    """The writer-dependent route's background (mean and precision of the fold's training
    writers' rows, float32 as shipped) written to ``path``: its comparator, the entry's
    ``background`` params and what it was built from."""
    from edgesig.runtime import sha256_file
    from export.offline.pool import train_writers
    from export.offline.pool_eval import background, user_model_comparator
    train = train_writers(sets, fold)
    mean, precision = (a.astype(np.float32) for a in background(embed, train, ridge))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, mean=mean, precision=precision)
    compare = user_model_comparator(embed, mean.astype(np.float64), precision.astype(np.float64))
    return (compare, {"background": path.name, "background_sha256": sha256_file(path)},
            f"background only: the rows of fold {fold}'s {len(train)} training writers of {','.join(sets)}")


@pool.command()
@click.option("--members", default="sigembed-wd,sdinet", show_default=True, help="installed image engines to fuse")
@click.option("--sets", default=SETS, show_default=True)
@click.option("--fold", default=0, show_default=True)
@click.option("--step", default=0.05, show_default=True, help="weight grid step (two members: a 1-D grid)")
@click.option("--threads", default=1, show_default=True)
@click.option("--models-dir", default=None, help="default: the package's models folder")
@click.option("--name", default="ensemble", show_default=True, help="the entry to install")
@click.option("--opt-in", default=None, help="install as used only when named, for this reason (too slow, say)")
@click.option("--version", default="2.0.0", show_default=True)
@click.option("--install/--no-install", default=True, show_default=True,
              help="install only if it beats every member's pooled validation objective with every member weighted")
@click.option("--out", default=None, help="also write the result as JSON here")
@click.option("--cache", default=None, help="keep each member's distances here (by fingerprint and fold) for later fits")
@click.option("--objective", type=click.Choice(OBJECTIVES), default="joint", show_default=True,
              help="what the weights and terms minimise on the validation writers: the mean of skilled- and "
                   "random-forgery EER, or skilled only (how 2.4.0 and earlier were fitted)")
def ensemble(members: str, sets: str, fold: int, step: float, threads: int, models_dir: str | None, name: str,
             opt_in: str | None, version: str, install: bool, out: str | None, cache: str | None,
             objective: str) -> None:
    """Fuse installed engines: calibrations and weights on the fold's pooled validation writers, then test.

    Every member runs as the kiosk runs it on the same writers (``ensemble_fit``); a member
    trained or tuned on writers the fold holds out is refused before any scoring. The validation
    writers' random forgeries are scored either way, so a skilled-only fit is reported, and can
    be compared, under the joint rule too.
    """
    from edgesig.errors import EdgesigError
    from edgesig.runtime import MODELS_DIR, Manifest
    from export.offline.ensemble_fit import cached_members, check_members, fit_result, random_distances
    names, set_names = members.split(","), sets.split(",")
    if len(set(names)) < 2:
        raise click.ClickException(f"an ensemble fuses two or more installed engines, got --members {members!r}")
    manifest = Manifest(models_dir or MODELS_DIR)
    entries = [manifest.get(n) for n in names]
    try:
        check_members(entries, fold)
    except EdgesigError as exc:
        raise click.ClickException(str(exc)) from None
    where = Path(cache) if cache else None
    dists = cached_members(manifest, names, set_names, fold, where, threads)
    random = cached_members(manifest, names, set_names, fold, where, threads, random_distances)
    fitted, result = fit_result(dists, random, step, objective)
    result = {"command": command_line(), "fold": fold, "sets": set_names, **result}
    for member, r in result["singles"].items():
        echo_result({**r, "fold": fold}, f"{member} ")
        click.echo(f"  random {100 * r['val_random_eer']:.2f} %, {objective} objective {100 * r['objective']:.2f} %, "
                   f"calibrated alone {100 * result['calibrated_singles'][member]:.2f} %")
    echo_result(result, f"{name} {result['weights']} ")
    click.echo(f"  validation random EER {100 * fitted.judged.val_random_eer:.2f} %, {objective} objective "
               f"{100 * fitted.judged.objective:.2f} %")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=1))
    best = min([r["objective"] for r in result["singles"].values()] + list(result["calibrated_singles"].values()))
    if fitted.judged.objective >= best:
        click.echo(f"NOT installed: validation {objective} objective {100 * fitted.judged.objective:.2f} % does not "
                   f"beat the best member's, alone or calibrated ({100 * best:.2f} %)")
    elif min(fitted.weights) == 0.0:
        click.echo(f"NOT installed: the fit weighs {', '.join(n for n, w in zip(names, fitted.weights) if w == 0.0)} "
                   "at 0; leave it out of --members")
    elif install:
        manifest.put(ensemble_entry(entries, fitted, result, name, version, opt_in))
        click.echo(f"installed {name} {version} in {manifest.dir}; calibrate its enrolment check with "
                   f"`python -m edgesig.eval.enrolment calibrate --engine {name} --install {manifest.dir}`")


#: What the weights and terms of an ensemble entry minimised (``metrics.objective``).
OBJECTIVE_DEFINITION = {
    "joint": "mean of the pooled validation EER on skilled forgeries and on random forgeries (the other validation "
             "writers' genuine signatures of the same part), same writers and conditions",
    "skilled": "pooled validation EER on skilled forgeries"}


def ensemble_entry(entries: list, fitted: Any, result: dict[str, Any], name: str, version: str,
                   opt_in: str | None) -> Any:
    """The manifest entry of a fitted ensemble: each member pinned by its fingerprint, where its
    array lies, its weight and calibration; the pooled validation EER as ``selection_eer``."""
    import time
    from edgesig.eval.datasets import split
    from edgesig.offline.normalize import CROSSWRITER_SHAPE, SDINET_SHAPE
    from edgesig.runtime import ModelEntry
    shapes = {"sdinet": list(SDINET_SHAPE), "crosswriter": list(CROSSWRITER_SHAPE)}

    def place(e: Any) -> tuple[str, list[int]]:
        """Whose normalisation a member starts from, and the shape of what it stores."""
        if e.name == "flow":  # the coarse grid of SDINet's image (FlowEngine.from_normalized)
            return "sdinet", list(e.params["flow"]["grid"])
        if "descriptor" in e.params:  # one descriptor row of SDINet's image (DescriptorEngine.from_normalized)
            from edgesig.offline.descriptor import DescriptorConfig
            return "sdinet", [1, DescriptorConfig.from_params(e.params["descriptor"]).size]
        target = str(e.params.get("target", e.name))
        return target, shapes[target]

    specs = [{"name": e.name, "version": e.version, "sha256": e.fingerprint, "target": place(e)[0],
              "shape": place(e)[1], "weight": w, "calibration": c.to_dict()}
             for e, w, c in zip(entries, fitted.weights, fitted.member_calibrations)]
    fold = result["fold"]
    users = {f"{p}_users": [int(u) for u in split("svc2004-task2", p, fold)] for p in ("val", "test")}
    metrics = {"val_eer": fitted.val_eer, "selection_eer": fitted.val_eer,
               "selection_eer_definition": POOLED_DEFINITION,
               "val_eer_definition": POOLED_DEFINITION + "; the members' calibrations and weights were chosen on "
                                     "these writers too (a 1-D grid for two members), so it is a little optimistic",
               "protocol": "CEDAR scans and rendered online writers (edgesig.eval.datasets fold split), skilled "
                           "forgeries, 5 references, members fused per reference",
               "objective": result["objective"], "val_random_eer": fitted.judged.val_random_eer,
               "val_objective": fitted.judged.objective,
               "objective_definition": OBJECTIVE_DEFINITION[result["objective"]],
               "unseen_users": users["test_users"],
               "shipped_fold": {"fold": fold, "sets": result["sets"], **users, "test": result["test"]},
               "members_val_eer": {k: {"alone": v["val_eer"], "alone_random": v["val_random_eer"],
                                       "alone_objective": v["objective"],
                                       "calibrated_objective": result["calibrated_singles"][k]}
                                   for k, v in result["singles"].items()}}
    return ModelEntry(name=name, version=version, modality="image",
                      params={"members": specs, "combine": list(fitted.combine),
                              "layout": "1-D float32: the members' prepared arrays flattened, in member order, "
                                        "an array two members keep stored once",
                              "fusion": "sum_m w_m (1 - P_m(genuine | d_m))", **({"opt_in": opt_in} if opt_in else {})},
                      calibration=fitted.calibration.to_dict(), metrics=metrics, made_by=result["command"],
                      extra={"created": time.strftime("%Y-%m-%d")})
