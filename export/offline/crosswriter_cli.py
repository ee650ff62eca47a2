"""``python -m export offline crosswriter ...``: train, evaluate, ship and benchmark the cross-writer
network (the offline ensemble is fitted on the training pool: ``python -m export offline pool ensemble``).

Everything runs with one torch thread by default: the training machine is a shared
2-core CPU and oversubscribed threads made training ten times slower.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from edgesig.runtime import MODELS_DIR
from export.offline.cli_common import echo_fold
from export.run_options import DEFAULT_DATA, command_line, is_main, run_options

WORK = "build/offline_crosswriter"
ABLATIONS = {"full": ({}, {}), "-simam": ({"simam": False}, {}), "-spp": ({"spp": False}, {}),
             "-xattn": ({"cross_attention": False}, {}), "contrastive": ({}, {"focal": False})}


def _setup(data: str, seed: int, threads: int):
    import torch
    from export.offline.crosswriter_data import svc_image_writers
    torch.set_num_threads(threads)
    return {int(w.key[3:]): w for w in svc_image_writers(data, range(1, 41), seed=seed)}


@click.group()
def crosswriter() -> None:
    """The cross-writer attention network (224x224 Siamese DenseNet)."""


@crosswriter.command()
@click.option("--data", default=DEFAULT_DATA, show_default=True, help="SVC2004 Task 2 folder")
@click.option("--folds", default=4, show_default=True, help="fold count of the split (as SDINet's)")
@click.option("--only", default="", help="comma-separated folds to run (default: all)")
@click.option("--variants", default="full", show_default=True,
              help=f"comma-separated runs out of {', '.join(ABLATIONS)}")
@click.option("--steps", default=300, show_default=True)
@click.option("--batch", default=24, show_default=True)
@click.option("--lr", default=1e-3, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--threads", default=1, show_default=True, help="torch CPU threads")
@click.option("--work", default=WORK, show_default=True)
@run_options
def cv(data: str, folds: int, only: str, variants: str, steps: int, batch: int, lr: float, seed: int,
       threads: int, work: str) -> None:
    """Writer-disjoint folds (and ablations): <variant>_fold<k>.pt and results_<variant>.json."""
    from export.offline.crosswriter import CrossWriterConfig, LossConfig
    from export.checkpoint import save_checkpoint
    from export.offline.crosswriter_train import TrainConfig, run_fold
    svc = _setup(data, seed, threads)
    work_dir = Path(work)
    ks = [int(k) for k in only.split(",")] if only else list(range(folds))
    for name in variants.split(","):
        net_kw, loss_kw = ABLATIONS[name]
        out_path = work_dir / f"results_{name}.json"
        results = json.loads(out_path.read_text()) if out_path.is_file() else {"runs": {}}
        for k in ks:
            cfg = TrainConfig(steps=steps, batch=batch, lr=lr, seed=seed + k, net=CrossWriterConfig(**net_kw),
                              loss=LossConfig(**loss_kw))
            model, r = run_fold(svc, k, folds, cfg)
            if not is_main():
                continue
            r["command"] = command_line()
            save_checkpoint(model, cfg, work_dir / f"{name}_fold{k}.pt", {"fold": r})
            results["runs"][f"fold{k}"] = r
            out_path.write_text(json.dumps(results, indent=1))
            echo_fold(f"{name} fold {k}", r)


def _fold_result(work_dir: Path, variant: str, fold: int) -> dict:
    path = work_dir / f"results_{variant}.json"
    runs = json.loads(path.read_text())["runs"] if path.is_file() else {}
    if f"fold{fold}" not in runs:
        raise click.ClickException(f"no {variant} fold {fold} in {path}; run `python -m export offline "
                                   f"crosswriter cv --only {fold}` first")
    return runs[f"fold{fold}"]


@crosswriter.command()
@click.option("--data", default=DEFAULT_DATA, show_default=True)
@click.option("--work", default=WORK, show_default=True, help="where `cv` left results_full.json and checkpoints")
@click.option("--fold", default=0, show_default=True, help="the fold whose model is shipped")
@click.option("--seed", default=0, show_default=True, help="render seed used by `cv`")
@click.option("--threads", default=1, show_default=True)
@click.option("--models-dir", default=str(MODELS_DIR), show_default=True)
@click.option("--version", default="1.0.0", show_default=True)
def ship(data: str, work: str, fold: int, seed: int, threads: int, models_dir: str, version: str) -> None:
    """Export the fold's model to ONNX, quantize to int8, check parity on its test writers, install."""
    from export.offline.crosswriter_ship import export_onnx, float_convs, install, quantize
    from export.offline.crosswriter_train import load_checkpoint
    from export.offline.ship import calibration_pairs, checked_int8, parity
    svc = _setup(data, seed, threads)
    work_dir = Path(work)
    r = _fold_result(work_dir, "full", fold)
    model, _, _ = load_checkpoint(work_dir / f"full_fold{fold}.pt")
    fp32 = export_onnx(model, work_dir / "crosswriter-fp32.onnx")
    int8 = quantize(fp32, work_dir / "crosswriter-int8.onnx",
                    calibration_pairs([svc[u] for u in r["train_users"]], n=256, seed=seed))
    kept_float = float_convs(fp32)
    try:
        info32, info8 = checked_int8(fp32, int8, kept_float, echo=click.echo)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    par = parity(fp32, int8, [svc[u] for u in r["test_users"]], tuple(r["combine"]), threads)
    click.echo(f"parity: {json.dumps(par)}")
    entry = install(models_dir, int8, version, r,
                    {"parity": par, "fp32_bytes": info32["file_bytes"], "int8_bytes": info8["file_bytes"],
                     "fp32_ops": info32["ops"], "int8_ops": info8["ops"],
                     "int8_initializer_bytes": info8["initializer_bytes"], "float_convs": kept_float},
                    command_line())
    click.echo(f"installed {entry.name} {entry.version} ({entry.file}) in {models_dir}")


