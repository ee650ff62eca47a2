"""Latency of one SDINet pair: int8 ONNX, fp32 ONNX and torch eager in one run.

One pair is what a kiosk pays per reference. Every runtime gets the same pair, the
same thread count and a warm-up; the median over ``runs`` calls is reported.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np


def _median_ms(fn: Callable[[], Any], runs: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def measure(int8: str | Path, fp32: str | Path, model: Any, pair: np.ndarray, threads: int = 2,
            runs: int = 100) -> dict[str, float]:
    """Median ms per pair for each runtime, and the ratios to int8."""
    import torch
    from edgesig.runtime import InferSession
    x = pair[None].astype(np.float32)
    out: dict[str, float] = {}
    # torch first: onnxruntime's idle worker threads spin for a while after each run
    # and would steal the cores torch's own pool needs.
    torch.set_num_threads(threads)
    xt = torch.from_numpy(x)
    model.eval()
    with torch.no_grad():
        out["torch_eager_ms"] = _median_ms(lambda: model(xt), runs)
    for name, path in (("int8_onnx_ms", int8), ("fp32_onnx_ms", fp32)):
        sess = InferSession(path, threads=threads)
        feeds = {sess.input_names[0]: x}
        out[name] = _median_ms(lambda: sess.run(feeds), runs)
    out["fp32_over_int8"] = out["fp32_onnx_ms"] / out["int8_onnx_ms"]
    out["eager_over_int8"] = out["torch_eager_ms"] / out["int8_onnx_ms"]
    out.update(threads=threads, runs=runs)
    return out
