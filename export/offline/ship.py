"""From a trained fold to the shipped int8 model: export, quantize, check parity, install.

Parity is measured where it matters: on the fold's unseen test writers, through the
same protocol as the reported EER, with the fp32 and int8 ONNX files side by side
(pair accuracy at p >= 0.5, and the Sharma-Sundaram EER per degradation).
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgesig.runtime import Manifest, ModelEntry, sha256_file
from export.offline.data import ImageWriter, sample_pairs, to_float
from export.offline.evaluate import CONDITIONS, condition_distances, onnx_scorer, to_report

MODEL_FILE = "sdinet-int8.onnx"


def calibration_pairs(writers: Sequence[ImageWriter], n: int = 256, seed: int = 0) -> np.ndarray:
    """Float pairs from training writers (genuine, skilled and random) for activation ranges."""
    pairs, _ = sample_pairs(writers, n, np.random.default_rng(seed))
    return to_float(pairs)


def parity(fp32: str | Path, int8: str | Path, writers: Sequence[ImageWriter], combine: tuple[str, ...],
           threads: int = 2) -> dict[str, Any]:
    """fp32 vs int8 pair accuracy and EER on ``writers``, per degradation."""
    out: dict[str, Any] = {}
    scorers = {"fp32": onnx_scorer(str(fp32), threads), "int8": onnx_scorer(str(int8), threads)}
    for cond in CONDITIONS:
        row = {}
        for name, score in scorers.items():
            dists = condition_distances(score, writers, cond)
            gen = np.concatenate([u.genuine.ravel() for u in dists])
            forg = np.concatenate([u.forgery.ravel() for u in dists])
            acc = (np.sum(gen <= 0.5) + np.sum(forg > 0.5)) / (gen.size + forg.size)
            row[name] = {"pair_accuracy": float(acc), "eer": float(to_report(dists, combine).summary()["eer"])}
        row["abs_diff_points"] = {k: 100 * abs(row["fp32"][k] - row["int8"][k]) for k in ("pair_accuracy", "eer")}
        out[cond] = row
    return out


def checked_int8(fp32: str | Path, int8: str | Path, allowed_float: Sequence[str] = (),
                 echo: Any = print) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both files' op counts and initializer bytes (echoed), after refusing an int8 file with
    float weights other than ``allowed_float`` (the layers a model keeps float on purpose)."""
    from export.offline.to_onnx import inspect
    info32, info8 = inspect(fp32), inspect(int8)
    for path, info in ((fp32, info32), (int8, info8)):
        echo(f"{path}: {info['file_bytes']} bytes, initializers {info['initializer_bytes']}, ops {info['ops']}")
    unexpected = sorted(set(info8["float_weight_ops"]) - set(allowed_float))
    if unexpected or info8["ops"].get("LSTM", 0):
        raise ValueError(f"{int8} has float weights in {unexpected or 'its LSTMs'}")
    return info32, info8


def install(models_dir: str | Path, int8: str | Path, version: str, fold: dict[str, Any],
            cv: dict[str, Any], extra_metrics: dict[str, Any], made_by: str) -> ModelEntry:
    """Copy the int8 file into ``models_dir`` and write its "sdinet" manifest entry."""
    return install_pair_model(
        models_dir, int8, MODEL_FILE, "sdinet", version, fold,
        protocol="rendered SVC2004 Task 2, skilled forgeries, 5 references, writer-disjoint folds",
        inputs=[{"name": "pair", "dtype": "float32", "shape": ["N", 2, 155, 220],
                 "layout": "channel 0 = reference, 1 = query; ink = 1, paper = 0"},
                {"name": "p_genuine", "dtype": "float32", "shape": ["N"], "role": "output"}],
        params={"target": "sdinet"},
        metrics={"cv_mean": cv["mean"],
                 "cv_folds": [{"fold": f["fold"], "val_eer": f["val_eer"], "test": f["test"]} for f in cv["folds"]],
                 **extra_metrics},
        made_by=made_by)


def install_pair_model(models_dir: str | Path, int8: str | Path, file: str, name: str, version: str,
                       fold: dict[str, Any], protocol: str, inputs: list[dict[str, Any]],
                       params: dict[str, Any], metrics: dict[str, Any], made_by: str,
                       fold_keys: Sequence[str] = ("fold", "train_users", "val_users", "test_users", "test")
                       ) -> ModelEntry:
    """Copy a pair network's int8 file into ``models_dir`` as ``file`` and write its manifest
    entry: the fold it was trained on (whose test writers it never saw), its calibration and
    threshold from the fold's validation writers, and the caller's inputs, params and metrics."""
    target = Path(models_dir)
    target.mkdir(parents=True, exist_ok=True)
    dest = target / file
    shutil.copyfile(int8, dest)
    entry = ModelEntry(
        name=name, version=version, modality="image", file=file, sha256=sha256_file(dest), inputs=inputs,
        params={"distance": "1 - p_genuine", **params, "combine": list(fold["combine"])},
        calibration=fold["calibration"], made_by=made_by, extra={"created": time.strftime("%Y-%m-%d")},
        metrics={"val_eer": fold["val_eer"],
                 "val_eer_definition": "EER on the shipped fold's 5 validation writers, clean + camera pooled",
                 "protocol": protocol, "unseen_users": fold["test_users"],
                 "shipped_fold": {k: fold[k] for k in fold_keys}, **metrics})
    Manifest(target).put(entry)
    return entry
