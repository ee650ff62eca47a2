"""The cross-writer attention network: a Siamese DenseNet with difference SimAM, SPP and cross-attention.

Follows the cross-writer paper's design, sized for a kiosk CPU instead of a TITAN Xp:

* each signature, gray- and moment-normalised to 224x224 (``edgesig.offline.normalize_
  crosswriter``), goes through the same lightweight DenseNet with GELU: a 2x2 average
  pool (224 -> 112, the network never needs finer detail than a 1-2 px stroke at 112),
  two stride-2 stem convolutions (-> 28x28), dense blocks of (3, 8, 5) bottleneck layers
  (1x1 then 3x3 convolution, growth 8) with a pooling transition (-> 14x14) and a
  compressing one: 2 + 2 * 16 + 2 = 36 convolution layers, ~93k parameters. Only three
  dense layers run at 28x28: they cost a quarter of the whole pair on a CPU. Layers are
  Conv-BN-GELU, so every BatchNorm folds into its convolution in the exported graph.
  ``pool=4`` (the pool-trained 2.0) pools the input to 56x56 instead, so every stage runs
  at half the side (final map 7x7, SPP levels 1 and 7): a training step of 24 pairs cost
  0.20 s of CPU instead of 0.55 s at one thread, and the input stays 224x224;
* improved SimAM on the difference: SimAM's parameter-free energy (a neuron that stands
  out from its channel's mean gets a high weight) is computed on F1 - F2, where the two
  signatures disagree, and the same attention re-weights both branches (F * (1 + A)), so
  both look at the places that decide the pair;
* spatial pyramid pooling turns each 14x14 map into 1 + 4 + 49 tokens (levels 1, 2, 7);
* cross-attention: each branch's tokens query the other branch's keys and values (one
  head, residual, shared weights, so the network stays symmetric in its two inputs);
* |F1 - F2| of the flattened, layer-normalised tokens -> dropout 0.1 -> linear -> 2 logits
  (class 1 = same writer).

Ablation flags drop one part each (``simam``, ``spp`` -> a single 7x7 level,
``cross_attention``); ``pair_loss`` is the focal contrast loss or, for the ablation, plain
cross-entropy + contrastive loss.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

IMG = 224


@dataclass(frozen=True)
class CrossWriterConfig:
    stem: tuple[int, int] = (8, 16)        # channels of the two stride-2 stem convolutions
    growth: int = 8
    bottleneck: int = 4                    # 1x1 width = bottleneck * growth
    blocks: tuple[int, int, int] = (3, 8, 5)
    levels: tuple[int, ...] = (1, 2, 7)    # SPP grid sizes on the 14x14 map
    attn_dim: int = 48
    dropout: float = 0.1
    simam: bool = True
    spp: bool = True
    cross_attention: bool = True
    simam_lambda: float = 1e-4
    #: In-model average pool of the 224x224 input: 2 (the SVC2004-only 1.0.0) keeps 112x112 and a
    #: 14x14 final map; 4 keeps 56x56 and a 7x7 map, about a quarter of the training step's cost
    #: (the runtime's input and normalisation stay the same either way).
    pool: int = 2

    def __post_init__(self) -> None:
        size = self.map_size
        if IMG % (8 * self.pool) or any(size % lv for lv in self.pool_levels):
            raise ValueError(f"pool {self.pool} leaves a {IMG / (8 * self.pool):g}-pixel final map; every SPP "
                             f"level {self.pool_levels} must divide it (pool 2: levels of 14, pool 4: of 7)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CrossWriterConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    @property
    def pool_levels(self) -> tuple[int, ...]:
        return self.levels if self.spp else (7,)

    @property
    def map_size(self) -> int:
        """Side of the backbone's final map: the input pool, two stride-2 stems and one transition pool."""
        return IMG // (8 * self.pool)


def _cbg(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.GELU())


