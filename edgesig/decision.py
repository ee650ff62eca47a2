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

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np

from edgesig.errors import InvalidInputError, ModelError

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
    #: The engine's own statistics of the references (``Engine.reference_terms``), kept with
    #: the template so a verification does not recompute them; empty for most engines.
    extra: dict[str, float] = field(default_factory=dict)
    #: Per reference, each row's stability (``edgesig.features.dtw.stabilities``) as the
    #: number of other references matching the row one-to-one, one character per row
    #: (``chr(48 + count)``: a template's JSON holds one byte a row, read back in
    #: microseconds), for an engine that weighs its local distances by them
    #: (``DtwEngine.stability``); empty for the others. Kept with the template: 20 alignments
    #: at enrolment, none at verification.
    stability: tuple[str, ...] = ()

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
        rows = self.normalized_rows(np.asarray(query_distances, dtype=np.float64)[None])
        return {t: float(v[0]) for t, v in rows.items()}

    def normalized_rows(self, query_distances: np.ndarray) -> dict[str, np.ndarray]:
        """``normalized`` of every row of an (n, k) array of queries' distances at once: a
        protocol scores tens of thousands of queries per weighting it tries."""
        q = np.asarray(query_distances, dtype=np.float64)
        return {"min": q.min(axis=1) / self.d_min, "mean": q.mean(axis=1) / self.d_mean,
                "max": q.max(axis=1) / self.d_max, "tmp": q[:, self.template_index] / self.d_tmp}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.stability:  # templates of the engines without it are stored as before
            del out["stability"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ReferenceStats":
        return cls(**{k: data[k] for k in ("template_index", "d_min", "d_mean", "d_max", "d_tmp")},
                   extra={str(k): float(v) for k, v in data.get("extra", {}).items()},
                   stability=tuple(data.get("stability", ())))


def _pos(value: float) -> float:
    return max(float(value), _EPS)


def dissimilarity(query_distances: np.ndarray, stats: ReferenceStats,
                  combine: tuple[str, ...] = ("min", "mean")) -> float:
    """Sum of the chosen normalised terms; lower means more like the references."""
    terms = stats.normalized(query_distances)
    return float(sum(terms[t] for t in combine))


def dissimilarities(query_distances: np.ndarray, stats: ReferenceStats,
                    combine: tuple[str, ...] = ("min", "mean")) -> np.ndarray:
    """``dissimilarity`` of every row of an (n, k) array of queries' distances."""
    terms = stats.normalized_rows(query_distances)
    return np.asarray(sum(terms[t] for t in combine), dtype=np.float64).reshape(len(query_distances))


def decision_terms(query_distances: np.ndarray, stats: ReferenceStats) -> dict[str, float]:
    """Every term a learned decision may weigh that the distances give: the normalised
    terms, their logs (``log.min``...: a ratio's log treats twice and half alike), and the
    log of each normaliser (``spread.min``...: how loosely this writer signs, which moves
    where a writer's genuine scores sit against one global threshold)."""
    terms = stats.normalized(query_distances)
    spreads = (stats.d_min, stats.d_mean, stats.d_max, stats.d_tmp)
    return {**terms, **{f"log.{k}": math.log(max(v, _EPS)) for k, v in terms.items()},
            **{f"spread.{k}": math.log(v) for k, v in zip(TERMS, spreads)}}


@dataclass(frozen=True)
class Combiner:
    """A learned decision: a weighted sum of named terms in place of the plain sum.

    The terms are the normalised distances (``TERMS``) and whatever else the engine
    names (``Engine.terms``: the DTW engine's per-feature global deviations). The weights
    are fitted on training writers (``edgesig.eval.combiner``); the calibration then puts
    one global threshold on the weighted sum as it does on the plain one. It is stored as
    the ``decision`` block of a manifest entry's params; an entry without one decides as
    before.
    """

    terms: tuple[str, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.terms or len(self.terms) != len(self.weights) or not np.all(np.isfinite(self.weights)):
            raise ModelError(f"decision block: need one finite weight per term, got terms {list(self.terms)} "
                             f"and weights {list(self.weights)}; re-run `edgesig tune online --combiner`")

    def apply(self, values: Mapping[str, float]) -> float:
        """The weighted sum of the named terms; lower means more like the references."""
        try:
            return float(sum(w * values[t] for t, w in zip(self.terms, self.weights)))
        except KeyError:
            missing = [t for t in self.terms if t not in values]
            raise ModelError(f"decision block names terms {missing} this engine does not compute "
                             f"(it has {sorted(values)}); re-run `edgesig tune online --combiner`") from None

    def to_dict(self) -> dict[str, list]:
        return {"terms": list(self.terms), "weights": list(self.weights)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Combiner":
        return cls(tuple(str(t) for t in data["terms"]), tuple(float(w) for w in data["weights"]))


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
    slope, bias = fit_logistic(np.column_stack([x, np.ones_like(x)]), y, np.full(2, 1e-6), start=np.array([scale, 0.0]))
    return Calibration(threshold=float(threshold), slope=float(max(slope, _EPS)), bias=float(bias))


def fit_logistic(X: np.ndarray, y: np.ndarray, ridge: np.ndarray, start: np.ndarray | None = None,
                 iterations: int = 50, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Weights w of P(y = 1) = sigmoid(X · w) with an L2 penalty ``ridge`` per weight, by
    Newton's method (a handful of weights: the Hessian is tiny, and Newton needs no step size).
    ``sample_weight``: how much each row's log-likelihood counts (none: every row once)."""
    w = np.zeros(X.shape[1]) if start is None else np.asarray(start, dtype=np.float64).copy()
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -50, 50)))
        curve = p * (1 - p)
        residual = p - y
        if sample_weight is not None:
            residual, curve = sample_weight * residual, sample_weight * curve
        grad = X.T @ residual + ridge * w
        hess = X.T @ (X * curve[:, None]) + np.diag(ridge)
        step = np.linalg.solve(hess, grad)
        w = w - step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w
