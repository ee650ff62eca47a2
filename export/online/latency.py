"""Latency of ``verify_stroke`` with the installed int8 GRU engine, one thread, against the
same network in torch eager (embedding + the same DTW and decision) in the same process."""
from __future__ import annotations

import time
from statistics import median
from typing import Any

import numpy as np
import torch

from edgesig.features.dtw import dtw_to_many
from edgesig.features.kinematics import FeatureConfig, extract
from edgesig.pen import PenStream
from edgesig.verifier import Verifier
from export.online.train import load_checkpoint


def long_signature(pens: list[PenStream], points: int) -> PenStream:
    """Concatenate real signatures in time until ``points`` samples (a long signature)."""
    xs, ys, ts, ps, ds, t0 = [], [], [], [], [], 0.0
    while sum(len(x) for x in xs) < points:
        for pen in pens:
            xs.append(pen.x); ys.append(pen.y); ps.append(pen.pressure); ds.append(pen.pen_down)
            ts.append(pen.t - pen.t[0] + t0)
            t0 = ts[-1][-1] + 10.0
    cat = lambda a: np.concatenate(a)[:points]  # noqa: E731
    return PenStream.from_arrays(cat(xs), cat(ys), t=cat(ts), pressure=cat(ps), pen_down=cat(ds))


def measure(refs: list[PenStream], query: PenStream, ckpt: str, runs: int = 50) -> dict[str, Any]:
    torch.set_num_threads(1)
    v = Verifier(engine="gru", threads=1)
    v.enroll("bench", refs)
    for _ in range(3):
        v.verify_stroke("bench", query)
    onnx_ms = []
    for _ in range(runs):
        onnx_ms.append(v.verify_stroke("bench", query).latency_ms)
    engine = v.engine("gru")
    cfg: FeatureConfig = engine.features
    model, _ = load_checkpoint(ckpt)
    template = v.store.get("bench", "gru")

    def torch_verify() -> float:
        start = time.perf_counter()
        with torch.no_grad():
            emb = model(torch.from_numpy(extract(query, cfg).astype(np.float32))[None])[0].numpy()
        dtw_to_many(emb, list(template.references), engine.band)
        return (time.perf_counter() - start) * 1e3
    for _ in range(3):
        torch_verify()
    torch_ms = [torch_verify() for _ in range(runs)]
    t_feat = []
    for _ in range(runs):
        s = time.perf_counter(); engine.prepare(query); t_feat.append((time.perf_counter() - s) * 1e3)
    return {"points": len(query), "steps": int(extract(query, cfg).shape[0]), "runs": runs,
            "verify_int8_onnx_ms": median(onnx_ms), "prepare_int8_onnx_ms": median(t_feat),
            "verify_torch_eager_ms": median(torch_ms), "ratio_torch_over_onnx": median(torch_ms) / median(onnx_ms)}
