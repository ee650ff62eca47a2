"""Training and writer-disjoint evaluation of the cross-writer network.

Everything that makes the numbers comparable with SDINet is reused, not copied: the pair
sampler (``export.offline.data.sample_pairs``), the fold split (``folds.split``: test
users 10k+1..10k+10, 5 validation writers, 25 training writers), and the protocol of
``export.offline.evaluate`` (5 references, skilled forgeries, Sharma-Sundaram terms and
threshold chosen on the validation writers, clean and camera conditions). Only the
images differ: the same renders, normalised the cross-writer way.

Defaults follow the paper (Adam, lr 1e-3, dropout 0.1, focal alpha 0.25, gamma 2) except
the batch, 24 pairs instead of 64, and a cosine decay of the rate: on a shared 2-core CPU
a step of 24 pairs cost 0.7-3 s (load-dependent), so a run is bounded by ``steps`` (its
wall clock is recorded).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from export.checkpoint import TrainRun, read_checkpoint
from export.offline.crosswriter import CrossWriter, CrossWriterConfig, LossConfig, pair_loss
from export.distributed import context
from export.offline.data import ImageWriter, PairMix
from export.offline.evaluate import torch_scorer
from export.offline.folds import score_fold, split
from export.offline.train import pair_steps


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 300
    batch: int = 24
    lr: float = 1e-3
    seed: int = 0
    net: CrossWriterConfig = field(default_factory=CrossWriterConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    mix: PairMix = field(default_factory=PairMix)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return cls(**{**data, "net": CrossWriterConfig.from_dict(data["net"]), "loss": LossConfig(**data["loss"]),
                      "mix": PairMix(**data["mix"])})


def fit(writers: Sequence[ImageWriter], cfg: TrainConfig, desc: str = "train",
        progress: bool = True) -> tuple[CrossWriter, dict[str, float]]:
    """Train a fresh network on random pairs of ``writers``; returns it in eval mode and stats."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = context().prepare(CrossWriter(cfg.net))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.steps)
    model.train()
    run = TrainRun(desc, {"config": cfg.to_dict(), "writers": [w.key for w in writers]}, cfg.steps,
                   [model], opt, sched, [rng])

    def forward(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e1, e2 = model.embed(x)
        logits = model.classify(e1, e2)
        return pair_loss(logits, e1, e2, y, cfg.loss), logits

    stats = pair_steps(run, writers, cfg.batch, cfg.mix, rng, forward, desc, progress, mininterval=10)
    return model.eval().cpu(), stats


def run_fold(svc: dict[int, ImageWriter], fold: int, folds: int, cfg: TrainConfig,
             progress: bool = True) -> tuple[CrossWriter, dict[str, Any]]:
    """Train on the fold's training writers, choose terms and threshold on its validation
    writers, test on its test writers (exactly as ``export.offline.folds.run_fold``)."""
    train_u, _, _ = split(fold, folds)
    model, stats = fit([svc[u] for u in train_u], cfg, desc=f"fold {fold}", progress=progress)
    t0 = time.perf_counter()
    result = score_fold(torch_scorer(model), svc, fold, folds)
    return model, {**result, "eval_seconds": time.perf_counter() - t0, "config": cfg.to_dict(), **stats}


def load_checkpoint(path: str | Path) -> tuple[CrossWriter, TrainConfig, dict[str, Any]]:
    return read_checkpoint(path, TrainConfig.from_dict, lambda cfg: CrossWriter(cfg.net))
