"""From a trained cross-writer fold to the shipped int8 model: ONNX, quantization, parity, install.

Quantization is split by what each op needs: the convolutions get static QDQ int8 with
per-channel weights and activation ranges calibrated on rendered pairs of the fold's
training writers; the cross-attention's projections and the head, MatMuls whose input
ranges differ from pair to pair (|F1 - F2| is tiny for a genuine pair), are quantized
dynamically (ranges measured per run).

The stem and the first dense block (9 small convolutions at 56x56 and 28x28, 7% of the
weights) stay float: quantizing them was what cost parity. On 200 test pairs, all-int8
gave P(genuine) a correlation of 0.978 with fp32 (mean |dp| 0.0135, against a spread of
0.08), with those 9 float 0.996 (|dp| 0.0075), and it ran no slower; quantizing only the
later blocks or leaving the MatMuls float changed nothing. A Siamese network compares two
independently quantized feature maps, so early noise survives into F1 - F2. Parity is the fp32 vs int8 EER on the fold's unseen test writers through the
same protocol as the reported numbers (``export.offline.ship.parity``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgesig.runtime import ModelEntry
from export.offline.crosswriter import IMG, CrossWriter
from export.offline.ship import install_pair_model
from export.offline.to_onnx import INPUT, OUTPUT, export_pair_onnx, quantize_model

MODEL_FILE = "crosswriter-int8.onnx"


def export_onnx(model: CrossWriter, path: str | Path) -> Path:
    """The cross-writer network's fp32 ONNX (BatchNorm folded)."""
    return export_pair_onnx(model, path, IMG, IMG)


#: Backbone stages (indices in ``DenseBackbone.net``) whose convolutions stay float.
FLOAT_STAGES = (1, 2, 3, 4)


def float_convs(model_path: str | Path) -> list[str]:
    """Names of the convolutions ``quantize`` leaves float (the stem and the first dense block)."""
    marks = tuple(f"/net/net.{k}/" for k in FLOAT_STAGES)
    return [n.name for n in onnx.load(str(model_path)).graph.node if n.op_type == "Conv" and n.name.startswith(
        "/model/backbone") and any(m in n.name for m in marks)]


def quantize(fp32_path: str | Path, int8_path: str | Path, calibration_pairs: np.ndarray) -> Path:
    """Static QDQ int8 for the convolutions after the first dense block (per channel), then
    dynamic int8 for the MatMuls."""
    return quantize_model(fp32_path, int8_path, calibration_pairs, static_ops=("Conv",), dynamic_ops=("MatMul",),
                          exclude=float_convs)


def install(models_dir: str | Path, int8: str | Path, version: str, fold: dict[str, Any],
            extra_metrics: dict[str, Any], made_by: str) -> ModelEntry:
    """Copy the int8 file into ``models_dir`` and write the "crosswriter" manifest entry."""
    return install_pair_model(
        models_dir, int8, MODEL_FILE, "crosswriter", version, fold,
        protocol="rendered SVC2004 Task 2 (SDINet's renders), skilled forgeries, 5 references, "
                 "writer-disjoint folds",
        inputs=[{"name": INPUT, "dtype": "float32", "shape": ["N", 2, IMG, IMG],
                 "layout": "channel 0 = reference, 1 = query; gray + moment normalised, ink bright, paper 0"},
                {"name": OUTPUT, "dtype": "float32", "shape": ["N"], "role": "output"}],
        params={"target": "crosswriter", "net": fold["config"]["net"], "loss": fold["config"]["loss"]},
        metrics=extra_metrics, made_by=made_by,
        fold_keys=("fold", "train_users", "val_users", "test_users", "test", "train_seconds"))
