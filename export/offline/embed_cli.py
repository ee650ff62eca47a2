"""``python -m export offline embed ...``: train and evaluate SigEmbed on the pool (CEDAR + renders)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from export.run_options import command_line, is_main, run_options

WORK = "build/offline_embed"
SETS = "cedar,svc2004-task2,svc2004-task1,susig,mcyt"
#: Ridge added to the background covariance of the writer-dependent route (of 0.01, 0.1 and 1,
#: the first model's validation writers preferred 1: 24.0 % against 24.6 and 26.5 % EER).
RIDGE = 1.0
POOLED_DEFINITION = ("EER on the validation writers of every set pooled (CEDAR scans, renders clean and camera), "
                     "skilled forgeries, 5 references (python -m export offline pool measure / embed ship)")


def train_and_evaluate(sets: list[str], fold: int, cfg: Any, work: Path, threads: int,
                       ridge: float = RIDGE, eval_sets: list[str] | None = None) -> dict[str, Any] | None:
    """Train on the fold's training writers of every set, evaluate both routes (cosine, and the
    writer-dependent user model over the training writers' background) on the validation and
    test writers of ``eval_sets`` (default: ``sets``); writes ``fold<k>.pt``, ``fold<k>.json`` and
    the learning curve ``fold<k>_curve.jsonl``.
    Under torchrun only rank 0 evaluates and writes (None on the others)."""
    import torch
    from export.checkpoint import save_checkpoint
    from export.offline.pool import REAL_SETS, load_pool, part
    from export.offline.sigembed import FlatImages, fit
    torch.set_num_threads(threads)
    eval_sets = eval_sets or sets
    pool = load_pool(dict.fromkeys(sets + eval_sets))
    train = part(pool, sets, "train", fold)
    data = FlatImages.of(train, [w.key.split(":")[0] in REAL_SETS for w in train])
    work.mkdir(parents=True, exist_ok=True)
    curve = work / f"fold{fold}_curve.jsonl"
    if is_main():
        curve.unlink(missing_ok=True)
    click.echo(f"fold {fold}: {len(train)} training writers, {len(data.labels)} images "
               f"({int(data.real.sum())} real scans)")
    model, stats = fit(data, cfg, log=curve)
    if not is_main():
        return None
    result = {"command": command_line(), "fold": fold, "sets": sets, "eval_sets": eval_sets,
              "config": cfg.to_dict(),
              "train_writers": [w.key for w in train], **stats}
    save_checkpoint(model, cfg, work / f"fold{fold}.pt", {"fold": fold, "sets": sets})
    result.update(evaluate_model(model, train, pool, eval_sets, fold, ridge))
    (work / f"fold{fold}.json").write_text(json.dumps(result, indent=1))
    return result


def evaluate_model(model: Any, train: list, pool: dict[str, Any], sets: list[str], fold: int,
                   ridge: float) -> dict[str, Any]:
    """Both routes on the fold's validation and test writers of ``sets`` in ``pool``: cosine, and the
    writer-dependent user model against the background of ``train`` (the training writers)."""
    from export.offline.pool_eval import background, embedding_comparator, user_model_comparator
    from export.offline.sigembed import embed
    emb = lambda images: embed(model, images)  # noqa: E731
    bg = background(emb, train, ridge)
    return {**fold_results(embedding_comparator(emb), pool, sets, fold),
            "writer_dependent": {"ridge": ridge, **fold_results(user_model_comparator(emb, *bg), pool, sets, fold)}}


def echo_result(r: dict[str, Any], title: str = "") -> None:
    click.echo(f"{title}fold {r['fold']}: val EER {100 * r['val_eer']:.2f} % ({'+'.join(r['combine'])})")
    for name, m in r["test"].items():
        lo, hi = m["eer_interval"]
        click.echo(f"  {name:32s} EER {100 * m['eer']:5.2f} % [{100 * lo:.1f}-{100 * hi:.1f}] "
                   f"FAR {100 * m['far']:5.2f} % FRR {100 * m['frr']:5.2f} % AUC {m['auc']:.3f} "
                   f"({m['writers']} writers)")


@click.group()
def embed() -> None:
    """SigEmbed: a writer-classifier embedding (SigNet-F style) compared by cosine."""


@embed.command()
@click.option("--sets", default=SETS, show_default=True, help="comma-separated sets of edgesig.eval.datasets")
@click.option("--folds", default="0", show_default=True, help="comma-separated folds to run")
@click.option("--steps", default=1200, show_default=True)
@click.option("--batch", default=64, show_default=True)
@click.option("--lr", default=3e-3, show_default=True)
@click.option("--width", default=16, show_default=True)
@click.option("--pool", default=2, show_default=True, help="input average pooling before the stem")
@click.option("--real-share", default=0.4, show_default=True, help="share of real scans in a batch")
@click.option("--seed", default=0, show_default=True)
@click.option("--augment", type=click.Choice(["shift", "strong"]), default="shift", show_default=True,
              help="shift: small shifts and scales; strong: affine, ink width, blur, darkness, noise")
@click.option("--label-smoothing", default=0.0, show_default=True)
@click.option("--dropout", default=0.0, show_default=True, help="on the pooled features, before the embedding")
@click.option("--weight-decay", default=1e-4, show_default=True)
@click.option("--balance-sets/--no-balance-sets", default=False, show_default=True,
              help="split a batch's renders equally between the rendered sets")
@click.option("--stem", type=click.Choice(["pool", "conv"]), default="pool", show_default=True,
              help="conv: a learned full-resolution stride-2 layer instead of 2x2 pooling")
@click.option("--threads", default=2, show_default=True)
@click.option("--work", default=WORK, show_default=True)
@click.option("--eval-sets", default=None, help="sets whose validation and test writers are scored "
              "(default: the training sets)")
@run_options
def cv(sets: str, folds: str, steps: int, batch: int, lr: float, width: int, pool: int, real_share: float, seed: int,
       augment: str, label_smoothing: float, dropout: float, weight_decay: float, balance_sets: bool, stem: str,
       threads: int, work: str, eval_sets: str | None) -> None:
    """Train per fold on the pooled sets' training writers; test on every set's test writers."""
    from export.offline.sigembed import EmbedConfig
    for k in (int(f) for f in folds.split(",")):
        cfg = EmbedConfig(width=width, pool=pool, steps=steps, batch=batch, lr=lr, weight_decay=weight_decay,
                          real_share=real_share, seed=seed + k, augment=augment, label_smoothing=label_smoothing,
                          dropout=dropout, balance_sets=balance_sets, stem=stem)
        r = train_and_evaluate(sets.split(","), k, cfg, Path(work), threads,
                               eval_sets=eval_sets.split(",") if eval_sets else None)
        if r is None:
            continue
        echo_result(r, "cosine ")
        echo_result({**r["writer_dependent"], "fold": k}, "writer-dependent ")


def onnx_embedder(path: str | Path, threads: int, batch: int = 64):
    """Unit embeddings of uint8 images (n, 155, 220) from an exported ONNX file (fp32 or int8)."""
    import numpy as np
    from edgesig.runtime import InferSession
    from export.offline.data import to_float
    sess = InferSession(path, threads=threads)

    def run(images: np.ndarray) -> np.ndarray:
        return np.concatenate([sess.run({sess.input_names[0]: to_float(images[i:i + batch])[:, None]})[0]
                               for i in range(0, len(images), batch)])
    return run


def fold_results(compare: Any, pool: dict[str, Any], sets: list[str], fold: int) -> dict[str, Any]:
    """``pool_eval.evaluate`` of a comparator on the fold's validation and test writers of ``sets``
    (``pool``, loaded once by the caller: reading the cached writers is the slow part)."""
    from export.offline.pool import part
    from export.offline.pool_eval import evaluate
    return evaluate(compare, part(pool, sets, "val", fold), {ds: part(pool, [ds], "test", fold) for ds in sets})


@embed.command("evaluate")
@click.option("--work", default=WORK, show_default=True, help="where `cv` left fold<k>.pt and fold<k>.json")
@click.option("--fold", default=0, show_default=True)
@click.option("--ridge", default=RIDGE, show_default=True, help="background covariance ridge (writer-dependent)")
@click.option("--threads", default=1, show_default=True)
@click.option("--eval-sets", default=None, help="sets whose validation and test writers are scored "
              "(default: the training sets)")
def evaluate_cmd(work: str, fold: int, ridge: float, threads: int, eval_sets: str | None) -> None:
    """Evaluate a trained fold again (both routes, torch) and update its fold<k>.json."""
    import torch
    from export.offline.pool import load_pool, part
    torch.set_num_threads(threads)
    path = Path(work) / f"fold{fold}.json"
    r = json.loads(path.read_text())
    model = load_model(Path(work) / f"fold{fold}.pt")
    r["eval_sets"] = eval_sets.split(",") if eval_sets else r["sets"]
    pool = load_pool(dict.fromkeys(r["sets"] + r["eval_sets"]))
    r.update(evaluate_model(model, part(pool, r["sets"], "train", fold), pool, r["eval_sets"], fold, ridge))
    path.write_text(json.dumps(r, indent=1))
    echo_result(r, "cosine ")
    echo_result({**r["writer_dependent"], "fold": fold}, "writer-dependent ")


def load_model(path: Path) -> Any:
    """A SigEmbed checkpoint's network, in eval mode."""
    from export.checkpoint import read_checkpoint
    from export.offline.sigembed import EmbedConfig, SigEmbed
    return read_checkpoint(path, EmbedConfig.from_dict, SigEmbed.of)[0]