class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, bottleneck: int):
        super().__init__()
        self.body = nn.Sequential(_cbg(cin, bottleneck * growth, 1), _cbg(bottleneck * growth, growth, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


def _block(cin: int, n: int, cfg: CrossWriterConfig) -> tuple[nn.Sequential, int]:
    layers = [DenseLayer(cin + i * cfg.growth, cfg.growth, cfg.bottleneck) for i in range(n)]
    return nn.Sequential(*layers), cin + n * cfg.growth


class DenseBackbone(nn.Module):
    """(B, 1, 224, 224) ink-bright image -> (B, C, s, s) feature map, s = ``cfg.map_size``."""

    def __init__(self, cfg: CrossWriterConfig):
        super().__init__()
        c0, c1 = cfg.stem
        b1, c = _block(c1, cfg.blocks[0], cfg)
        t1 = _cbg(c, c // 2, 1)
        b2, c2 = _block(c // 2, cfg.blocks[1], cfg)
        t2 = _cbg(c2, c2 // 2, 1)
        b3, self.channels = _block(c2 // 2, cfg.blocks[2], cfg)
        self.net = nn.Sequential(nn.AvgPool2d(cfg.pool), _cbg(1, c0, 3, 2), _cbg(c0, c1, 3, 2),
                                 b1, t1, nn.AvgPool2d(2), b2, t2, b3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def simam_attention(diff: torch.Tensor, lam: float) -> torch.Tensor:
    """SimAM's inverse energy per neuron, squashed: high where a neuron stands out of its channel."""
    n = diff.shape[2] * diff.shape[3] - 1
    d = (diff - diff.mean(dim=(2, 3), keepdim=True)) ** 2
    v = d.sum(dim=(2, 3), keepdim=True) / n
    return torch.sigmoid(d / (4 * (v + lam)) + 0.5)


def spp_tokens(f: torch.Tensor, levels: tuple[int, ...]) -> torch.Tensor:
    """(B, C, s, s) -> (B, sum(l*l), C): average pools on l x l grids (l divides s)."""
    size = f.shape[2]
    toks = [F.avg_pool2d(f, size // lv).flatten(2) for lv in levels]
    return torch.cat(toks, dim=2).transpose(1, 2)


class CrossAttention(nn.Module):
    """Tokens of one branch attend to the other's keys and values (one head, residual)."""

    def __init__(self, dim: int, attn_dim: int):
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(dim, attn_dim) for _ in range(3))
        self.out = nn.Linear(attn_dim, dim)
        self.scale = attn_dim ** -0.5

    def attend(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(torch.matmul(self.q(a), self.k(b).transpose(1, 2)) * self.scale, dim=-1)
        return a + self.out(torch.matmul(w, self.v(b)))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.attend(a, b), self.attend(b, a)


class CrossWriter(nn.Module):
    """Pair (B, 2, 224, 224), channel 0 = reference, 1 = query -> (B, 2) logits (1 = same writer)."""

    def __init__(self, cfg: CrossWriterConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or CrossWriterConfig()
        self.backbone = DenseBackbone(cfg)
        c = self.backbone.channels
        self.cross = CrossAttention(c, cfg.attn_dim) if cfg.cross_attention else None
        self.norm = nn.LayerNorm(c)
        n_tokens = sum(lv * lv for lv in cfg.pool_levels)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(n_tokens * c, 2))

    def embed(self, pair: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two branches' final features F1, F2 (B, tokens * C)."""
        b = pair.shape[0]
        f = self.backbone(torch.cat([pair[:, 0:1], pair[:, 1:2]], dim=0))
        f1, f2 = f[:b], f[b:]
        if self.cfg.simam:
            a = simam_attention(f1 - f2, self.cfg.simam_lambda)
            f1, f2 = f1 * (1 + a), f2 * (1 + a)
        t1, t2 = spp_tokens(f1, self.cfg.pool_levels), spp_tokens(f2, self.cfg.pool_levels)
        if self.cross is not None:
            t1, t2 = self.cross(t1, t2)
        return self.norm(t1).flatten(1), self.norm(t2).flatten(1)

    def classify(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        # Applied to (B, 1, D): the exporter then writes MatMul + Add instead of Gemm, which the
        # dynamic quantizer covers with a per-run range; a static range on |F1 - F2| and on the
        # logits cost 2 EER points of int8 parity.
        return self.head(torch.abs(e1 - e2)[:, None])[:, 0]

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return self.classify(*self.embed(pair))


@dataclass(frozen=True)
class LossConfig:
    """``focal``: the focal contrast loss; else cross-entropy + contrastive (the ablation)."""

    focal: bool = True
    alpha: float = 0.25
    gamma: float = 2.0
    margin: float = 1.0
    contrast_weight: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


def pair_loss(logits: torch.Tensor, e1: torch.Tensor, e2: torch.Tensor, y: torch.Tensor,
              cfg: LossConfig) -> torch.Tensor:
    """Focal contrast loss: the classifier's focal loss plus the embeddings' contrastive loss,
    both weighted per pair by alpha_t (1 - p_t)^gamma, so easy pairs (most random forgeries)
    stop dominating and training concentrates on skilled forgeries and unusual genuines.
    The embedding distance is the RMS of F1 - F2; negatives are pushed beyond ``margin``.
    """
    logp_t = torch.log_softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
    yf = y.float()
    if cfg.focal:
        # x2 keeps alpha_t at 0.5 / 1.5 on average: loss scale comparable to plain cross-entropy
        w = 2 * (cfg.alpha * yf + (1 - cfg.alpha) * (1 - yf)) * (1 - logp_t.exp()).pow(cfg.gamma)
    else:
        w = torch.ones_like(yf)
    d = (e1 - e2).pow(2).mean(dim=1).add(1e-8).sqrt()
    contrast = yf * d.pow(2) + (1 - yf) * F.relu(cfg.margin - d).pow(2)
    return (w * (-logp_t + cfg.contrast_weight * contrast)).mean()


def genuine_probability(model: CrossWriter, pair: torch.Tensor) -> torch.Tensor:
    return torch.softmax(model(pair), dim=1)[:, 1]
