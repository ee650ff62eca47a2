"""``python -m export``: the training side's command line (click)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click

from edgesig.runtime import MODELS_DIR, Manifest
from export.run_options import DEFAULT_DATA, command_line, is_main, run_options


@click.group()
def cli() -> None:
    """Train and export edgesig's learned engines."""


@cli.group()
def online() -> None:
    """The online GRU engine (LNPS + kinematics -> GRU -> per-step embeddings -> DTW)."""


def _train_options(f):
    for opt in reversed([
        click.option("--steps", default=300, show_default=True, help="training steps on real writers"),
        click.option("--batch", default=16, show_default=True, help="triplets per step"),
        click.option("--synth", default=0, show_default=True,
                     help="edgesig.synth writers to pretrain on and/or mix in (0 = none)"),
        click.option("--synth-steps", default=150, show_default=True, help="pretraining steps on them (0: none)"),
        click.option("--synth-share", default=0.0, show_default=True,
                     help="share of each batch's writers drawn from the --synth writers during the real "
                          "training (0: they only pretrain)"),
        click.option("--margin", default=1.0, show_default=True),
        click.option("--center-weight", default=0.5, show_default=True),
        click.option("--triplet-weight", default=1.0, show_default=True),
        click.option("--weight-decay", default=1e-4, show_default=True),
        click.option("--lr", default=1e-3, show_default=True),
        click.option("--no-augment", is_flag=True, help="disable scale/rotation/time-warp augmentation"),
        click.option("--seed", default=0, show_default=True),
        click.option("--p-forgery", default=0.5, show_default=True,
                     help="chance a triplet's negative is a skilled forgery of the anchor's writer"),
        click.option("--dropout", default=0.0, show_default=True, help="dropout between the GRU layers (training)"),
        click.option("--hard-frac", default=1.0, show_default=True,
                     help="< 1: triplet loss over only the hardest fraction of each batch"),
        click.option("--hidden", default=128, show_default=True, help="GRU width (both layers)"),
        click.option("--drop-pressure", default=0.0, show_default=True,
                     help="chance an augmented sample loses its pressure channel, as on a pad without one"),
    ]):
        f = opt(f)
    return f


def _config(kw: dict):
    from export.online.data import Augment
    from export.online.train import TrainConfig
    cfg = TrainConfig(steps=kw["steps"], batch=kw["batch"], lr=kw["lr"], weight_decay=kw["weight_decay"],
                      triplet_weight=kw["triplet_weight"], center_weight=kw["center_weight"],
                      margin=kw["margin"], seed=kw["seed"], p_forgery=kw["p_forgery"],
                      dropout=kw["dropout"], hard_frac=kw["hard_frac"], hidden=kw["hidden"],
                      synth_share=kw["synth_share"])
    if kw["no_augment"]:
        return replace(cfg, augment=Augment(drop_pressure=kw["drop_pressure"]))
    return replace(cfg, augment=replace(cfg.augment, drop_pressure=kw["drop_pressure"]))


_data_option = click.option("--data", default=DEFAULT_DATA, show_default=True, help="SVC2004 Task 2 folder")


@online.command()
@_train_options
@run_options
@click.option("--sets", default="all", show_default=True, help="comma-separated online sets, or all of them")
@click.option("--fold", default=0, show_default=True, help="fold of edgesig/eval/splits.json (0: the fixed split)")
@click.option("--root", default=None, help="data root holding the sets (default: ../shared/data)")
@click.option("--every", default=100, show_default=True, help="score the validation writers every N steps")
@click.option("--work", default="build/online/pooled", show_default=True,
              help="gru.pt (best mean validation EER), gru_last.pt, curve.json, curve.png")
def train(sets: str, fold: int, root: str | None, every: int, work: str, **kw) -> None:
    """Train on the pooled train writers of every set; learning curve and checkpoints in --work."""
    from edgesig.eval.protocols import ONLINE_SETS
    from export.online.data import pooled_writers
    from export.online.pipeline import fit, load_synth
    from export.online.pooled import LearningCurve
    cfg = _config(kw)
    names = list(ONLINE_SETS) if sets == "all" else [s.strip() for s in sets.split(",") if s.strip()]
    train_sets, val = pooled_writers(names, "train", fold, root), pooled_writers(names, "val", fold, root)
    synth, note = load_synth(kw["synth"], kw["seed"], kw["synth_steps"], cfg.synth_share)
    click.echo(f"synthetic writers: {note}; train writers "
               + ", ".join(f"{k} {len(v)}" for k, v in train_sets.items()))
    info = {"sets": names, "fold": fold, "synthetic": note, "made_by": command_line(),
            "train_writers": {k: len(v) for k, v in train_sets.items()}}
    curve = LearningCurve(val, cfg, Path(work), every, info)
    fit([w for ws in train_sets.values() for w in ws], synth, cfg, kw["synth_steps"], "train", callback=curve)
    if not is_main():
        return  # the learning curve is scored and written by rank 0 only
    best = min(curve.points, key=lambda p: p["mean_val_eer"])
    click.echo(f"best step {best['step']}: mean val EER {100 * best['mean_val_eer']:.2f} %; wrote {work}")


