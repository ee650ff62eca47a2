"""Writer-independent evaluation: k folds by writer, thresholds from validation writers.

SVC2004 has 40 writers. Fold k tests on 10 writers; of the other 30, ``n_val`` are
validation writers (never trained on) whose scores set the operating threshold and the
calibration, and the rest train the network. Test scores never touch a threshold.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from edgesig.eval.protocols import Report, UserSamples, calibrate, run_protocol
from edgesig.features.dtw import dtw_to_many
from edgesig.features.kinematics import FeatureConfig, extract
from export.online.data import Writer
from export.online.nets import GruEmbedder


@dataclass(frozen=True)
class Fold:
    index: int
    train: list[int]
    val: list[int]
    test: list[int]


def make_folds(users: Sequence[int], k: int = 4, n_val: int = 5, seed: int = 0) -> list[Fold]:
    order = list(np.random.default_rng(seed).permutation(list(users)))
    size = len(order) // k
    folds = []
    for i in range(k):
        test = sorted(int(u) for u in order[i * size:(i + 1) * size])
        rest = [int(u) for u in order if u not in test]
        folds.append(Fold(i, sorted(rest[n_val:]), sorted(rest[:n_val]), test))
    return folds


def torch_embedder(model: GruEmbedder, cfg: FeatureConfig) -> Callable[[Any], np.ndarray]:
    def embed(pen: Any) -> np.ndarray:
        x = torch.from_numpy(extract(pen, cfg).astype(np.float32))[None]
        with torch.no_grad():
            return model(x)[0].numpy().astype(np.float32)
    return embed


def score_writers(writers: list[Writer], embed: Callable[[Any], np.ndarray], band: float,
                  refs: int = 5, combine: tuple[str, ...] = ("min", "mean")) -> Report:
    """Run the SVC2004 skilled-forgery protocol with embeddings computed once per sample."""
    users = [UserSamples(i, [embed(p) for p in w.genuine], [embed(p) for p in w.forgery])
             for i, w in enumerate(writers)]
    return run_protocol(users, lambda e: e, lambda q, r: dtw_to_many(q, list(r), band), refs, combine)


def fold_summary(val: Report, test: Report) -> dict[str, float]:
    """Test metrics, with FAR/FRR at the threshold the validation writers chose."""
    cal = calibrate(val)
    test.threshold = cal.threshold
    s = test.summary()
    return {"eer": s["eer"], "far": s["far"], "frr": s["frr"], "auc": s["auc"],
            "mean_user_eer": s["mean_user_eer"], "threshold": cal.threshold,
            "val_eer": val.summary()["eer"]}
