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
    is removed. Same weights, float activations: the baseline the int8 file is timed
    against, and a source to quantize again."""
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
            q, scale = weights[node.input[0]].astype(np.float32), weights[node.input[1]].astype(np.float32)
            zero = weights[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2] else 0.0
            if scale.size > 1:  # per channel along ``axis``
                axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), np.reshape(zero, shape) if np.ndim(zero) else zero
            graph.initializer.append(numpy_helper.from_array(((q - zero) * scale).astype(np.float32), node.output[0]))
        elif node.op_type == "QuantizeLinear":
            quantized_from[node.output[0]] = node.input[0]
        elif node.op_type == "DequantizeLinear" and node.input[0] in quantized_from:
            renamed[node.output[0]] = quantized_from[node.input[0]]
        else:
            kept.append(node)
    for node in kept:
        node.input[:] = [renamed.get(name, name) for name in node.input]
    kept += [helper.make_node("Identity", [renamed[o.name]], [o.name]) for o in graph.output if o.name in renamed]
    del graph.node[:]
    graph.node.extend(kept)
    onnx.save(model, str(fp32))
    return fp32


def _beside(manifest: Manifest, path: Path) -> Path:
    """``path`` inside the manifest's folder (copied there if it is elsewhere)."""
    target = manifest.dir / path.name
    if path.resolve() != target.resolve():
        shutil.copyfile(path, target)
    return target