@online.command()
@click.option("--work", default="build/online/pooled", show_default=True, help="the folder `train` wrote")
@click.option("--ckpt", default=None, help="checkpoint to ship (default: WORK/gru.pt, the best validation step)")
@click.option("--root", default=None, help="data root holding the sets (default: ../shared/data)")
@click.option("--models-dir", default=str(MODELS_DIR), show_default=True)
@click.option("--version", default="2.0.0", show_default=True)
def ship(work: str, ckpt: str | None, root: str | None, models_dir: str, version: str) -> None:
    """int8 ONNX of a `train` checkpoint, installed as gru and gru-nopressure with figures per set."""
    import torch
    from export.online.data import pooled_writers
    from export.online.ship import ship as run_ship
    path = Path(ckpt or Path(work) / "gru.pt")
    info = torch.load(path, map_location="cpu", weights_only=False)["info"]
    val, test = (pooled_writers(info["sets"], part, info["fold"], root) for part in ("val", "test"))
    protocol = (f"{', '.join(info['sets'])} (fold {info['fold']} of edgesig/eval/splits.json), skilled forgeries, "
                "5 references, one threshold from all validation writers")
    for entry in run_ship(path, Path(work), Path(models_dir), val, test, version,
                          f"{info['made_by']} && {command_line()}", protocol):
        click.echo(f"installed {entry.name} {entry.version}: mean val EER {100 * entry.metrics['val_eer']:.2f} %; "
                   + "  ".join(f"{k} test {100 * f['test_eer']:.2f} %" for k, f in entry.metrics["per_set"].items()))


@online.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--from", "source", required=True, type=click.Path(exists=True, file_okay=False),
              help="the models folder `edgesig tune online ... --install DIR` wrote")
@click.option("--models-dir", default=str(MODELS_DIR), show_default=True)
@click.option("--version", default=None, help="version to ship them as (default: as tuned); a new version "
                                              "makes users enrolled with other parameters enrol again")
def adopt(names: tuple[str, ...], source: str, models_dir: str, version: str | None) -> None:
    """Copy tuned entries NAMES into the package's manifest (fields of the entries they replace kept)."""
    from dataclasses import replace as with_fields
    from edgesig.eval.tuning import merged_entry
    tuned, target = Manifest(source), Manifest(models_dir)
    for name in names:
        entry = tuned.get(name)
        entry = with_fields(entry, version=version) if version else entry
        target.put(merged_entry(target.entries.get(name), entry, entry.made_by))
        click.echo(f"adopted {name} {entry.version} from {source} into {target.path}")


@online.command()
@click.option("--engines", default="dtw,gru", show_default=True, help="pen engines to compare")
@click.option("--sets", default="all", show_default=True, help="comma-separated pen sets, or all of them")
@click.option("--models-dir", default=str(MODELS_DIR), show_default=True)
def choose(engines: str, sets: str, models_dir: str) -> None:
    """Record each pen engine's mean validation EER over the sets; `auto` runs the lowest."""
    from edgesig.engines import best_engine
    from edgesig.eval.protocols import ONLINE_SETS
    from export.online.select import record_selection
    names = list(ONLINE_SETS) if sets == "all" else [x.strip() for x in sets.split(",") if x.strip()]
    for name, per_set in record_selection(Manifest(models_dir), engines.split(","), names).items():
        click.echo(f"{name}: mean validation EER {sum(per_set.values()) / len(per_set):.2%} ("
                   + ", ".join(f"{k} {v:.2%}" for k, v in per_set.items()) + ")")
    click.echo(f"auto: {best_engine(Manifest(models_dir), 'pen')}")


