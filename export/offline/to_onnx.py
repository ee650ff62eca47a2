"""SDINet to ONNX, then to int8: QDQ convolutions and FCs, dynamically quantized LSTMs.

The TorchScript exporter (``dynamo=False``) writes ``nn.LSTM`` as ONNX LSTM ops, which
onnxruntime's dynamic quantizer turns into its ``DynamicQuantizeLSTM`` contrib op with
int8 weights. The convolutions and the fully connected layers get static QDQ int8
(per-channel weights, activation ranges calibrated on real rendered pairs). Order:
static first (its calibration runs the float LSTMs), then dynamic for the LSTMs.

Input ``pair`` float32 (N, 2, 155, 220), channel 0 = reference, 1 = query, ink = 1;
output ``p_genuine`` float32 (N,).
"""
from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import onnx
import torch
from onnx import TensorProto

from export.offline.sdinet import IMG_H, IMG_W, Sdinet

OPSET = 17
INPUT = "pair"
OUTPUT = "p_genuine"


class _Probability(torch.nn.Module):
    """A pair classifier's P(genuine): what both offline ONNX models output."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(pair), dim=1)[:, 1]


def export_pair_onnx(model: torch.nn.Module, path: str | Path, height: int, width: int) -> Path:
    """fp32 ONNX of a (N, 2, height, width) pair classifier (TorchScript exporter, constants
    folded) with a dynamic batch axis; shared by SDINet and the cross-writer network."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = _Probability(model.cpu()).eval()  # the exporter restores the wrapper's mode on every submodule
    dummy = torch.zeros(2, 2, height, width)
    torch.onnx.export(wrapped, (dummy,), str(path), input_names=[INPUT], output_names=[OUTPUT],
                      dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, opset_version=OPSET,
                      dynamo=False, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    return path


def export_onnx(model: Sdinet, path: str | Path) -> Path:
    """SDINet's fp32 ONNX."""
    return export_pair_onnx(model, path, IMG_H, IMG_W)


class SampleReader:
    """onnxruntime CalibrationDataReader: one float sample (a pair, an image) per run."""

    def __init__(self, samples: np.ndarray, input_name: str = INPUT):
        self._it = iter(samples.astype(np.float32))
        self.input_name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        nxt = next(self._it, None)
        return None if nxt is None else {self.input_name: nxt[None]}


def quantize(fp32_path: str | Path, int8_path: str | Path, calibration_pairs: np.ndarray) -> Path:
    """SDINet: static QDQ int8 (Conv, Gemm, MatMul; per channel), then dynamic int8 LSTMs."""
    return quantize_model(fp32_path, int8_path, calibration_pairs, static_ops=("Conv", "Gemm", "MatMul"),
                          dynamic_ops=("LSTM",))


#: Convolutions reading at most this many input channels are the stem (a 1-channel image,
#: a 2-channel pair).
STEM_MAX_CHANNELS = 2


def stem_convs(model_path: str | Path, max_channels: int = STEM_MAX_CHANNELS) -> list[str]:
    """Names of the convolutions that read at most ``max_channels`` channels, for
    ``quantize_model(exclude=stem_convs)``: int8 gains nothing on a 1-2 channel input,
    and quantizing the image costs more than the convolution. Measured on the shipped
    identification backbone rebuilt in fp32 (one thread, thread CPU): int8 1.13x fp32 with
    every convolution int8, 1.44x with the stem float; SDINet 0.89x -> 1.09x."""
    model = onnx.load(str(model_path))
    weights = {t.name: t for t in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type == "Conv" and node.input[1] in weights:
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            if weights[node.input[1]].dims[1] * group <= max_channels:
                out.append(node.name)
    return out


def quantize_model(fp32_path: str | Path, int8_path: str | Path, calibration: np.ndarray, *,
                   static_ops: Sequence[str], dynamic_ops: Sequence[str] = (),
                   exclude: Callable[[Path], list[str]] | None = None, input_name: str = INPUT) -> Path:
    """Static QDQ int8 (per channel, min-max calibrated on real samples of the single input
    ``input_name``) for ``static_ops``, then dynamic int8 for ``dynamic_ops``, which static
    QDQ leaves in float (recurrences, MatMuls fed by activations on both sides).
    ``exclude`` names nodes of the pre-processed graph to keep in float."""
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    int8_path = Path(int8_path)
    with tempfile.TemporaryDirectory() as tmp:
        pre, static = Path(tmp) / "pre.onnx", Path(tmp) / "static.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(static), SampleReader(calibration, input_name), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(static_ops), per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=exclude(pre) if exclude else None)
        if dynamic_ops:
            quantize_dynamic(str(static), str(int8_path), op_types_to_quantize=list(dynamic_ops),
                             weight_type=QuantType.QInt8, per_channel=False)
        else:
            shutil.copyfile(static, int8_path)
    return int8_path


def inspect(path: str | Path) -> dict[str, Any]:
    """Op-type counts, initializer bytes by dtype, and which weight-bearing ops stayed float."""
    model = onnx.load(str(path))
    g = model.graph
    ops = Counter(n.op_type for n in g.node)
    init = {t.name: t for t in g.initializer}
    dtype_bytes: Counter[str] = Counter()
    for t in g.initializer:
        dtype_bytes[TensorProto.DataType.Name(t.data_type)] += len(t.raw_data) or _size(t)
    produced_by_dq = {n.output[0] for n in g.node if n.op_type == "DequantizeLinear"}
    float_weight_ops = []
    for n in g.node:
        if n.op_type in ("Conv", "Gemm", "MatMul", "LSTM"):
            w = n.input[1]
            if w in init and init[w].data_type == TensorProto.FLOAT and w not in produced_by_dq:
                float_weight_ops.append(n.name or n.op_type)
    return {"file_bytes": Path(path).stat().st_size, "ops": dict(sorted(ops.items())),
            "initializer_bytes": dict(dtype_bytes), "float_weight_ops": float_weight_ops}


def _size(t: onnx.TensorProto) -> int:
    return int(np.prod(t.dims)) * 4 if t.dims else 4
