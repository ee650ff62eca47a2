"""Int8 quantization of the exported graph, and the check that it really is int8.

onnxruntime's dynamic quantizer leaves the GRU op in float, so we quantize its weights
ourselves: every GRU weight matrix (W, R) becomes a per-output-channel symmetric int8
initializer followed by DequantizeLinear; the output MatMul goes through
``quantize_dynamic`` (DynamicQuantizeLinear + MatMulInteger). The file then holds no
float weight matrix. The check walks the graph and counts op types and initializer
dtypes, so "int8" is a property of the file, not a claim.
"""
from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _int8_per_channel(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    reduce = tuple(i for i in range(w.ndim) if i != axis)
    scale = np.maximum(np.abs(w).max(axis=reduce), 1e-12) / 127.0
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def quantize_gru_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replace each GRU's float W and R by int8 + DequantizeLinear (axis = gate rows)."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    new_nodes = []
    for node in graph.node:
        if node.op_type == "GRU":
            for name in node.input[1:3]:
                w = numpy_helper.to_array(inits[name])
                q, scale = _int8_per_channel(w, axis=1)
                graph.initializer.remove(inits[name])
                graph.initializer.extend([numpy_helper.from_array(q, name + "_int8"),
                                          numpy_helper.from_array(scale, name + "_scale"),
                                          numpy_helper.from_array(np.zeros(scale.shape, np.int8), name + "_zero")])
                new_nodes.append(helper.make_node("DequantizeLinear", [name + "_int8", name + "_scale",
                                                                       name + "_zero"], [name], axis=1))
        new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    return model


def quantize(fp32_path: str | Path, int8_path: str | Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    int8_path = Path(int8_path)
    model = quantize_gru_weights(onnx.load(str(fp32_path)))
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "gru_w8.onnx"
        onnx.save(model, str(staged))
        quantize_dynamic(str(staged), str(int8_path), op_types_to_quantize=["MatMul"],
                         per_channel=True, weight_type=QuantType.QInt8)
    return int8_path


def _graphs(graph: onnx.GraphProto):
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attr.g)


def inspect(path: str | Path) -> dict[str, Any]:
    """Op-type counts, weight matrices by dtype and file size of an ONNX file (subgraphs included).

    ``float_weight_ops`` counts MatMul/Gemm/GRU/LSTM nodes fed by a float initializer:
    a weight that only exists as int8 + DequantizeLinear does not count.
    """
    model = onnx.load(str(path))
    ops: Counter[str] = Counter()
    weights: Counter[str] = Counter()
    float_weight_ops = 0
    for g in _graphs(model.graph):
        ops.update(n.op_type for n in g.node)
        float_inits = {t.name for t in g.initializer if t.data_type == TensorProto.FLOAT
                       and len(t.dims) >= 2 and sorted(t.dims)[-2] > 1}
        float_weight_ops += sum(n.op_type in ("MatMul", "Gemm", "GRU", "LSTM")
                                and any(i in float_inits for i in n.input[1:3]) for n in g.node)
        for t in g.initializer:
            if len(t.dims) >= 2 and sorted(t.dims)[-2] > 1:  # weight matrices, not biases/scales
                weights[TensorProto.DataType.Name(t.data_type)] += 1
    return {"file_bytes": Path(path).stat().st_size, "ops": dict(sorted(ops.items())),
            "weight_matrices": dict(weights), "float_weight_ops": float_weight_ops}


def is_int8(info: dict[str, Any]) -> bool:
    """True when every weight matrix in the file is int8 and no op reads a float one."""
    return info["float_weight_ops"] == 0 and set(info["weight_matrices"]) <= {"INT8", "UINT8"}
