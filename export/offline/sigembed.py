"""SigEmbed: a writer-independent signature embedding, trained as a writer classifier (as SigNet is).

Pair networks (SDINet, cross-writer) must run once per reference at verification; an
embedding runs once per image, so references are stored as 128 numbers and a query
costs one forward pass whatever the number of references. The network is a small
SigNet-like CNN on the runtime's 155x220 SDINet input (ink = 1): a 5x5 stride-2 stem,
three pooled stages, global average pooling and a linear 128-d embedding, ~150k
parameters. The input is average-pooled by 2 first: on the shared 2-core build machine a
full-resolution step cost 7 s, and a network trained 4x longer at 77x110 beats one
trained 4x shorter at 155x220.

Training follows SigNet-F: every training writer is a class, and (the "F" part) the
skilled forgeries of a writer form a class of their own, so the embedding is pushed to
separate a forger's imitation from the writer's genuine signatures instead of merging
them. The head is the additive-margin cosine classifier of ``export.identify_backbone``,
which trains the feature for cosine comparison of writers the network has never seen.

With 67 training writers the first recipe fitted them almost perfectly (batch accuracy
99 %); strong augmentation (``export.offline.augment``), label smoothing and dropout keep
it at about 86 % and lowered the pooled validation EER from 30.1 to 28.4 % (sigembed 1.1.0).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from export.identify_backbone import EMBED_DIM, CosineHead, _augment
from export.offline.augment import strong
from export.offline.data import ImageWriter, to_float
from export.offline.sdinet import IMG_H, IMG_W

INPUT, OUTPUT = "image", "embedding"


@dataclass(frozen=True)
class EmbedConfig:
    width: int = 16
    #: input average pooling (2: the network sees 77x110, a quarter of the cost of 155x220)
    pool: int = 2
    steps: int = 1200
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    #: share of each batch drawn from real scans (the rest from renders), when both exist
    real_share: float = 0.4
    seed: int = 0
    #: "shift" (small shifts and scales) or "strong" (``export.offline.augment.strong``)
    augment: str = "shift"
    label_smoothing: float = 0.0
    #: dropout on the pooled features, before the embedding layer (training only)
    dropout: float = 0.0
    #: draw the rendered share of a batch equally from every rendered set (else by image count)
    balance_sets: bool = False
    #: "pool": the stem sees the input after ``pool`` average pooling; "conv": a learned 3x3
    #: stride-2 convolution at full resolution replaces the pooling (needs ``pool`` = 2)
    stem: str = "pool"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EmbedConfig":
        return cls(**data)


def _cbr(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def _downsample(pool: int, stem: str, width: int) -> tuple[nn.Module, int]:
    """The layer before the 5x5 stem and its channel count: fixed average pooling, or (``stem``
    "conv") a learned stride-2 convolution that sees strokes at full resolution."""
    if stem == "conv":
        if pool != 2:
            raise ValueError(f"stem 'conv' replaces 2x2 pooling; got pool={pool}")
        return _cbr(1, width // 2, 3, 2), width // 2
    if stem != "pool":
        raise ValueError(f"unknown stem {stem!r}: 'pool' or 'conv'")
    return (nn.AvgPool2d(pool) if pool > 1 else nn.Identity()), 1


class SigEmbed(nn.Module):
    """(N, 1, 155, 220) prepared signature, ink = 1 -> (N, 128) embedding (not normalised)."""

    def __init__(self, width: int = 16, pool: int = 2, stem: str = "pool", dropout: float = 0.0):
        super().__init__()
        w = width
        down, cin = _downsample(pool, stem, w)
        self.features = nn.Sequential(down, _cbr(cin, w, 5, 2),
                                      nn.MaxPool2d(2), _cbr(w, 2 * w, 3), nn.MaxPool2d(2),
                                      _cbr(2 * w, 4 * w, 3), _cbr(4 * w, 4 * w, 3), nn.MaxPool2d(2),
                                      _cbr(4 * w, 8 * w, 3))
        self.drop = nn.Dropout(dropout)
        self.embed = nn.Linear(8 * w, EMBED_DIM)

    @classmethod
    def of(cls, cfg: "EmbedConfig") -> "SigEmbed":
        return cls(cfg.width, cfg.pool, cfg.stem, cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.drop(self.features(x).mean(dim=(2, 3))))


class _Normalized(nn.Module):
    """What the ONNX file computes: the L2-normalised embedding, so distances are 1 - dot."""

    def __init__(self, model: SigEmbed):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.model(x), dim=1)


@dataclass
class FlatImages:
    """Every training image once (uint8, ink = 255), its class and whether it is a real scan.

    Class 2k is writer k's genuine signatures, 2k + 1 the skilled forgeries of writer k;
    ``group`` numbers the writer's set (the part of its key before ":"), in order of appearance.
    """

    images: np.ndarray
    labels: np.ndarray
    real: np.ndarray
    group: np.ndarray

    @classmethod
    def of(cls, writers: Sequence[ImageWriter], real: Sequence[bool]) -> "FlatImages":
        imgs, labels, is_real, group = [], [], [], []
        sets: dict[str, int] = {}
        for k, (w, r) in enumerate(zip(writers, real)):
            g = sets.setdefault(w.key.split(":")[0], len(sets))
            for kind, arr in ((0, w.genuine), (1, w.forgery)):
                flat = arr.reshape(-1, *arr.shape[2:])
                imgs.append(flat)
                labels.append(np.full(len(flat), 2 * k + kind))
                is_real.append(np.full(len(flat), r))
                group.append(np.full(len(flat), g))
        return cls(np.concatenate(imgs), np.concatenate(labels), np.concatenate(is_real), np.concatenate(group))

    def sample(self, n: int, real_share: float, rng: np.random.Generator, balance_sets: bool = False
               ) -> tuple[np.ndarray, np.ndarray]:
        """``n`` random images, ``real_share`` of them real scans when there are both kinds; with
        ``balance_sets`` the renders' share is split equally between the rendered sets, so a
        large set (SUSig) does not crowd out the others."""
        real_idx, synth_idx = np.flatnonzero(self.real), np.flatnonzero(~self.real)
        if len(real_idx) and len(synth_idx):
            n_real = int(round(n * real_share))
            idx = np.concatenate([rng.choice(real_idx, n_real),
                                  self._renders(synth_idx, n - n_real, rng, balance_sets)])
        else:
            idx = rng.integers(len(self.labels), size=n)
        return self.images[idx], self.labels[idx]

    def _renders(self, synth_idx: np.ndarray, n: int, rng: np.random.Generator, balance: bool) -> np.ndarray:
        if not balance:
            return rng.choice(synth_idx, n)
        groups = [synth_idx[self.group[synth_idx] == g] for g in np.unique(self.group[synth_idx])]
        return np.concatenate([rng.choice(groups[g], c) for g, c in
                               enumerate(np.bincount(rng.integers(len(groups), size=n), minlength=len(groups)))])


def fit(data: FlatImages, cfg: EmbedConfig, log: Path | None = None, progress: bool = True
        ) -> tuple[SigEmbed, dict[str, Any]]:
    """Train a fresh SigEmbed as a (writer, genuine / forgery) classifier on ``data``.

    Returns the backbone in eval mode (CPU) and the learning curve (loss and accuracy,
    smoothed, every 20 steps), also appended to ``log`` as JSON lines while training.
    Data-parallel and resumable like the other loops (``export.distributed``, ``export.checkpoint``).
    """
    import json
    from tqdm import tqdm
    from export.checkpoint import TrainRun
    from export.distributed import context
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    ctx = context()
    model = ctx.prepare(SigEmbed.of(cfg))
    augment = {"shift": _augment, "strong": strong}[cfg.augment]
    head = CosineHead(int(data.labels.max()) + 1).to(ctx.device)
    opt = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    run = TrainRun("sigembed", {"config": cfg.to_dict(), "images": len(data.labels)}, cfg.steps, [model, head],
                   opt, sched, [rng, gen])
    first = run.start()
    model.train()
    start, curve = time.perf_counter(), []
    bar = tqdm(range(first, cfg.steps), desc="sigembed", disable=not progress or not ctx.is_main, mininterval=10)
    for step in bar:
        # the global batch; this rank's share:
        imgs, labels = data.sample(cfg.batch, cfg.real_share, rng, cfg.balance_sets)
        # augmented whole on every rank, so ``gen`` draws what one process would draw, then shared out
        x = ctx.shard(augment(torch.from_numpy(to_float(imgs))[:, None], gen)).to(ctx.device)
        y = torch.from_numpy(ctx.shard(labels)).long().to(ctx.device)
        with ctx.autocast():
            logits = head(model(x), y)
            loss = nn.functional.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
        run.optimize(loss)
        hits = (logits.argmax(1) == y).float().mean()
        ema, acc = run.smooth(*ctx.mean(torch.stack([loss.float(), hits])).tolist())  # over the global batch
        bar.set_postfix(loss=f"{ema:.3f}", acc=f"{acc:.2f}")
        run.step_done(step + 1)
        if step % 20 == 19 or step == cfg.steps - 1:
            point = {"step": step + 1, "loss": ema, "acc": acc, "seconds": time.perf_counter() - start}
            curve.append(point)
            if log is not None and ctx.is_main:
                with log.open("a") as f:
                    f.write(json.dumps(point) + "\n")
    return model.eval().cpu(), {"train_seconds": time.perf_counter() - start, "curve": curve}


def embed(model: SigEmbed, images: np.ndarray, batch: int = 128) -> np.ndarray:
    """L2-normalised embeddings (n, 128) of uint8 images (n, 155, 220), ink = 255, by torch."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(to_float(images[i:i + batch]))[:, None]
            out.append(nn.functional.normalize(model(x), dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, EMBED_DIM), np.float32)


def export_onnx(model: SigEmbed, path: str | Path) -> Path:
    """fp32 ONNX of the normalised embedding, dynamic batch (TorchScript exporter, BN folded)."""
    import onnx
    from export.offline.to_onnx import OPSET
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(_Normalized(model.cpu()).eval(), (torch.zeros(2, 1, IMG_H, IMG_W),), str(path),
                      input_names=[INPUT], output_names=[OUTPUT],
                      dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, opset_version=OPSET,
                      dynamo=False, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    return path
