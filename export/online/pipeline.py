"""The steps behind ``python -m export online``: cross-validate, train, export, install.

Every step writes its product to a file so the steps can run separately; ``all`` chains
them and installs the int8 model with its manifest entry.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgesig.decision import fit_calibration
from edgesig.eval.metrics import eer
from edgesig.runtime import Manifest, ModelEntry, sha256_file
from export.online.data import Writer, svc_writers, synth_writers
from export.online.evaluate import fold_summary, make_folds, score_writers, torch_embedder
from export.online.nets import GruEmbedder
from export.online.train import TrainConfig, train

METRIC_KEYS = ("eer", "far", "frr", "auc", "mean_user_eer")


def load_synth(count: int, seed: int, synth_steps: int, share: float) -> tuple[list[Writer], str]:
    """Synthetic writers and how the run uses them (pretraining steps, share mixed into the
    batches), or none with the reason when edgesig.synth is unavailable."""
    if count <= 0:
        return [], "disabled"
    try:
        synth = synth_writers(count, seed)
    except ImportError as exc:
        return [], f"skipped: edgesig.synth unavailable ({exc})"
    uses = [f"{synth_steps} pretraining steps"] if synth_steps > 0 else []
    uses += [f"{share:.0%} of each batch's writers mixed in"] if share > 0 else []
    return synth, f"{count} edgesig.synth writers: " + (", ".join(uses) or "unused")


def pretrain(synth: list[Writer], cfg: TrainConfig, synth_steps: int, desc: str,
             quiet: bool = False) -> GruEmbedder | None:
    """The synthetic-writer pretraining (None when there is none)."""
    if synth and synth_steps > 0:
        pre = TrainConfig(**{**cfg.__dict__, "steps": synth_steps, "synth_share": 0.0})
        return train(synth, pre, desc=f"{desc} synth", quiet=quiet)
    return None


def fit(svc: list[Writer], synth: list[Writer], cfg: TrainConfig, synth_steps: int,
        desc: str, quiet: bool = False, pretrained: GruEmbedder | None = None,
        callback: Callable[[int, GruEmbedder], None] | None = None) -> GruEmbedder:
    """Optional pretraining on synthetic writers, then training on the real ones (with the
    synthetic ones mixed in when ``cfg.synth_share`` > 0).

    ``pretrained`` skips the pretraining and continues from a copy of that model (it is
    left as it is, so several folds can start from one pretraining).
    """
    model = copy.deepcopy(pretrained) if pretrained is not None else pretrain(synth, cfg, synth_steps, desc, quiet)
    return train(svc, cfg, model=model, desc=desc, quiet=quiet, callback=callback, synth=synth)


def cross_validate(data_dir: str, cfg: TrainConfig, synth: list[Writer], synth_steps: int,
                   folds: int = 4, n_val: int = 5, quiet: bool = False, fold_seed: int | None = None,
                   only_folds: Sequence[int] | None = None,
                   snapshots: Sequence[int] = ()) -> dict[str, Any]:
    """k-fold by writer; per fold the test metrics and the validation and test scores (so
    another engine can be compared or fused on the same writers without training again).

    The folds are drawn with ``fold_seed`` (``cfg.seed`` when None), so training seeds can
    vary on fixed folds. The synthetic pretraining is the same for every fold (same data,
    same seed), so it runs once and each fold continues from a copy. ``snapshots`` lists
    training steps at which the fold's model is also scored (val and test), without
    changing its training. With ``only_folds`` the others are skipped and ``mean`` is over
    the folds that ran (a quick look, not the k-fold figure).
    """
    out: list[dict[str, Any]] = []
    base = pretrain(synth, cfg, synth_steps, "all folds", quiet)
    split = make_folds(range(1, 41), folds, n_val, cfg.seed if fold_seed is None else fold_seed)
    for fold in split:
        if only_folds is not None and fold.index not in only_folds:
            continue
        val_w, test_w = svc_writers(data_dir, fold.val), svc_writers(data_dir, fold.test)
        snaps: list[dict[str, Any]] = []

        def snap(step: int, model: GruEmbedder) -> None:
            if step in snapshots:
                m = copy.deepcopy(model).eval().cpu()
                emb = torch_embedder(m, cfg.features)
                s = fold_summary(score_writers(val_w, emb, cfg.band), score_writers(test_w, emb, cfg.band))
                snaps.append({"step": step, **{k: s[k] for k in (*METRIC_KEYS, "val_eer")}})
                print(f"snapshot fold {fold.index} step {step}: EER {100 * s['eer']:.2f} %  "
                      f"val EER {100 * s['val_eer']:.2f} %", flush=True)

        model = fit(svc_writers(data_dir, fold.train), synth, cfg, synth_steps, f"fold {fold.index}", quiet,
                    pretrained=base,
                    callback=snap if snapshots else None)
        embed = torch_embedder(model, cfg.features)
        val = score_writers(val_w, embed, cfg.band)
        test = score_writers(test_w, embed, cfg.band)
        out.append({"fold": fold.index, "test_users": fold.test, "val_users": fold.val,
                    **fold_summary(val, test), "snapshots": snaps,
                    "val_genuine": val.genuine.tolist(), "val_forgery": val.forgery.tolist(),
                    "test_genuine": test.genuine.tolist(), "test_forgery": test.forgery.tolist()})
    mean = {k: float(np.mean([f[k] for f in out])) for k in METRIC_KEYS}
    return {"folds": out, "mean": mean, "train": cfg.to_dict()}


def pooled_calibration(cv: dict[str, Any]) -> dict[str, float]:
    g = np.concatenate([f["val_genuine"] for f in cv["folds"]])
    f = np.concatenate([f["val_forgery"] for f in cv["folds"]])
    return fit_calibration(g, f).to_dict()


def results_markdown(runs: dict[str, dict[str, Any]], commands: list[str]) -> str:
    lines = ["# Online GRU engine — writer-independent SVC2004 Task 2 results", "",
             "Skilled forgeries, 5 references, Sharma–Sundaram (min+mean) rule. 4 folds of 10 test",
             "writers; in each fold 5 of the other 30 writers are validation writers (threshold and",
             "calibration), 25 train the network. EER at the global (test) EER point; FAR/FRR at the",
             "threshold chosen on the validation writers. Values in %.", "",
             "| run | fold | EER | FAR@val thr | FRR@val thr | AUC | mean user EER |",
             "|---|---|---|---|---|---|---|"]
    for name, cv in runs.items():
        for f in cv["folds"]:
            lines.append(f"| {name} | {f['fold']} | {100 * f['eer']:.2f} | {100 * f['far']:.2f} | "
                         f"{100 * f['frr']:.2f} | {100 * f['auc']:.2f} | {100 * f['mean_user_eer']:.2f} |")
        m = cv["mean"]
        lines.append(f"| **{name}** | **mean** | **{100 * m['eer']:.2f}** | {100 * m['far']:.2f} | "
                     f"{100 * m['frr']:.2f} | {100 * m['auc']:.2f} | {100 * m['mean_user_eer']:.2f} |")
    lines += ["", "Commands:", "", "```"] + commands + ["```", ""]
    return "\n".join(lines)


def install(models_dir: str | Path, int8_path: Path, cfg: TrainConfig, calibration: dict[str, float],
            metrics: dict[str, Any], made_by: str, version: str, training: str) -> ModelEntry:
    """Write the manifest entry for the int8 model (the file must already be in models_dir)."""
    manifest = Manifest(models_dir)
    entry = ModelEntry(
        name="gru", version=version, modality="pen",
        params={"features": cfg.features.to_dict(), "band": cfg.band, "combine": ["min", "mean"],
                "architecture": "GRU128-GRU128-FC64 per step; ONNX GRU ops with int8 weights (DequantizeLinear), int8 MatMulInteger head",
                "training_data": training},
        calibration=calibration, metrics=metrics, file=int8_path.name, sha256=sha256_file(int8_path),
        inputs=[{"name": "features", "shape": ["T", cfg.features.dim], "dtype": "float32"}],
        made_by=made_by)
    manifest.put(entry)
    return entry


def eer_of(genuine: np.ndarray, forgery: np.ndarray) -> float:
    return eer(-np.asarray(genuine), -np.asarray(forgery))[0]
