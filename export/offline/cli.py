"""``python -m export offline ...``: train, evaluate, export and install SDINet."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click

from edgesig.runtime import MODELS_DIR
from export.offline.cli_common import echo_fold
from export.offline.crosswriter_cli import crosswriter
from export.offline.embed_cli import embed
from export.offline.pool_cli import pool
from export.run_options import DEFAULT_DATA, command_line, is_main, run_options

WORK = "build/offline"


def _options(f):
    for opt in reversed([
        click.option("--data", default=DEFAULT_DATA, show_default=True, help="SVC2004 Task 2 folder"),
        click.option("--steps", default=150, show_default=True, help="training steps per fold"),
        click.option("--batch", default=32, show_default=True, help="pairs per step"),
        click.option("--lr", default=2e-3, show_default=True),
        click.option("--synth", default=0, show_default=True, help="synthetic writers added to training"),
        click.option("--seed", default=0, show_default=True),
        click.option("--threads", default=2, show_default=True, help="torch CPU threads"),
        click.option("--work", default=WORK, show_default=True, help="checkpoints and JSON results"),
    ]):
        f = opt(f)
    return f


def _setup(kw: dict):
    import torch
    from export.offline.data import svc_image_writers, synth_image_writers
    from export.offline.train import TrainConfig
    torch.set_num_threads(kw["threads"])
    svc = {int(w.key[3:]): w for w in svc_image_writers(kw["data"], range(1, 41), seed=kw["seed"])}
    synth = synth_image_writers(kw["synth"], seed=kw["seed"]) if kw["synth"] else []
    cfg = TrainConfig(steps=kw["steps"], batch=kw["batch"], lr=kw["lr"], seed=kw["seed"])
    return svc, synth, cfg


@click.group()
def offline() -> None:
    """The offline image engine (SDINet pair classifier on 155x220 signature images)."""


@offline.command()
@_options
@run_options
@click.option("--folds", default=4, show_default=True)
def cv(folds: int, **kw) -> None:
    """Writer-disjoint k-fold: per fold a checkpoint and metrics under --work."""
    from export.offline.folds import mean_of, run_fold
    from export.checkpoint import save_checkpoint
    svc, synth, cfg = _setup(kw)
    work = Path(kw["work"])
    results = []
    for k in range(folds):
        model, r = run_fold(svc, k, folds, cfg, synth)
        results.append(r)
        if not is_main():
            continue
        save_checkpoint(model, replace(cfg, seed=cfg.seed + k), work / f"fold{k}.pt", {"fold": r})
        echo_fold(f"fold {k}", r)
        (work / "cv.json").write_text(json.dumps({"command": command_line(), "folds": results,
                                                  "mean": mean_of(results)}, indent=1))
    click.echo(json.dumps(mean_of(results)))


@offline.command()
@_options
@run_options
@click.option("--fold", default=0, show_default=True)
@click.option("--folds", default=4, show_default=True)
@click.option("--variants", default="full,-std,-dr,-dts", show_default=True)
def ablate(fold: int, folds: int, variants: str, **kw) -> None:
    """Train the full net and the nets without StD, DR or DtS on one fold."""
    from export.offline.folds import run_fold
    from export.offline.sdinet import SdinetConfig
    svc, synth, cfg = _setup(kw)
    flags = {"full": {}, "-std": {"std": False}, "-dr": {"dr": False}, "-dts": {"dts": False}}
    work = Path(kw["work"])
    out = {}
    for name in variants.split(","):
        _, r = run_fold(svc, fold, folds, replace(cfg, net=SdinetConfig(**flags[name])), synth)
        out[name] = r
        if not is_main():
            continue
        echo_fold(name, r)
        (work / f"ablation_fold{fold}.json").parent.mkdir(parents=True, exist_ok=True)
        (work / f"ablation_fold{fold}.json").write_text(json.dumps({"command": command_line(), "runs": out}, indent=1))


@offline.command()
@click.option("--data", default=DEFAULT_DATA, show_default=True, help="SVC2004 Task 2 folder")
@click.option("--work", default=WORK, show_default=True, help="where `cv` left cv.json and fold<k>.pt")
@click.option("--fold", default=0, show_default=True, help="the fold whose model is shipped")
@click.option("--seed", default=0, show_default=True, help="render seed used by `cv`")
@click.option("--threads", default=2, show_default=True)
@click.option("--models-dir", default=str(MODELS_DIR), show_default=True)
@click.option("--version", default="1.0.0", show_default=True)
def sdinet(data: str, work: str, fold: int, seed: int, threads: int, models_dir: str, version: str) -> None:
    """Export a cross-validated fold's model to ONNX, quantize to int8, check parity, install."""
    import torch
    from export.offline.data import svc_image_writers
    from export.offline.ship import calibration_pairs, checked_int8, install, parity
    from export.offline.to_onnx import export_onnx, quantize
    from export.offline.train import load_checkpoint
    torch.set_num_threads(threads)
    work_dir = Path(work)
    cv_path = work_dir / "cv.json"
    if not cv_path.is_file():
        raise click.ClickException(f"{cv_path} not found; run `python -m export offline cv` first")
    cv = json.loads(cv_path.read_text())
    folds = {f["fold"]: f for f in cv["folds"]}
    if fold not in folds:
        raise click.ClickException(f"fold {fold} is not in {cv_path} (have {sorted(folds)})")
    r = folds[fold]
    model, _, _ = load_checkpoint(work_dir / f"fold{fold}.pt")
    svc = {int(w.key[3:]): w for w in svc_image_writers(data, range(1, 41), seed=seed)}
    fp32 = export_onnx(model, work_dir / "sdinet-fp32.onnx")
    int8 = quantize(fp32, work_dir / "sdinet-int8.onnx",
                    calibration_pairs([svc[u] for u in r["train_users"]], seed=seed))
    try:
        info32, info8 = checked_int8(fp32, int8, echo=click.echo)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    par = parity(fp32, int8, [svc[u] for u in r["test_users"]], tuple(r["combine"]), threads)
    click.echo(f"parity: {json.dumps(par)}")
    entry = install(models_dir, int8, version, r, cv,
                    {"parity": par, "fp32_bytes": info32["file_bytes"], "int8_bytes": info8["file_bytes"],
                     "int8_ops": info8["ops"]}, command_line())
    click.echo(f"installed {entry.name} {entry.version} ({entry.file}) in {models_dir}")


