"""int8 vs fp32 parity: per-step embedding cosine and the EER both give on real writers."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgesig.features.kinematics import FeatureConfig, extract
from edgesig.runtime import InferSession
from export.online.data import Writer
from export.online.evaluate import score_writers


def onnx_embedder(path: str | Path, cfg: FeatureConfig):
    session = InferSession(path, threads=1)

    def embed(pen: Any) -> np.ndarray:
        return session.run({"features": extract(pen, cfg).astype(np.float32)})[0]
    return embed


def parity(fp32: str | Path, int8: str | Path, writers: list[Writer], cfg: FeatureConfig,
           band: float) -> dict[str, float]:
    """Minimum and mean per-step cosine over all samples, and both EERs (fractions)."""
    e32, e8 = onnx_embedder(fp32, cfg), onnx_embedder(int8, cfg)
    cos = []
    for w in writers:
        for pen in w.genuine + w.forgery:
            a, b = e32(pen), e8(pen)
            num = (a * b).sum(axis=1)
            den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12
            cos.append(num / den)
    allcos = np.concatenate(cos)
    eer32 = score_writers(writers, e32, band).summary()["eer"]
    eer8 = score_writers(writers, e8, band).summary()["eer"]
    return {"cosine_min": float(allcos.min()), "cosine_mean": float(allcos.mean()),
            "eer_fp32": eer32, "eer_int8": eer8, "eer_diff_points": 100 * abs(eer8 - eer32)}
