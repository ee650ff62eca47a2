"""Ship a GRU trained on the pooled sets: its ONNX file and two manifest entries.

``gru`` reads pens with pressure; ``gru-nopressure`` is the same file reading every
pen without it (the model saw pressure dropped in training, ``--drop-pressure``), with
its own threshold. Each is calibrated on the validation writers of its sets together
(one global threshold, as a new pad gets) and scored on each set's test writers with
the file that ships (int8, or fp32 where int8 is not clearly faster: ``export.precision``).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgesig.decision import fit_calibration
from edgesig.engines import NO_PRESSURE
from edgesig.eval.protocols import Report, set_figures
from edgesig.features.kinematics import FeatureConfig
from edgesig.runtime import Manifest, ModelEntry
from export.online.data import Writer
from export.online.evaluate import score_writers
from export.online.parity import onnx_embedder, parity
from export.online.quantize import inspect, is_int8, quantize
from export.online.to_onnx import export_onnx
from export.online.train import load_checkpoint
from export.precision import ship_precision

ARCHITECTURE = "GRU{h}-GRU{h}-FC{o} per step; ONNX GRU ops, {precision} weights"


def has_pressure(writers: list[Writer]) -> bool:
    return all(p.has_pressure for w in writers for p in w.genuine)


def pressure_free(embed: Callable[[Any], np.ndarray]) -> Callable[[Any], np.ndarray]:
    return lambda pen: embed(pen.without_pressure())


def variant_figures(val: dict[str, list[Writer]], test: dict[str, list[Writer]],
                    embed: Callable[[Any], np.ndarray], band: float) -> tuple[dict[str, float], dict[str, Any]]:
    """Calibration from all validation writers together, figures per set at its threshold."""
    val_reports = {name: score_writers(writers, embed, band) for name, writers in val.items()}
    pooled = Report([u for r in val_reports.values() for u in r.users])
    calibration = fit_calibration(pooled.genuine, pooled.forgery)
    per_set = {name: set_figures(val_reports[name], score_writers(test[name], embed, band), calibration.threshold)
               for name in val}
    return calibration.to_dict(), per_set


def ship(ckpt: Path, work: Path, models_dir: Path, val: dict[str, list[Writer]], test: dict[str, list[Writer]],
         version: str, made_by: str, protocol: str) -> list[ModelEntry]:
    """Export, quantize, check parity, pick the precision (``export.precision``: int8 only
    where it is clearly faster), then score the shipped file and install ``gru`` and
    ``gru-nopressure``."""
    model, saved = load_checkpoint(ckpt)
    features = FeatureConfig.from_dict(saved["train"]["features"])
    band = float(saved["train"]["band"])
    fp32 = export_onnx(model, work / "gru_fp32.onnx")
    int8 = quantize(fp32, work / "gru_int8.onnx")
    info32, info8 = inspect(fp32), inspect(int8)
    if not is_int8(info8):
        raise RuntimeError(f"{int8} still has float weight matrices or float MatMuls")
    par = parity(fp32, int8, [w for ws in val.values() for w in ws], features, band)
    manifest = Manifest(models_dir)
    inputs = [{"name": "features", "shape": ["T", features.dim], "dtype": "float32"}]
    manifest.put(ModelEntry(name="gru", version=version, modality="pen", params={}, calibration={},
                            file=fp32.name, inputs=inputs))  # what ship_precision times
    choice = ship_precision(manifest, "gru", fp32, int8)
    shipped = Manifest(models_dir).get("gru")
    embed = onnx_embedder(models_dir / shipped.file, features)
    info = saved["info"]
    common = {"fp32_bytes": info32["file_bytes"], "int8_bytes": info8["file_bytes"], "int8_ops": info8["ops"],
              "parity": par, "precision": choice.metrics(), "protocol": protocol, "training_step": info.get("step"),
              "unseen_users": [int(w.key.split(":")[1]) for w in test.get("svc2004-task2", [])]}
    training = (f"train writers of fold {info['fold']} of edgesig/eval/splits.json: "
                + ", ".join(f"{k} {n}" for k, n in info["train_writers"].items()) + f"; synthetic: {info['synthetic']}")
    entries = []
    for name, pressure in (("gru", True), ("gru" + NO_PRESSURE, False)):
        sets = [s for s in val if has_pressure(val[s]) or not pressure]
        calibration, per_set = variant_figures({s: val[s] for s in sets}, test,
                                               embed if pressure else pressure_free(embed), band)
        params = {"features": features.to_dict(), "band": band, "combine": ["min", "mean"],
                  "architecture": ARCHITECTURE.format(h=model.hidden, o=model.out_dim, precision=choice.chosen),
                  "training_data": training}
        entry = replace(shipped, name=name, version=version, made_by=made_by, calibration=calibration,
                        params=params if pressure else {**params, "pressure": False},
                        metrics={**common, "val_eer": float(np.mean([f["val_eer"] for f in per_set.values()])),
                                 "val_eer_definition": "mean over sets of each set's validation EER ("
                                                       + ", ".join(sets) + ")", "per_set": per_set})
        manifest.put(entry)
        entries.append(entry)
    return entries