@online.command()
@_train_options
@run_options
@_data_option
@click.option("--folds", default=4, show_default=True)
@click.option("--out", default="build/online/cv.json", show_default=True, help="per-fold results + val scores")
@click.option("--fold-seed", default=None, type=int, help="seed of the writer folds (default: --seed)")
@click.option("--only-folds", default=None, help="comma-separated fold indices to run (default: all)")
@click.option("--snapshots", default="", help="comma-separated training steps at which to also score each fold")
def evaluate(out: str, folds: int, fold_seed: int | None, only_folds: str | None, snapshots: str, **kw) -> None:
    """Writer-independent k-fold evaluation; writes per-fold metrics and validation scores."""
    from export.online.pipeline import cross_validate, load_synth
    cfg = _config(kw)
    synth, note = load_synth(kw["synth"], kw["seed"], kw["synth_steps"], cfg.synth_share)
    click.echo(f"synthetic writers: {note}")
    only = [int(x) for x in only_folds.split(",")] if only_folds else None
    snaps = [int(x) for x in snapshots.split(",") if x.strip()]
    cv = cross_validate(kw["data"], cfg, synth, kw["synth_steps"], folds, fold_seed=fold_seed,
                        only_folds=only, snapshots=snaps)
    cv.update(synthetic=note, command=command_line())
    if not is_main():
        return
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(cv, indent=1))
    for f in cv["folds"]:
        click.echo(f"fold {f['fold']}: EER {100 * f['eer']:.2f} %  FAR {100 * f['far']:.2f} %  "
                   f"FRR {100 * f['frr']:.2f} %  AUC {f['auc']:.4f}  user EER {100 * f['mean_user_eer']:.2f} %")
    click.echo(f"mean EER {100 * cv['mean']['eer']:.2f} %  (wrote {out})")


@online.command("export")
@click.option("--ckpt", default="build/online/gru.pt", show_default=True)
@click.option("--out", default="build/online/gru_fp32.onnx", show_default=True)
def export_cmd(ckpt: str, out: str) -> None:
    """Export a checkpoint to the Scan-based fp32 ONNX graph."""
    from export.online.to_onnx import export_onnx
    from export.online.train import load_checkpoint
    model, _ = load_checkpoint(ckpt)
    click.echo(f"wrote {export_onnx(model, out)}")


@online.command()
@click.option("--fp32", default="build/online/gru_fp32.onnx", show_default=True)
@click.option("--out", default="build/online/gru_int8.onnx", show_default=True)
def quantize(fp32: str, out: str) -> None:
    """Quantize to int8 and show op-type counts and weight dtypes of both files."""
    from export.online.quantize import inspect, is_int8, quantize as run_quantize
    run_quantize(fp32, out)
    for path in (fp32, out):
        info = inspect(path)
        click.echo(f"{path}: {info['file_bytes']} bytes, weights {info['weight_matrices']}, ops {info['ops']}")
    if not is_int8(inspect(out)):
        raise click.ClickException(f"{out} still has float weight matrices or float MatMuls")


@online.command("all")
@_train_options
@run_options
@_data_option
@click.option("--folds", default=4, show_default=True)
@click.option("--cv", "cv_path", default=None, help="reuse a cross-validation JSON from `evaluate`")
@click.option("--models-dir", default=str(MODELS_DIR), show_default=True)
@click.option("--work", default="build/online", show_default=True)
@click.option("--version", default="1.1.0", show_default=True)
@click.option("--parity-users", default="1-40", show_default=True)
def all_cmd(folds: int, cv_path: str | None, models_dir: str, work: str, version: str,
            parity_users: str, **kw) -> None:
    """Cross-validate, train on all writers, export, quantize, check parity, install."""
    import shutil
    from edgesig.eval.protocols import parse_users
    from export.online.data import svc_writers
    from export.online.parity import parity
    from export.online.pipeline import cross_validate, fit, install, load_synth, pooled_calibration
    from export.online.quantize import inspect, is_int8, quantize as run_quantize
    from export.online.to_onnx import export_onnx
    from export.online.train import save_checkpoint
    from export.precision import ship_precision
    cfg = _config(kw)
    synth, note = load_synth(kw["synth"], kw["seed"], kw["synth_steps"], cfg.synth_share)
    click.echo(f"synthetic writers: {note}")
    work_dir = Path(work)
    if is_main():
        work_dir.mkdir(parents=True, exist_ok=True)
    if cv_path:
        cv = json.loads(Path(cv_path).read_text())
    else:
        cv = cross_validate(kw["data"], cfg, synth, kw["synth_steps"], folds)
        cv.update(synthetic=note, command=command_line())
        if is_main():
            (work_dir / "cv.json").write_text(json.dumps(cv, indent=1))
    model = fit(svc_writers(kw["data"], range(1, 41)), synth, cfg, kw["synth_steps"], "final")
    if not is_main():
        return  # export, quantization, parity and install are rank 0's
    save_checkpoint(model, cfg, work_dir / "gru.pt", {"synthetic": note, "made_by": command_line()})
    fp32 = export_onnx(model, work_dir / "gru_fp32.onnx")
    int8 = run_quantize(fp32, work_dir / "gru_int8.onnx")
    info32, info8 = inspect(fp32), inspect(int8)
    if not is_int8(info8):
        raise click.ClickException(f"{int8} still has float weight matrices or float MatMuls")
    writers = svc_writers(kw["data"], parse_users(parity_users))
    par = parity(fp32, int8, writers, cfg.features, cfg.band)
    click.echo(f"parity: {par}")
    target = Path(models_dir)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(int8, target / "gru_int8.onnx")
    shutil.copyfile(fp32, target / "gru_fp32.onnx")
    metrics = {"val_eer": cv["mean"]["eer"], "val_eer_definition":
               f"mean over {len(cv['folds'])} writer-independent folds of the test EER",
               "cv_mean": cv["mean"], "cv_folds": [{k: f[k] for k in ("fold", "eer", "far", "frr", "auc",
                                                                    "mean_user_eer")} for f in cv["folds"]],
               "parity": par, "fp32_bytes": info32["file_bytes"], "int8_bytes": info8["file_bytes"],
               "int8_ops": info8["ops"], "unseen_users": []}  # the shipped model trains on all 40
    entry = install(target, target / "gru_int8.onnx", cfg, pooled_calibration(cv), metrics,
                    command_line(), version, f"SVC2004 Task 2 users 1-40; pretraining: {note}")
    choice = ship_precision(Manifest(target), "gru", target / "gru_fp32.onnx", target / "gru_int8.onnx")
    click.echo(f"installed {entry.name} {entry.version} in {target} (val_eer {100 * cv['mean']['eer']:.2f} %); "
               f"int8 runs at {choice.speedup:.2f}x fp32, so {choice.chosen} ships")


