"""Which precision a model ships in: int8 only where it is measurably faster than fp32.

Quantizing is for speed (and size) at equal accuracy; a slower int8 file is no gain.
On the 2-core development CPU (AVX-512 VNNI) onnxruntime's int8 kernels did not beat
fp32 for the models shipped in 2026-12: the GRU 0.84-0.88x (onnxruntime has no int8
GRU kernel, only its weights were int8, dequantized at every call), the cross-writer
network 0.88x (GELU between the convolutions stays float, with Q/DQ around it; fused
into one Gelu op 1.01x), SDINet 0.98x, the identification backbone 1.09-1.14x (thread
CPU, 1 thread; fp32 of the image nets rebuilt from their int8 weights). So every export
ends with :func:`ship_precision`: both files are timed in one process, interleaved,
through :class:`edgesig.runtime.InferSession` (the runtime's own session settings), and
int8 ships only when it is at least MIN_INT8_SPEEDUP times faster; otherwise fp32, and
the manifest entry records the figures (``metrics.precision``) and both files
(``extra.fp32_file`` / ``extra.int8_file``, which ``edgesig-bench`` compares).

    PYTHONPATH=. python -m export precision gru --fp32 edgesig/models/gru_fp32.onnx \\
        --int8 edgesig/models/gru_int8.onnx
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesig.bench.timing import FULL, Effort, interleaved
from edgesig.runtime import InferSession, Manifest, ModelEntry, sha256_file

#: int8 must be at least this much faster than fp32 (median thread CPU) to ship.
MIN_INT8_SPEEDUP = 1.3


@dataclass(frozen=True)
class PrecisionChoice:
    """Both precisions' median model-call times and the verdict."""

    fp32_ms: float
    int8_ms: float
    threads: int
    min_speedup: float = MIN_INT8_SPEEDUP

    @property
    def speedup(self) -> float:
        return self.fp32_ms / self.int8_ms

    @property
    def chosen(self) -> str:
        return "int8" if self.speedup >= self.min_speedup else "fp32"

    def metrics(self) -> dict[str, Any]:
        return {"fp32_ms": round(self.fp32_ms, 4), "int8_ms": round(self.int8_ms, 4),
                "int8_speedup": round(self.speedup, 3), "min_int8_speedup": self.min_speedup,
                "shipped": self.chosen, "threads": self.threads,
                "clock": "median thread CPU per model call, fp32 and int8 interleaved in one process"}


def measure_precisions(fp32: Path, int8: Path, feeds: dict[str, np.ndarray], threads: int = 1,
                       effort: Effort = FULL) -> PrecisionChoice:
    """Time the two files on ``feeds`` (the input the engine gives the model)."""
    sessions = {"fp32": InferSession(fp32, threads), "int8": InferSession(int8, threads)}
    timed = interleaved({k: (lambda s=s: s.run(feeds)) for k, s in sessions.items()}, effort)
    clock = "cpu" if threads == 1 else "wall"
    return PrecisionChoice(float(np.median(getattr(timed["fp32"], clock))),
                           float(np.median(getattr(timed["int8"], clock))), threads)


def ship_precision(manifest: Manifest, name: str, fp32: Path, int8: Path,
                   feeds: dict[str, np.ndarray] | None = None, threads: int = 1) -> PrecisionChoice:
    """Point the installed entry ``name`` at the faster precision (copied into the
    manifest's folder when it is not there), keeping every other field; returns the
    measurement. ``feeds`` default to what ``edgesig-bench`` feeds the model."""
    entry = manifest.get(name)
    if feeds is None:
        from edgesig.bench.context import Context
        from edgesig.bench.models import model_feeds
        feeds = model_feeds(Context.make(quick=False), entry, Path(int8))
    choice = measure_precisions(Path(fp32), Path(int8), feeds, threads)
    files = {"fp32": _beside(manifest, Path(fp32)), "int8": _beside(manifest, Path(int8))}
    shipped = files[choice.chosen]
    manifest.put(ModelEntry.from_dict({
        **entry.to_dict(), "file": shipped.name, "sha256": sha256_file(shipped),
        "metrics": {**entry.metrics, "precision": choice.metrics()},
        "extra": {**entry.extra, "fp32_file": files["fp32"].name, "int8_file": files["int8"].name}}))
    return choice