@embed.command()
@click.option("--work", default=WORK, show_default=True, help="where `cv` left fold<k>.pt and fold<k>.json")
@click.option("--fold", default=0, show_default=True, help="the fold whose model is shipped")
@click.option("--ridge", default=RIDGE, show_default=True, help="background covariance ridge (writer-dependent)")
@click.option("--threads", default=2, show_default=True)
@click.option("--models-dir", default=None, help="default: the package's models folder")
@click.option("--version", default="1.0.0", show_default=True)
@click.option("--eval-sets", default=None, help="sets whose validation and test writers are scored "
              "(default: the training sets)")
def ship(work: str, fold: int, ridge: float, threads: int, models_dir: str | None, version: str,
         eval_sets: str | None) -> None:
    """ONNX, int8 (static QDQ, per channel), fp32/int8 parity on every set; install the cosine
    route as ``sigembed`` and the writer-dependent one as ``sigembed-wd`` (same network), each in
    the precision ``export.precision`` picks, with that file's terms, threshold and background."""
    from dataclasses import replace

    import numpy as np
    from edgesig.runtime import MODELS_DIR, Manifest
    from export.offline.data import to_float
    from export.offline.pool import load_pool, part
    from export.offline.pool_cli import ship_measured
    from export.offline.pool_eval import background, embedding_comparator, user_model_comparator
    from export.offline.ship import checked_int8
    from export.offline.sigembed import INPUT, OUTPUT, export_onnx
    from export.offline.to_onnx import quantize_model, stem_convs
    work_dir = Path(work)
    r = json.loads((work_dir / f"fold{fold}.json").read_text())
    model = load_model(work_dir / f"fold{fold}.pt")
    sets = eval_sets.split(",") if eval_sets else r["sets"]
    pool = load_pool(dict.fromkeys(r["sets"] + sets), progress=False)
    train = part(pool, r["sets"], "train", fold)
    rng = np.random.default_rng(0)
    calib = np.stack([w.genuine[rng.integers(len(w.genuine)), rng.integers(w.genuine.shape[1])]
                      for w in (train[int(k)] for k in rng.integers(len(train), size=256))])
    fp32 = export_onnx(model, work_dir / "sigembed-fp32.onnx")
    int8 = quantize_model(fp32, work_dir / "sigembed-int8.onnx", to_float(calib)[:, None],
                          static_ops=("Conv", "Gemm", "MatMul"), input_name=INPUT, exclude=stem_convs)
    try:
        info32, info8 = checked_int8(fp32, int8, stem_convs(fp32), echo=click.echo)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    embedders = {name: onnx_embedder(path, threads) for name, path in (("fp32", fp32), ("int8", int8))}
    # measured as shipped: the .npz holds float32
    backgrounds = {name: tuple(a.astype(np.float32).astype(np.float64) for a in background(emb, train, ridge))
                   for name, emb in embedders.items()}
    target = Path(models_dir or MODELS_DIR)
    target.mkdir(parents=True, exist_ok=True)
    bg_file = target / "sigembed-wd-background.npz"
    common = dict(inputs=[{"name": INPUT, "dtype": "float32", "shape": ["N", 1, 155, 220],
                           "layout": "ink = 1, paper = 0"},
                          {"name": OUTPUT, "dtype": "float32", "shape": ["N", 128], "role": "output, L2-normalised"}],
                  sizes={"fp32_bytes": info32["file_bytes"], "int8_bytes": info8["file_bytes"]})
    routes = {"sigembed": ({n: embedding_comparator(e) for n, e in embedders.items()},
                           {"target": "sdinet", "dim": 128, "distance": "1 - cosine"}),
              "sigembed-wd": ({n: user_model_comparator(e, *backgrounds[n]) for n, e in embedders.items()},
                              {"target": "sdinet", "dim": 128, "ridge": ridge, "background": bg_file.name,
                               "background_sha256": save_background(bg_file, backgrounds["int8"]),
                               "distance": "Fisher-discriminant distance to the user model (0 = references' "
                                           "mean, 1 = background mean)"})}
    for name, (comparators, params) in routes.items():
        click.echo(f"{name}:")
        res = {n: fold_results(c, pool, sets, fold) for n, c in comparators.items()}
        install_pool_model(name, int8, res, r, sets, {"steps": r["config"]["steps"]}, str(target), version,
                           params=params, **common)
        chosen = ship_measured(target, name, fp32, int8, res, threads)
        if "background" in params:  # the user models the shipped file's scores were measured with
            entry = Manifest(target).get(name)
            Manifest(target).put(replace(entry, params={
                **entry.params, "background_sha256": save_background(bg_file, backgrounds[chosen])}))