@offline.command()
@click.option("--data", default=DEFAULT_DATA, show_default=True)
@click.option("--work", default=WORK, show_default=True)
@click.option("--fold", default=0, show_default=True)
@click.option("--threads", default=2, show_default=True)
@click.option("--runs", default=100, show_default=True)
def bench(data: str, work: str, fold: int, threads: int, runs: int) -> None:
    """Median latency of one pair: int8 ONNX, fp32 ONNX, torch eager (same pair, same threads)."""
    from edgesig.eval.protocols import load_svc2004
    from edgesig.synth.render import RenderStyle, render
    from export.offline.bench import measure
    from export.offline.data import normalize_direct
    from export.offline.train import load_checkpoint
    import numpy as np
    user = load_svc2004(data, [1])[0]
    rng = np.random.default_rng(0)
    imgs = [normalize_direct(render(p, rng, style=RenderStyle.random(rng, "camera"))) for p in user.genuine[:2]]
    model, _, _ = load_checkpoint(Path(work) / f"fold{fold}.pt")
    res = measure(Path(work) / "sdinet-int8.onnx", Path(work) / "sdinet-fp32.onnx", model, np.stack(imgs),
                  threads, runs)
    click.echo(json.dumps(res))


@offline.command()
@click.option("--data", default=DEFAULT_DATA, show_default=True)
@click.option("--work", default=WORK, show_default=True)
@click.option("--fold", default=0, show_default=True, help="fold whose test users, terms and threshold are used")
@click.option("--onnx", "onnx_path", default=f"{WORK}/sdinet-int8.onnx", show_default=True)
@click.option("--normalizer", type=click.Choice(["direct", "pipeline"]), default="pipeline", show_default=True,
              help="pipeline = the runtime's edgesig.offline.prepare (what SdinetEngine.prepare does)")
@click.option("--seed", default=0, show_default=True)
@click.option("--threads", default=2, show_default=True)
def evaluate(data: str, work: str, fold: int, onnx_path: str, normalizer: str, seed: int, threads: int) -> None:
    """Score an ONNX model on a fold's test writers, with either preprocessing path."""
    from export.offline.data import svc_image_writers
    from export.offline.evaluate import CONDITIONS, condition_distances, onnx_scorer, summarize
    r = {f["fold"]: f for f in json.loads((Path(work) / "cv.json").read_text())["folds"]}[fold]
    writers = svc_image_writers(data, r["test_users"], seed=seed, normalizer=normalizer)
    score = onnx_scorer(onnx_path, threads)
    res = {c: summarize(condition_distances(score, writers, c), tuple(r["combine"]), r["calibration"]["threshold"])
           for c in CONDITIONS}
    click.echo(json.dumps({"onnx": onnx_path, "normalizer": normalizer, "fold": fold, "test": res}))


offline.add_command(crosswriter)  # the cross-writer net
offline.add_command(embed)        # SigEmbed, the writer-classifier embedding
offline.add_command(pool)         # CEDAR + renders: build, SDINet, measure
