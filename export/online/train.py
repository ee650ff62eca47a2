"""Training loop: DTW triplet loss (weight 1) + center loss (weight 0.5), Adam with weight
decay 1e-4, optional synthetic pretraining or synthetic writers mixed into the batches.
Seeded; CUDA when present, CPU otherwise; data-parallel and resumable through
``export.distributed`` and ``export.checkpoint``."""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from edgesig.features.kinematics import FeatureConfig
from export.checkpoint import TrainRun
from export.distributed import context
from export.online.data import DEFAULT_FEATURES, Augment, FeatureBank, Writer, mix_weights
from export.online.losses import CenterLoss, triplet_loss
from export.online.nets import GruEmbedder


@dataclass
class TrainConfig:
    steps: int = 600
    batch: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    triplet_weight: float = 1.0
    center_weight: float = 0.5
    margin: float = 1.0
    band: float = 0.1
    p_forgery: float = 0.5
    hidden: int = 128
    out_dim: int = 64
    seed: int = 0
    dropout: float = 0.0        # between the two GRU layers, training only
    hard_frac: float = 1.0      # < 1: triplet loss over the hardest fraction of each batch
    synth_share: float = 0.0    # > 0: that share of each batch's writers is synthetic (``train(synth=...)``)
    augment: Augment = field(default_factory=lambda: Augment(rotation_deg=5.0, scale=0.1, time_warp=0.2))
    features: FeatureConfig = DEFAULT_FEATURES

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["features"] = self.features.to_dict()
        return out


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(writers: list[Writer], cfg: TrainConfig, model: GruEmbedder | None = None,
          desc: str = "train", quiet: bool = False,
          callback: Callable[[int, GruEmbedder], None] | None = None,
          synth: Sequence[Writer] = ()) -> GruEmbedder:
    """Train (or continue training) an embedder on the writers' triplets.

    ``callback(step, model)``, when given, is called after every step (e.g. snapshots).
    With ``cfg.synth_share`` > 0 the ``synth`` writers are mixed in at that share of the
    draws, so their skilled forgeries stay in every batch without outnumbering real writers."""
    seed_all(cfg.seed)
    ctx = context()
    dev = ctx.device
    if model is None:
        model = GruEmbedder(cfg.features.dim, cfg.hidden, cfg.out_dim, dropout=cfg.dropout)
    ctx.prepare(model).train()
    weights = mix_weights(len(writers), len(synth), cfg.synth_share) if cfg.synth_share > 0 else None
    writers = [*writers, *synth] if weights is not None else writers
    centers = ctx.prepare(CenterLoss(len(writers), cfg.out_dim))
    opt = torch.optim.Adam([{"params": model.parameters(), "weight_decay": cfg.weight_decay},
                            {"params": centers.parameters()}], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.steps, 1), eta_min=cfg.lr * 0.05)
    bank = FeatureBank(writers, cfg.features, cfg.augment, cfg.seed, weights)
    run = TrainRun(desc, {"config": cfg.to_dict(), "writers": [w.key for w in writers]}, cfg.steps,
                   [model, centers], opt, sched, [bank.rng])
    bar = tqdm(range(run.start(), cfg.steps), desc=desc, disable=quiet or not ctx.is_main, dynamic_ncols=True)
    for step in bar:
        keys, anchor_writers = bank.triplets(cfg.batch, cfg.p_forgery)
        # every rank draws the whole batch (features included, so bank.rng stays in step) and keeps its share
        seqs = ctx.shard([[torch.from_numpy(bank.get(*k)).to(dev) for k in triple] for triple in keys])
        with ctx.autocast():
            emb = model.embed_many([s for triple in seqs for s in triple])
            a, p, n = emb[0::3], emb[1::3], emb[2::3]
            tri, violated = triplet_loss(a, p, n, cfg.band, cfg.margin, cfg.hard_frac)
            w = torch.tensor(ctx.shard(anchor_writers), device=dev)
            cen = centers(a + p, torch.cat([w, w]))
            loss = cfg.triplet_weight * tri + cfg.center_weight * cen
        opt.zero_grad()
        loss.backward()
        ctx.average_gradients(run.parameters())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        bar.set_postfix(tri=f"{tri.item():.3f}", cen=f"{cen.item():.3f}", viol=f"{violated:.2f}")
        run.step_done(step + 1)
        if callback is not None:
            callback(step + 1, model)
    return model.eval().cpu()


def save_checkpoint(model: GruEmbedder, cfg: TrainConfig, path: str | Path, info: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state": model.state_dict(), "spec": model.spec(), "train": cfg.to_dict(), "info": info}, path)


def load_checkpoint(path: str | Path) -> tuple[GruEmbedder, dict[str, Any]]:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    spec = ckpt["spec"]
    model = GruEmbedder(spec["in_dim"], spec["hidden"], spec["out_dim"], spec["layers"])
    model.load_state_dict(ckpt["state"])
    return model.eval(), ckpt