def save_background(path: Path, background: tuple[Any, Any]) -> str:
    """Write the writer-dependent route's background (mean, precision) as float32; its sha256."""
    import numpy as np
    from edgesig.runtime import sha256_file
    mean, precision = background
    np.savez(path, mean=mean.astype(np.float32), precision=precision.astype(np.float32))
    return sha256_file(path)


def install_pool_model(name: str, int8: Path, res: dict[str, dict[str, Any]], trained: dict[str, Any],
                       eval_sets: list[str], training: dict[str, Any], models_dir: str | None, version: str,
                       inputs: list[dict[str, Any]],
                       params: dict[str, Any], sizes: dict[str, int]) -> Any:
    """Echo fp32/int8 parity and install a pool-trained image model as ``name``, with the int8
    file's validation EER over every set as ``selection_eer`` (what ``image_engine="auto"`` compares)."""
    from edgesig.eval.datasets import split
    from edgesig.runtime import MODELS_DIR, Manifest
    from export.offline.ship import install_pair_model
    fold = trained["fold"]
    parity = precision_parity(res)
    click.echo(f"parity: {json.dumps(parity)}")
    echo_result({**res["int8"], "fold": fold})
    shipped = {**res["int8"], "fold": fold, "sets": eval_sets,  # *_users: SVC2004 Task 2's, as eval svc2004 reads them
               **{f"{p}_users": [int(u) for u in split("svc2004-task2", p, fold)] for p in ("train", "val", "test")}}
    entry = install_pair_model(
        models_dir or MODELS_DIR, int8, Path(int8).name, name, version, shipped,
        protocol="CEDAR scans and rendered online writers (edgesig.eval.datasets fold split), skilled "
                 "forgeries, 5 references, terms and threshold from every set's validation writers pooled",
        inputs=inputs, params=params,
        metrics={"selection_eer": res["int8"]["val_eer"],
                 "selection_eer_definition": POOLED_DEFINITION,
                 "trained_on": {"sets": trained["sets"], "writers": len(trained["train_writers"]),
                                "train_seconds": trained["train_seconds"], **training},
                 "parity": parity, **sizes},
        made_by=command_line(), fold_keys=("fold", "sets", "train_users", "val_users", "test_users", "test"))
    click.echo(f"installed {entry.name} {entry.version} ({entry.file}) in {models_dir or MODELS_DIR}")
    set_aside_other_selections(Manifest(models_dir or MODELS_DIR))
    return entry