@online.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--out", default="benchmarks/RESULTS_online_gru.md", show_default=True)
def report(runs: tuple[str, ...], out: str) -> None:
    """Write the results table from cross-validation JSONs given as NAME=PATH."""
    from export.online.pipeline import results_markdown
    loaded = {}
    for spec in runs:
        name, _, path = spec.partition("=")
        loaded[name] = json.loads(Path(path).read_text())
    commands = [cv.get("command", "") for cv in loaded.values() if cv.get("command")] + [command_line()]
    Path(out).write_text(results_markdown(loaded, commands))
    click.echo(f"wrote {out}")


@online.command()
@click.option("--data", default=DEFAULT_DATA, show_default=True)
@click.option("--ckpt", default="build/online/gru.pt", show_default=True, help="for the torch eager baseline")
@click.option("--points", default=1000, show_default=True)
@click.option("--runs", default=50, show_default=True)
def bench(data: str, ckpt: str, points: int, runs: int) -> None:
    """Median verify_stroke latency, int8 ONNX engine vs torch eager, one thread."""
    from edgesig.eval.protocols import load_svc2004
    from export.online.latency import long_signature, measure
    user = load_svc2004(data, [1])[0]
    click.echo(json.dumps(measure(user.genuine[:5], long_signature(user.genuine[5:], points), ckpt, runs)))


@cli.command()
@click.argument("name")
@click.option("--fp32", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--int8", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--models-dir", default=str(MODELS_DIR), show_default=True)
@click.option("--threads", default=1, show_default=True)
def precision(name: str, fp32: str, int8: str, models_dir: str, threads: int) -> None:
    """Time the fp32 and int8 files of installed model NAME; ship int8 only if >= 1.3x faster.

    The entry keeps its terms and threshold: where the file it ships changes, they are the
    other file's until that file is measured (how sdinet 2.0 shipped fp32 at int8's threshold)."""
    from export.precision import ship_precision
    before = Manifest(models_dir).get(name).file
    choice = ship_precision(Manifest(models_dir), name, Path(fp32), Path(int8), threads=threads)
    click.echo(f"{name}: fp32 {choice.fp32_ms:.3f} ms, int8 {choice.int8_ms:.3f} ms "
               f"(int8 {choice.speedup:.2f}x, needs {choice.min_speedup}x): ships {choice.chosen}")
    after = Manifest(models_dir).get(name).file
    if after != before:
        click.echo(f"{name} now ships {after} instead of {before}: its terms and threshold are still those "
                   f"measured on {before}; measure {after} and record them (an image engine: python -m "
                   f"export offline pool measure {name} --record)")


from export.offline.cli import offline  # noqa: E402  (the offline SDINet commands)
cli.add_command(offline)

if __name__ == "__main__":
    cli()
