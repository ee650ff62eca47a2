"""``python -m export offline crosswriter ...``: train, evaluate, ship and benchmark the cross-writer
network, and fit the offline ensemble (SDINet + cross-writer, optionally + flow for comparison).

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
    """The cross-writer attention network (224x224 Siamese DenseNet) and the offline ensemble."""


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


@crosswriter.command()
@click.option("--data", default=DEFAULT_DATA, show_default=True)
@click.option("--work", default=WORK, show_default=True, help="where the fit's JSON goes")
@click.option("--members", default="sdinet,crosswriter", show_default=True, help="installed engines to fuse")
@click.option("--seed", default=0, show_default=True, help="render seed of both models' data")
@click.option("--threads", default=2, show_default=True)
@click.option("--step", default=0.1, show_default=True, help="weight grid step")
@click.option("--models-dir", default=str(MODELS_DIR), show_default=True)
@click.option("--version", default="1.0.0", show_default=True)
@click.option("--install/--no-install", default=True, show_default=True,
              help="install only if the ensemble beats every member on validation")
@click.option("--with-flow", default=None, type=click.Path(exists=True, dir_okay=False),
              help="also fit a 3-member ensemble with this flow model (`flow_train --out` JSON, trained on "
                   "none of the fold's validation or test writers); installed as the opt-in 'ensemble-flow' "
                   "if flow helps and is the installed flow model")
def ensemble(data: str, work: str, members: str, seed: int, threads: int, step: float, models_dir: str,
             version: str, install: bool, with_flow: str | None) -> None:
    """Fit the ensemble's calibrations and weights on the shipped fold's validation writers, test it.

    With ``--with-flow`` the flow engine is the optional third member, fitted by the same
    protocol; it counts as helping only if the weight search gives it a non-zero weight
    and the validation EER improves on the two-member fit (issue 10). Then it is installed
    as ``ensemble-flow``, used only when named: its flow comparisons put verify_image over
    the 40 ms budget that ``ensemble`` keeps. The two-member ensemble is left as it is.
    """
    import time
    from edgesig.errors import EdgesigError
    from edgesig.runtime import Manifest
    from export.offline import crosswriter_data, data as sdinet_data
    from export.offline.ensemble_fit import evaluate, fit, flow_member, load_flow, score_members, single
    from export.offline.evaluate import onnx_scorer
    manifest = Manifest(models_dir)
    entries = [manifest.get(n) for n in members.split(",")]
    folds = {e.name: e.metrics.get("shipped_fold", {}) for e in entries}
    keys = {(f.get("fold"), tuple(f.get("val_users", ())), tuple(f.get("test_users", ()))) for f in folds.values()}
    if len(keys) != 1 or not next(iter(keys))[1]:
        raise click.ClickException(f"the members were shipped from different folds ({folds}); ship the same fold")
    fold, val_u, test_u = next(iter(keys))
    try:  # refused before any scoring if flow saw a held-out writer
        flow = load_flow(with_flow, list(val_u) + list(test_u)) if with_flow else None
    except EdgesigError as exc:
        raise click.ClickException(str(exc)) from None
    loaders = {"sdinet": lambda: sdinet_data.svc_image_writers(data, range(1, 41), seed=seed),
               "crosswriter": lambda: crosswriter_data.svc_image_writers(data, range(1, 41), seed=seed)}
    images = [{int(w.key[3:]): w for w in loaders[e.params.get("target", e.name)]()} for e in entries]
    scorers = [onnx_scorer(str(manifest.model_path(e)), threads) for e in entries]
    val, test = score_members(scorers, images, val_u), score_members(scorers, images, test_u)
    fitted = fit(val, step)
    singles = {e.name: single(v, t) for e, v, t in zip(entries, val, test)}
    result = {"command": command_line(), "fold": fold, "val_users": list(val_u), "test_users": list(test_u),
              "weights": dict(zip(members.split(","), fitted.weights)), "combine": list(fitted.combine),
              "val_eer": fitted.val_eer, "test": evaluate(fitted, test), "singles": singles,
              "manifest_val_eer": {e.name: e.metrics.get("val_eer") for e in entries}, "grid": fitted.grid}
    if flow is not None:
        t0 = time.perf_counter()
        svc = {int(w.key[3:]): w for w in loaders["sdinet"]()}
        flow_val, flow_test = flow_member(flow, svc, val_u), flow_member(flow, svc, test_u)
        three = fit(val + [flow_val], step)
        singles["flow"] = single(flow_val, flow_test)
        result["with_flow"] = {
            "file": with_flow, "weights": dict(zip(members.split(",") + ["flow"], three.weights)),
            "combine": list(three.combine), "val_eer": three.val_eer, "test": evaluate(three, test + [flow_test]),
            "kept": three.weights[-1] > 0 and three.val_eer < fitted.val_eer,
            "flow_seconds": time.perf_counter() - t0, "grid": three.grid}
    Path(work).mkdir(parents=True, exist_ok=True)
    (Path(work) / f"ensemble_fold{fold}{'_flow' if with_flow else ''}.json").write_text(json.dumps(result, indent=1))
    shown = {**singles, "ensemble": result, **({"ensemble+flow": result["with_flow"]} if with_flow else {})}
    for name, r in shown.items():
        click.echo(f"{name}: val EER {100 * r['val_eer']:.2f} % | " + " | ".join(
            f"{c}: EER {100 * m['eer']:.2f} % FAR {100 * m['far']:.2f} % FRR {100 * m['frr']:.2f} % AUC {m['auc']:.3f}"
            for c, m in r["test"].items()))
    click.echo(f"weights {result['weights']}, terms {'+'.join(fitted.combine)}")
    if with_flow:
        r3 = result["with_flow"]
        click.echo(f"with flow: weights {r3['weights']}, terms {'+'.join(r3['combine'])}; flow "
                   f"{'KEPT' if r3['kept'] else 'NOT kept'} (needs a non-zero weight and a lower validation EER "
                   f"than {100 * fitted.val_eer:.2f} %)")
        if install and r3["kept"]:
            _install_with_flow(manifest, entries, flow, three, result, version)
        return
    best_single = min([s["val_eer"] for s in singles.values()] + [v for v in result["manifest_val_eer"].values()
                                                                  if v is not None])
    if fitted.val_eer >= best_single or min(fitted.weights) == 0.0:
        click.echo(f"NOT installed: validation EER {100 * fitted.val_eer:.2f} % does not beat the best single "
                   f"model ({100 * best_single:.2f} %) with every member weighted")
        if install and manifest.entries.pop("ensemble", None) is not None:
            manifest.put(entries[0])  # rewrites the manifest without the stale ensemble (fitted on old members)
            click.echo("removed the previous ensemble entry: it was fitted on other member files")
        return
    if install:
        entry = _ensemble_entry(entries, fitted, result, version)
        manifest.put(entry)
        click.echo(f"installed ensemble {version} in {models_dir}")


#: Opt-in reason of the three-member ensemble (``best_engine`` skips it; see issue 10).
FLOW_OPT_IN = ("one optical-flow comparison per reference (edgesig-bench row offline.flow.pair) puts verify_image "
               "over the 40 ms budget that 'ensemble' keeps; choose it with image_engine='ensemble-flow'")


def _install_with_flow(manifest, entries, flow, fitted, result: dict, version: str) -> None:
    """Install the fitted three-member ensemble, if its flow member is the installed flow model."""
    installed = manifest.entries.get("flow")
    if installed is None or installed.fingerprint != flow.entry.fingerprint:
        click.echo("NOT installed: the --with-flow model is not the installed 'flow' entry; install it first "
                   "(export/offline/flow_train.py without --no-install, on the fold's training writers)")
        return
    r3 = result["with_flow"]
    three = {**result, "test": r3["test"], "val_eer": r3["val_eer"], "command": command_line()}
    entry = _ensemble_entry([*entries, installed], fitted, three, version, name="ensemble-flow")
    entry.params["opt_in"] = FLOW_OPT_IN
    manifest.put(entry)
    click.echo(f"installed ensemble-flow {version} (opt-in) in {manifest.dir}")


def _ensemble_entry(entries, fitted, result: dict, version: str, name: str = "ensemble"):
    import time
    from edgesig.runtime import ModelEntry
    shapes = {"sdinet": [155, 220], "crosswriter": [224, 224]}

    def place(e) -> tuple[str, list[int]]:
        """Whose normalisation a member starts from, and the shape of what it stores."""
        if e.name == "flow":  # the coarse grid of SDINet's image (FlowEngine.from_normalized)
            return "sdinet", list(e.params["flow"]["grid"])
        target = e.params.get("target", e.name)
        return target, shapes[target]

    specs = [{"name": e.name, "version": e.version, "sha256": e.fingerprint, "target": place(e)[0],
              "shape": place(e)[1], "weight": w, "calibration": c.to_dict()}
             for e, w, c in zip(entries, fitted.weights, fitted.member_calibrations)]
    metrics = {"val_eer": fitted.val_eer,
               "val_eer_definition": "EER on the members' shipped fold's 5 validation writers, clean + camera "
                                     "pooled; the weights were chosen on these writers too (optimistic)",
               "protocol": "rendered SVC2004 Task 2, skilled forgeries, 5 references, writer-disjoint folds",
               "unseen_users": result["test_users"],
               "shipped_fold": {"fold": result["fold"], "val_users": result["val_users"],
                                "test_users": result["test_users"], "test": result["test"]},
               "singles": {k: {"val_eer": v["val_eer"], "test": v["test"]} for k, v in result["singles"].items()}}
    return ModelEntry(name=name, version=version, modality="image",
                      params={"members": specs, "combine": list(fitted.combine),
                              "layout": "1-D float32: the members' prepared arrays flattened, in member order",
                              "fusion": "sum_m w_m (1 - P_m(genuine | d_m))"},
                      calibration=fitted.calibration.to_dict(), metrics=metrics, made_by=result["command"],
                      extra={"created": time.strftime("%Y-%m-%d")})


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