@crosswriter.command()
@click.option("--data", default=DEFAULT_DATA, show_default=True)
@click.option("--work", default=WORK, show_default=True)
@click.option("--fold", default=0, show_default=True)
@click.option("--threads", default=2, show_default=True)
@click.option("--runs", default=100, show_default=True)
def bench(data: str, work: str, fold: int, threads: int, runs: int) -> None:
    """Median latency of one pair: int8 ONNX, fp32 ONNX, torch eager (same pair, same threads).

    Also the median CPU time of one single-threaded int8 / fp32 call (``time.process_time``):
    on a shared, oversubscribed machine that is what the pair costs an idle core.
    """
    import statistics
    import time
    from edgesig.runtime import InferSession
    from export.offline.bench import measure
    from export.offline.crosswriter_train import load_checkpoint
    from export.offline.data import CAMERA, to_float
    from export.offline.crosswriter_data import svc_image_writers
    w = svc_image_writers(data, range(1, 41))[0]
    pair = to_float(w.genuine[:2, CAMERA])
    model, _, _ = load_checkpoint(Path(work) / f"full_fold{fold}.pt")
    out = measure(Path(work) / "crosswriter-int8.onnx", Path(work) / "crosswriter-fp32.onnx", model, pair,
                  threads, runs)
    for name in ("int8", "fp32"):
        sess = InferSession(Path(work) / f"crosswriter-{name}.onnx", threads=1)
        feeds = {sess.input_names[0]: pair[None]}
        cpu = []
        for _ in range(runs):
            t0 = time.process_time()
            sess.run(feeds)
            cpu.append((time.process_time() - t0) * 1e3)
        out[f"{name}_onnx_cpu_ms_1thread"] = statistics.median(cpu)
    out["load_average_1min"] = __import__("os").getloadavg()[0]
    click.echo(json.dumps(out))


@crosswriter.command("verify-latency")
@click.option("--data", default=DEFAULT_DATA, show_default=True)
@click.option("--engines", default="sdinet,crosswriter,ensemble", show_default=True)
@click.option("--threads", default=2, show_default=True)
@click.option("--runs", default=30, show_default=True)
@click.option("--models-dir", default=str(MODELS_DIR), show_default=True)
def verify_latency(data: str, engines: str, threads: int, runs: int, models_dir: str) -> None:
    """Median Verifier.verify_image against 5 references (camera renders), preprocessing included.

    Wall time, and the process CPU time of the same calls (all threads summed): on a shared,
    oversubscribed machine the CPU time is the better estimate of an idle device's latency.
    """
    import statistics
    import time
    import numpy as np
    from edgesig.eval.protocols import load_svc2004
    from edgesig.synth.render import RenderStyle, render
    from edgesig.verifier import Verifier
    user = load_svc2004(data, [1])[0]
    rng = np.random.default_rng(0)
    imgs = [render(p, rng, style=RenderStyle.random(rng, degradation="camera")) for p in user.genuine[:6]]
    out = {"threads": threads, "runs": runs, "image_shape": list(imgs[5].shape)}
    for name in engines.split(","):
        v = Verifier(engine="dtw", image_engine=name, models_dir=models_dir, threads=threads)
        v.enroll_images("u1", imgs[:5])
        for _ in range(3):
            v.verify_image("u1", imgs[5])
        times, cpu = [], []
        for _ in range(runs):
            t0, c0 = time.perf_counter(), time.process_time()
            v.verify_image("u1", imgs[5])
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        out[f"{name}_verify_image_ms"] = statistics.median(times)
        out[f"{name}_verify_image_cpu_ms"] = statistics.median(cpu)
    out["load_average_1min"] = __import__("os").getloadavg()[0]
    click.echo(json.dumps(out))