def dequantize(int8: Path, fp32: Path) -> Path:
    """An fp32 model from a QDQ int8 one, for a model whose fp32 export was not kept:
    each weight's DequantizeLinear becomes a float initializer ((q - zero) * scale, per
    channel where the scale is), each activation's QuantizeLinear -> DequantizeLinear pair
    is removed, and dynamically quantized MatMuls and LSTMs become float ones. Same
    weights, float activations: the baseline the int8 file is timed against, and a source
    to quantize again."""
    import onnx
    from onnx import helper, numpy_helper
    model = onnx.load(str(int8))
    graph = model.graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    quantized_from: dict[str, str] = {}   # QuantizeLinear output -> its float input
    renamed: dict[str, str] = {}          # activation DequantizeLinear output -> the float tensor
    kept = []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in weights:
            zero = node.input[2] if len(node.input) > 2 else ""
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            w = _weight(weights, node.input[0], node.input[1], zero, axis)
            graph.initializer.append(numpy_helper.from_array(w, node.output[0]))
        elif node.op_type == "QuantizeLinear":
            quantized_from[node.output[0]] = node.input[0]
        elif node.op_type == "DequantizeLinear" and node.input[0] in quantized_from:
            renamed[node.output[0]] = quantized_from[node.input[0]]
        else:
            kept.append(node)
    for node in kept:
        node.input[:] = [renamed.get(name, name) for name in node.input]
    kept += [helper.make_node("Identity", [renamed[o.name]], [o.name]) for o in graph.output if o.name in renamed]
    kept = _float_lstms(_float_matmuls(kept, weights, graph), weights, graph)
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in kept for name in node.input}
    unused = [t for t in graph.initializer if t.name not in used]
    for t in unused:  # the int8 weights, scales and zero points now dequantized
        graph.initializer.remove(t)
    onnx.save(model, str(fp32))
    return fp32


def _weight(weights: dict[str, np.ndarray], q: str, scale: str, zero: str, axis: int) -> np.ndarray:
    """(q - zero) * scale of an int8 initializer, in float32 (no zero point: 0); a scale of more
    than one value, and its zero points, apply per channel along ``axis``."""
    w, s = weights[q].astype(np.float32), weights[scale].astype(np.float32)
    z = weights[zero].astype(np.float32) if zero else np.float32(0)
    if s.size > 1:
        shape = [1] * w.ndim
        shape[axis] = -1
        s, z = s.reshape(shape), z.reshape(shape) if z.ndim else z
    return (w - z) * s


def _float_matmuls(nodes: list, weights: dict[str, np.ndarray], graph) -> list:
    """Dynamic quantization's MatMul (DynamicQuantizeLinear -> MatMulInteger -> Cast ->
    Mul by the two scales) back to one float MatMul on the dequantized weight."""
    from onnx import helper, numpy_helper
    producer = {out: n for n in nodes for out in n.output}
    consumers: dict[str, list] = {}
    for n in nodes:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    dropped: set[int] = set()
    added = {}  # id of the MatMulInteger -> the float MatMul that takes its place
    for mm in (n for n in nodes if n.op_type == "MatMulInteger" and n.input[1] in weights):
        quantize, cast = producer[mm.input[0]], consumers[mm.output[0]][0]
        rescale = consumers[cast.output[0]][0]
        scales = producer[rescale.input[1]]
        w_scale = next(name for name in scales.input if name in weights)
        name = f"{mm.input[1]}_float"
        if name not in weights:  # one weight may feed several MatMuls
            weights[name] = _weight(weights, mm.input[1], w_scale, mm.input[3], axis=-1)
            graph.initializer.append(numpy_helper.from_array(weights[name], name))
        added[id(mm)] = helper.make_node("MatMul", [quantize.input[0], name], [rescale.output[0]])
        dropped |= {id(cast), id(rescale), id(scales)}
    kept = [added.get(id(n), n) for n in nodes if id(n) not in dropped]
    used = {name for n in kept for name in n.input}
    return [n for n in kept if n.op_type != "DynamicQuantizeLinear" or n.output[0] in used]


def _float_lstms(nodes: list, weights: dict[str, np.ndarray], graph) -> list:
    """DynamicQuantizeLSTM back to LSTM: its int8 W [dirs, in, 4H] and R [dirs, H, 4H]
    dequantized per direction and transposed to LSTM's [dirs, 4H, in] / [dirs, 4H, H]."""
    from onnx import helper, numpy_helper
    out = []
    for n in nodes:
        if n.op_type != "DynamicQuantizeLSTM":
            out.append(n)
            continue
        names = []
        for q, scale, zero in ((n.input[1], n.input[8], n.input[9]), (n.input[2], n.input[10], n.input[11])):
            w = _weight(weights, q, scale, zero, axis=0)  # per direction
            names.append(f"{q}_float")
            graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w.transpose(0, 2, 1)), names[-1]))
        lstm = helper.make_node("LSTM", [n.input[0], *names, *n.input[3:8]], list(n.output), name=n.name)
        lstm.attribute.extend(n.attribute)
        out.append(lstm)
    return out


def _beside(manifest: Manifest, path: Path) -> Path:
    """``path`` inside the manifest's folder (copied there if it is elsewhere)."""
    target = manifest.dir / path.name
    if path.resolve() != target.resolve():
        shutil.copyfile(path, target)
    return target
