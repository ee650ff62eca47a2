"""The decision: from distances to the enrolled references to accept / reject.

Sharma & Sundaram's rule (as used by SynSig2Vec and DsDTW): a writer's own references
tell how variable that writer is. From the references' pairwise distance matrix we take
the template (the reference closest on average to the others) and four normalisers; a
query's distances to the references are divided by them, so a writer who signs loosely
is not rejected for it and a very consistent writer is held to it. A global threshold on
the combined normalised distance is then learnt on validation writers, and a logistic
calibration maps it to a score in [0, 1].
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgesig.errors import InvalidInputError

TERMS = ("min", "mean", "max", "tmp")
_EPS = 1e-9


@dataclass(frozen=True)
class ReferenceStats:
    """Normalisers from the references' pairwise distances."""

    template_index: int
    d_min: float    # mean over references of the distance to their nearest other reference
    d_mean: float   # mean pairwise distance
    d_max: float    # mean over references of the distance to their farthest other reference
    d_tmp: float    # mean distance from the template to the others

    @classmethod
    def from_matrix(cls, dist: np.ndarray) -> "ReferenceStats":
        d = np.asarray(dist, dtype=np.float64)
        k = d.shape[0]
        if d.ndim != 2 or d.shape != (k, k) or k < 2:
            raise InvalidInputError(f"need a square distance matrix of at least 2 references, got {d.shape}")
        off = ~np.eye(k, dtype=bool)
        rows = d[off].reshape(k, k - 1)
        tmp = int(np.argmin(rows.mean(axis=1)))
        return cls(template_index=tmp, d_min=_pos(rows.min(axis=1).mean()),
                   d_mean=_pos(rows.mean()), d_max=_pos(rows.max(axis=1).mean()),
                   d_tmp=_pos(rows[tmp].mean()))

    def normalized(self, query_distances: np.ndarray) -> dict[str, float]:
        """The query's distances divided by the normalisers, one value per term."""
        q = np.asarray(query_distances, dtype=np.float64)
        return {"min": float(q.min()) / self.d_min, "mean": float(q.mean()) / self.d_mean,
                "max": float(q.max()) / self.d_max, "tmp": float(q[self.template_index]) / self.d_tmp}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ReferenceStats":
        return cls(**{k: data[k] for k in ("template_index", "d_min", "d_mean", "d_max", "d_tmp")})


def _pos(value: float) -> float:
    return max(float(value), _EPS)


def dissimilarity(query_distances: np.ndarray, stats: ReferenceStats,
                  combine: tuple[str, ...] = ("min", "mean")) -> float:
    """Sum of the chosen normalised terms; lower means more like the references."""
    terms = stats.normalized(query_distances)
    return float(sum(terms[t] for t in combine))


@dataclass(frozen=True)
class Calibration:
    """Maps a dissimilarity to P(genuine) = sigmoid(slope · (threshold − d) + bias).

    ``threshold`` is the operating point chosen on validation writers (their EER point);
    ``probability(threshold)`` is the score threshold reported to callers.
    """

    threshold: float
    slope: float
    bias: float = 0.0

    def probability(self, d: float | np.ndarray) -> float | np.ndarray:
        z = self.slope * (self.threshold - np.asarray(d, dtype=np.float64)) + self.bias
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
        return float(p) if np.ndim(p) == 0 else p

    @property
    def score_threshold(self) -> float:
        return float(self.probability(self.threshold))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Calibration":
        return cls(float(data["threshold"]), float(data["slope"]), float(data.get("bias", 0.0)))


def fit_calibration(genuine: np.ndarray, forgery: np.ndarray) -> Calibration:
    """Operating point at the validation EER; logistic slope and bias by Newton's method."""
    from edgesig.eval.metrics import eer
    g = np.asarray(genuine, dtype=np.float64)
    f = np.asarray(forgery, dtype=np.float64)
    _, neg_thr = eer(-g, -f)
    threshold = -neg_thr
    x = np.concatenate([threshold - g, threshold - f])
    y = np.concatenate([np.ones(g.size), np.zeros(f.size)])
    scale = 1.0 / max(float(np.std(x)), _EPS)
    w = np.array([scale, 0.0])  # [slope, bias]
    for _ in range(50):
        z = np.clip(w[0] * x + w[1], -50, 50)
        p = 1.0 / (1.0 + np.exp(-z))
        grad = np.array([np.sum((p - y) * x), np.sum(p - y)]) + 1e-6 * w
        h = p * (1 - p)
        hess = np.array([[np.sum(h * x * x), np.sum(h * x)], [np.sum(h * x), np.sum(h)]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w = w - step
        if np.max(np.abs(step)) < 1e-8:
            break
    return Calibration(threshold=float(threshold), slope=float(max(w[0], _EPS)), bias=float(w[1]))
