"""Training loop for SDINet: random labelled pairs, cross-entropy with label smoothing.

Label smoothing keeps P(genuine) away from exactly 0 or 1, so the distances 1 - p that
the runtime normalises by the references' own spread (Sharma-Sundaram) stay well
conditioned instead of collapsing to 1e-7. Training is bounded by steps, seeded, and
uses a GPU when one is present; data-parallel and resumable through ``export.distributed``
and ``export.checkpoint``.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from export.checkpoint import TrainRun, read_checkpoint
from export.distributed import context
from export.offline.data import ImageWriter, PairMix, sample_pairs, to_float
from export.offline.sdinet import Sdinet, SdinetConfig


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 300
    batch: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    seed: int = 0
    net: SdinetConfig = field(default_factory=SdinetConfig)
    mix: PairMix = field(default_factory=PairMix)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return cls(**{**data, "net": SdinetConfig(**data["net"]), "mix": PairMix(**data["mix"])})


def fit(writers: Sequence[ImageWriter], cfg: TrainConfig, desc: str = "train",
        progress: bool = True) -> tuple[Sdinet, dict[str, float]]:
    """Train a fresh SDINet on pairs from ``writers``; returns the model (eval mode, CPU) and stats."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = context().prepare(Sdinet(cfg.net))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    model.train()
    run = TrainRun(desc, {"config": cfg.to_dict(), "writers": [w.key for w in writers]}, cfg.steps,
                   [model], opt, sched, [rng])

    def forward(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(x)
        return loss_fn(logits, y), logits

    stats = pair_steps(run, writers, cfg.batch, cfg.mix, rng, forward, desc, progress)
    return model.eval().cpu(), stats


def pair_steps(run: TrainRun, writers: Sequence[ImageWriter], batch: int, mix: PairMix, rng: np.random.Generator,
               forward: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]], desc: str,
               progress: bool, mininterval: float = 0.1) -> dict[str, float]:
    """The pair-classification loop every image network shares: ``forward(x, y)`` gives the
    loss and the two-class logits of a batch of random labelled pairs; resumes where ``run``
    stopped, and returns the loss and accuracy (smoothed over the global batch) and the wall clock."""
    from tqdm import tqdm
    ctx = context()
    first = run.start()
    start, ema, acc = time.perf_counter(), run.values.get("ema"), run.values.get("acc")
    bar = tqdm(range(first, run.steps), desc=desc, disable=not progress or not ctx.is_main, leave=False,
               mininterval=mininterval)
    for step in bar:
        pairs, labels = sample_pairs(writers, batch, rng, mix)  # the global batch; this rank's share:
        x = torch.from_numpy(to_float(ctx.shard(pairs))).to(ctx.device)
        y = torch.from_numpy(ctx.shard(labels)).to(ctx.device)
        with ctx.autocast():
            loss, logits = forward(x, y)
        run.optimize(loss)
        hits = (logits.argmax(1) == y).float().mean()
        step_loss, batch_acc = ctx.mean(torch.stack([loss.float(), hits])).tolist()  # over the global batch
        ema, acc = run.smooth(step_loss, batch_acc)
        bar.set_postfix(loss=f"{ema:.3f}", acc=f"{acc:.2f}")
        run.step_done(step + 1)
    return {"train_seconds": time.perf_counter() - start, "final_loss_ema": ema or 0.0, "final_acc_ema": acc or 0.0}


def load_checkpoint(path: str | Path) -> tuple[Sdinet, TrainConfig, dict[str, Any]]:
    return read_checkpoint(path, TrainConfig.from_dict, lambda cfg: Sdinet(cfg.net))