def precision_parity(res: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """fp32 against int8 EER per test cell and on the pooled validation writers (``res``: the
    pool protocol's result per precision, on the same writers)."""
    def pair(fp32: float, int8: float) -> dict[str, float]:
        return {"fp32_eer": fp32, "int8_eer": int8, "abs_diff_points": 100 * abs(fp32 - int8)}
    out = {k: pair(res["fp32"]["test"][k]["eer"], m["eer"]) for k, m in res["int8"]["test"].items()}
    out["validation"] = pair(res["fp32"]["val_eer"], res["int8"]["val_eer"])
    return out


def set_aside_other_selections(manifest: Any) -> None:
    """Image entries whose ``selection_eer`` came from another protocol (rendered SVC2004 only)
    keep it as ``selection_eer_other_protocol``: ``best_engine`` compares only figures measured
    on the same writers, and those would pass for pooled ones (``pool measure --record`` puts
    a pair engine back in the comparison)."""
    from dataclasses import replace
    for entry in list(manifest.entries.values()):
        m = entry.metrics
        other = m.get("selection_eer_definition") != POOLED_DEFINITION
        if entry.modality == "image" and "selection_eer" in m and other:
            moved = {k: v for k, v in m.items() if k not in ("selection_eer", "selection_eer_definition")}
            moved["selection_eer_other_protocol"] = {"value": m["selection_eer"],
                                                     "definition": m.get("selection_eer_definition", "")}
            manifest.put(replace(entry, metrics=moved))
            click.echo(f"{entry.name}: selection_eer from another protocol set aside (not comparable)")
