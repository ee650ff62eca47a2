"""``python -m export``: the training side's command line (click)."""
from __future__ import annotations

import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path

import click

from edgesig.runtime import MODELS_DIR, Manifest
from export.run_options import is_main, run_options

DEFAULT_DATA = str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "svc2004_task2")


@click.group()
def cli() -> None:
    """Train and export edgesig's learned engines."""


@cli.group()
def online() -> None:
    """The online GRU engine (LNPS + kinematics -> GRU -> per-step embeddings -> DTW)."""


def _train_options(f):
    for opt in reversed([
        click.option("--data", default=DEFAULT_DATA, show_default=True, help="SVC2004 Task 2 folder"),
        click.option("--steps", default=300, show_default=True, help="training steps on real writers"),
        click.option("--batch", default=16, show_default=True, help="triplets per step"),
        click.option("--synth", default=0, show_default=True, help="synthetic writers for pretraining (0 = none)"),
        click.option("--synth-steps", default=150, show_default=True, help="pretraining steps"),
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
    ]):
        f = opt(f)
    return f


def _config(kw: dict):
    from export.online.data import Augment
    from export.online.train import TrainConfig
    cfg = TrainConfig(steps=kw["steps"], batch=kw["batch"], lr=kw["lr"], weight_decay=kw["weight_decay"],
                      triplet_weight=kw["triplet_weight"], center_weight=kw["center_weight"],
                      margin=kw["margin"], seed=kw["seed"], p_forgery=kw["p_forgery"],
                      dropout=kw["dropout"], hard_frac=kw["hard_frac"])
    return replace(cfg, augment=Augment()) if kw["no_augment"] else cfg


def _command() -> str:
    return "python -m export " + " ".join(shlex.quote(a) for a in sys.argv[1:])


@online.command()
@_train_options
@run_options
@click.option("--out", default="build/online/gru.pt", show_default=True, help="checkpoint")
def train(out: str, **kw) -> None:
    """Train on all 40 SVC2004 writers (plus synthetic pretraining) and save a checkpoint."""
    from export.online.data import svc_writers
    from export.online.pipeline import fit, load_synth
    from export.online.train import save_checkpoint
    cfg = _config(kw)
    synth, note = load_synth(kw["synth"], kw["seed"])
    click.echo(f"synthetic pretraining: {note}")
    model = fit(svc_writers(kw["data"], range(1, 41)), synth, cfg, kw["synth_steps"], "train")
    if is_main():
        save_checkpoint(model, cfg, out, {"synthetic": note, "made_by": _command()})
        click.echo(f"wrote {out}")


@online.command()
@_train_options
@run_options
@click.option("--folds", default=4, show_default=True)
@click.option("--out", default="build/online/cv.json", show_default=True, help="per-fold results + val scores")
@click.option("--fold-seed", default=None, type=int, help="seed of the writer folds (default: --seed)")
@click.option("--only-folds", default=None, help="comma-separated fold indices to run (default: all)")
@click.option("--snapshots", default="", help="comma-separated training steps at which to also score each fold")
def evaluate(out: str, folds: int, fold_seed: int | None, only_folds: str | None, snapshots: str, **kw) -> None:
    """Writer-independent k-fold evaluation; writes per-fold metrics and validation scores."""
    from export.online.pipeline import cross_validate, load_synth
    cfg = _config(kw)
    synth, note = load_synth(kw["synth"], kw["seed"])
    click.echo(f"synthetic pretraining: {note}")
    only = [int(x) for x in only_folds.split(",")] if only_folds else None
    snaps = [int(x) for x in snapshots.split(",") if x.strip()]
    cv = cross_validate(kw["data"], cfg, synth, kw["synth_steps"], folds, fold_seed=fold_seed,
                        only_folds=only, snapshots=snaps)
    cv.update(synthetic=note, command=_command())
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
    synth, note = load_synth(kw["synth"], kw["seed"])
    click.echo(f"synthetic pretraining: {note}")
    work_dir = Path(work)
    if is_main():
        work_dir.mkdir(parents=True, exist_ok=True)
    if cv_path:
        cv = json.loads(Path(cv_path).read_text())
    else:
        cv = cross_validate(kw["data"], cfg, synth, kw["synth_steps"], folds)
        cv.update(synthetic=note, command=_command())
        if is_main():
            (work_dir / "cv.json").write_text(json.dumps(cv, indent=1))
    model = fit(svc_writers(kw["data"], range(1, 41)), synth, cfg, kw["synth_steps"], "final")
    if not is_main():
        return  # export, quantization, parity and install are rank 0's
    save_checkpoint(model, cfg, work_dir / "gru.pt", {"synthetic": note, "made_by": _command()})
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
                    _command(), version, f"SVC2004 Task 2 users 1-40; pretraining: {note}")
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
    commands = [cv.get("command", "") for cv in loaded.values() if cv.get("command")] + [_command()]
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
    """Time the fp32 and int8 files of installed model NAME; ship int8 only if >= 1.3x faster."""
    from export.precision import ship_precision
    choice = ship_precision(Manifest(models_dir), name, Path(fp32), Path(int8), threads=threads)
    click.echo(f"{name}: fp32 {choice.fp32_ms:.3f} ms, int8 {choice.int8_ms:.3f} ms "
               f"(int8 {choice.speedup:.2f}x, needs {choice.min_speedup}x): ships {choice.chosen}")


from export.offline.cli import offline  # noqa: E402  (the offline SDINet commands)
cli.add_command(offline)

if __name__ == "__main__":
    cli()
