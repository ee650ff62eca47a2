"""Optical-flow stability of a writer (Impedovo & Pirlo) and the features that use it.

A genuine writer repeats some parts of a signature almost exactly and varies others;
a forger, copying the shape slowly, deviates where the writer is stable. Dense optical
flow between two normalised signatures measures, region by region, how far one must be
bent to match the other. Over the pairs of a writer's genuine references this gives a
*stability map* (per grid cell: mean and spread of the flow magnitude and of the
residual ink mismatch after warping); a query's flow to each reference is then scored
by how many reference spreads it lies away from that map. A small boosted-tree model
turns those deviations into P(genuine) per reference, and the paper's majority vote
over the references (or edgesig's Sharma–Sundaram rule on 1 − P) decides.

Flow is Horn–Schunck on a coarse grid (64 x 96 by default), coarse-to-fine with
warping, as a numba kernel with a fixed iteration count so that a comparison has a
fixed cost (a few ms on one core); OpenCV's Farneback is the alternative.
The stability map is also what a human examiner wants to see: ``explain_image`` draws
it, and the query's per-cell deviations, as a heatmap PNG.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Sequence

import cv2
import numpy as np
from numba import njit

from edgesig.errors import ImageError, InvalidInputError, ModelError, input_label, labelled

Method = Literal["hs", "farneback"]

#: Names of the pair features, in the order of :func:`pair_features`' output.
FEATURES = ("z_mag_mean", "z_mag_max", "z_mag_frac2", "z_mag_stable", "z_err_mean", "z_err_max",
            "mag_ratio", "err_ratio", "shift_ratio", "ink_ratio", "mag_abs", "err_abs")
_EPS = 1e-6


@dataclass(frozen=True)
class FlowConfig:
    """How flow is computed and aggregated; stored in the manifest entry's params.

    ``grid``: (H, W) the normalised image is reduced to; ``cells``: (rows, cols) of the
    stability grid (each must divide ``grid``); ``alpha``: Horn–Schunck smoothness;
    ``iterations`` per pyramid level, ``levels`` of the pyramid; ``blur``: Gaussian sigma
    (grid px) that widens strokes so their gradients overlap; ``prior_weight``: how many
    reference pairs the population prior counts as when a writer has few.
    """

    method: Method = "hs"
    grid: tuple[int, int] = (64, 96)
    cells: tuple[int, int] = (4, 6)
    alpha: float = 0.4
    iterations: int = 40
    levels: int = 2
    blur: float = 1.2
    prior_weight: float = 3.0

    def __post_init__(self) -> None:
        if self.method not in ("hs", "farneback"):
            raise InvalidInputError(f"flow method must be 'hs' or 'farneback', got {self.method!r}")
        gh, gw = self.grid
        ch, cw = self.cells
        if min(gh, gw, ch, cw) < 1 or gh % ch or gw % cw:
            raise InvalidInputError(f"cells {self.cells} must divide the grid {self.grid}")
        if gh % (1 << (self.levels - 1)) or gw % (1 << (self.levels - 1)):
            raise InvalidInputError(f"grid {self.grid} must be divisible by 2**(levels-1)")
        if self.iterations < 1 or self.levels < 1 or self.alpha <= 0:
            raise InvalidInputError("iterations and levels must be >= 1 and alpha > 0")

    @property
    def n_cells(self) -> int:
        return self.cells[0] * self.cells[1]

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FlowConfig":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})


# -- images and flow ------------------------------------------------------------------
def to_grid(image: np.ndarray, cfg: FlowConfig) -> np.ndarray:
    """The coarse float32 image flow runs on, from a normalised signature (ink bright)."""
    arr = np.asarray(image)
    if arr.ndim != 2 or min(arr.shape) < 8 or not np.issubdtype(arr.dtype, np.number):
        raise ImageError(f"flow needs a normalised 2-D signature array, got shape {arr.shape} "
                         f"of {arr.dtype}; pass it through edgesig.offline.prepare first")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ImageError("the normalised signature contains NaN or infinity")
    gh, gw = cfg.grid
    small = cv2.resize(arr, (gw, gh), interpolation=cv2.INTER_AREA)
    if cfg.blur > 0:
        small = cv2.GaussianBlur(small, (0, 0), cfg.blur)
    peak = float(small.max())
    if peak <= _EPS:
        raise ImageError("no signature found: the normalised image holds no ink")
    return np.ascontiguousarray(small / peak, dtype=np.float32)


@njit(cache=True)
def hs_flow(ix: np.ndarray, iy: np.ndarray, it: np.ndarray, alpha2: float,
            iterations: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - numba
    """Horn–Schunck: ``iterations`` Jacobi sweeps from zero flow; returns (u, v).

    Minimises (Ix u + Iy v + It)^2 + alpha2 (|grad u|^2 + |grad v|^2); the neighbour
    average uses the classic 1/6 (edge) and 1/12 (corner) weights, borders replicated.
    """
    h, w = ix.shape
    u = np.zeros((h, w), np.float32)
    v = np.zeros((h, w), np.float32)
    un = np.empty_like(u)
    vn = np.empty_like(v)
    for _ in range(iterations):
        for y in range(h):
            ym, yp = max(y - 1, 0), min(y + 1, h - 1)
            for x in range(w):
                xm, xp = max(x - 1, 0), min(x + 1, w - 1)
                ub = ((u[ym, x] + u[yp, x] + u[y, xm] + u[y, xp]) / 6.0
                      + (u[ym, xm] + u[ym, xp] + u[yp, xm] + u[yp, xp]) / 12.0)
                vb = ((v[ym, x] + v[yp, x] + v[y, xm] + v[y, xp]) / 6.0
                      + (v[ym, xm] + v[ym, xp] + v[yp, xm] + v[yp, xp]) / 12.0)
                gx, gy = ix[y, x], iy[y, x]
                t = (gx * ub + gy * vb + it[y, x]) / (alpha2 + gx * gx + gy * gy)
                un[y, x] = ub - gx * t
                vn[y, x] = vb - gy * t
        u, un = un, u
        v, vn = vn, v
    return u, v


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at x + flow: the second image brought onto the first."""
    h, w = image.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def horn_schunck(a: np.ndarray, b: np.ndarray, cfg: FlowConfig) -> np.ndarray:
    """Flow (H, W, 2) with a(x) ~ b(x + flow), coarse to fine over ``cfg.levels``."""
    pyr = [(a, b)]
    for _ in range(cfg.levels - 1):
        pa, pb = pyr[-1]
        size = (pa.shape[1] // 2, pa.shape[0] // 2)
        pyr.append((cv2.resize(pa, size, interpolation=cv2.INTER_AREA),
                    cv2.resize(pb, size, interpolation=cv2.INTER_AREA)))
    flow = np.zeros(pyr[-1][0].shape + (2,), np.float32)
    alpha2 = float(cfg.alpha) ** 2
    for la, lb in reversed(pyr):
        if flow.shape[:2] != la.shape:
            flow = cv2.resize(flow, (la.shape[1], la.shape[0]), interpolation=cv2.INTER_LINEAR) * 2.0
        bw = warp(lb, flow)
        mean = 0.5 * (la + bw)
        iy, ix = np.gradient(mean)
        u, v = hs_flow(np.ascontiguousarray(ix, np.float32), np.ascontiguousarray(iy, np.float32),
                       np.ascontiguousarray(bw - la, np.float32), alpha2, int(cfg.iterations))
        flow = flow + np.dstack([u, v])
    return flow


def farneback(a: np.ndarray, b: np.ndarray, cfg: FlowConfig) -> np.ndarray:
    """OpenCV Farneback flow (H, W, 2) with a(x) ~ b(x + flow)."""
    a8 = np.clip(a * 255.0, 0, 255).astype(np.uint8)
    b8 = np.clip(b * 255.0, 0, 255).astype(np.uint8)
    return cv2.calcOpticalFlowFarneback(a8, b8, None, 0.5, cfg.levels + 1, 9, 3, 5, 1.1, 0)


def dense_flow(a: np.ndarray, b: np.ndarray, cfg: FlowConfig) -> np.ndarray:
    """Flow between two grid images with the configured method."""
    if a.shape != tuple(cfg.grid) or b.shape != tuple(cfg.grid):
        raise InvalidInputError(f"flow needs two {cfg.grid} grid images (see to_grid), got {a.shape} and {b.shape}")
    return horn_schunck(a, b, cfg) if cfg.method == "hs" else farneback(a, b, cfg)


# -- per-cell measures and the stability map ----------------------------------------------
@dataclass(frozen=True)
class PairMeasure:
    """Per-cell flow measures of one comparison (reference a, other image b).

    ``mag``: ink-weighted mean magnitude of the flow after removing its mean shift;
    ``err``: ink-weighted mean |a - warped b| (what the flow could not explain);
    ``ink``: ink weight per cell; ``shift``: magnitude of the mean flow (grid px);
    ``ink_ratio``: |log(ink of b / ink of a)|.
    """

    mag: np.ndarray
    err: np.ndarray
    ink: np.ndarray
    shift: float
    ink_ratio: float


def _cell_sums(values: np.ndarray, cells: tuple[int, int]) -> np.ndarray:
    h, w = values.shape
    ch, cw = cells
    return values.reshape(ch, h // ch, cw, w // cw).sum(axis=(1, 3)).ravel()


def measure(a: np.ndarray, b: np.ndarray, cfg: FlowConfig) -> PairMeasure:
    """Flow from ``a`` to ``b`` summarised per cell."""
    flow = dense_flow(a, b, cfg)
    bw = warp(b, flow)
    weight = np.maximum(a, b)
    total = float(weight.sum()) + _EPS
    shift_vec = (flow * weight[..., None]).sum(axis=(0, 1)) / total
    mag = np.hypot(flow[..., 0] - shift_vec[0], flow[..., 1] - shift_vec[1])
    ink = _cell_sums(weight, cfg.cells)
    denom = ink + _EPS
    return PairMeasure(mag=_cell_sums(mag * weight, cfg.cells) / denom,
                       err=_cell_sums(np.abs(a - bw) * weight, cfg.cells) / denom,
                       ink=ink / total, shift=float(np.hypot(*shift_vec)),
                       ink_ratio=float(abs(np.log((float(b.sum()) + _EPS) / (float(a.sum()) + _EPS)))))


@dataclass(frozen=True)
class Prior:
    """Population stability of genuine pairs, per cell (from training writers)."""

    mag_mean: np.ndarray
    mag_sd: np.ndarray
    err_mean: np.ndarray
    err_sd: np.ndarray
    shift_mean: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.round(6).tolist() if isinstance(v, np.ndarray) else round(float(v), 6))
                for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Prior":
        try:
            arrays = {k: np.asarray(data[k], np.float64) for k in ("mag_mean", "mag_sd", "err_mean", "err_sd")}
            return cls(**arrays, shift_mean=float(data["shift_mean"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"flow prior in the manifest is malformed ({exc}); rebuild the flow entry") from None

    @classmethod
    def fit(cls, measures: Sequence[PairMeasure]) -> "Prior":
        """The prior from genuine reference pairs of training writers."""
        if len(measures) < 2:
            raise InvalidInputError("a flow prior needs at least two genuine pairs")
        mag = np.stack([m.mag for m in measures])
        err = np.stack([m.err for m in measures])
        return cls(mag.mean(0), mag.std(0) + _EPS, err.mean(0), err.std(0) + _EPS,
                   float(np.mean([m.shift for m in measures])))


@dataclass(frozen=True)
class Stability:
    """A writer's stability map: per-cell mean and spread of genuine-pair measures.

    With n reference pairs the per-cell estimates are shrunk toward the population
    prior, which counts as ``prior_weight`` pairs, so two or three references still
    give a usable map and one reference gives the prior itself.
    """

    mag_mean: np.ndarray
    mag_sd: np.ndarray
    err_mean: np.ndarray
    err_sd: np.ndarray
    shift_mean: float
    pairs: int = 0

    @classmethod
    def from_measures(cls, measures: Sequence[PairMeasure], prior: Prior, prior_weight: float) -> "Stability":
        n = len(measures)
        k = float(prior_weight)
        if n == 0:
            return cls(prior.mag_mean, prior.mag_sd, prior.err_mean, prior.err_sd, prior.shift_mean, 0)
        mag = np.stack([m.mag for m in measures])
        err = np.stack([m.err for m in measures])
        shift = float(np.mean([m.shift for m in measures]))

        def shrink(x: np.ndarray, p_mean: np.ndarray, p_sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            mean = (n * x.mean(0) + k * p_mean) / (n + k)
            var = (n * x.var(0) + k * p_sd ** 2) / (n + k)
            return mean, np.sqrt(var) + _EPS

        mm, ms = shrink(mag, prior.mag_mean, prior.mag_sd)
        em, es = shrink(err, prior.err_mean, prior.err_sd)
        return cls(mm, ms, em, es, (n * shift + k * prior.shift_mean) / (n + k), n)


def pair_features(q: PairMeasure, st: Stability) -> np.ndarray:
    """Fixed-length deviation vector of one query-reference comparison (see FEATURES)."""
    w = q.ink / max(float(q.ink.sum()), _EPS)
    inked = q.ink > 0.25 / q.ink.size
    zm = (q.mag - st.mag_mean) / st.mag_sd
    ze = (q.err - st.err_mean) / st.err_sd
    stable_w = w / st.mag_sd
    stable_w = stable_w / max(float(stable_w.sum()), _EPS)
    zm_ink = zm[inked] if inked.any() else zm
    ze_ink = ze[inked] if inked.any() else ze
    mag_ref = float(np.sum(w * st.mag_mean)) + _EPS
    err_ref = float(np.sum(w * st.err_mean)) + _EPS
    mag_q = float(np.sum(w * q.mag))
    err_q = float(np.sum(w * q.err))
    return np.array([
        float(np.sum(w * zm)), float(zm_ink.max()), float(np.sum(w * (zm > 2.0))), float(np.sum(stable_w * zm)),
        float(np.sum(w * ze)), float(ze_ink.max()),
        np.log((mag_q + _EPS) / mag_ref), np.log((err_q + _EPS) / err_ref),
        np.log((q.shift + 0.05) / (st.shift_mean + 0.05)), q.ink_ratio, mag_q, err_q,
    ], dtype=np.float64)


def deviation_map(q: PairMeasure, st: Stability) -> np.ndarray:
    """Per-cell deviation of a comparison from the stability map, in reference spreads."""
    return np.maximum((q.mag - st.mag_mean) / st.mag_sd, (q.err - st.err_mean) / st.err_sd)


# -- boosted trees --------------------------------------------------------------------
@dataclass(frozen=True)
class BoostedTrees:
    """Depth-2 gradient-boosted trees on the logit scale, as plain arrays.

    Tree t splits on ``feature[t, 0] <= threshold[t, 0]``, then on node 1 (left) or
    node 2 (right); ``leaf[t]`` holds the four leaf values (LL, LR, RL, RR). A small
    model stored as JSON in the manifest: no runtime dependency beyond numpy.
    """

    feature: np.ndarray      # (T, 3) int
    threshold: np.ndarray    # (T, 3) float
    leaf: np.ndarray         # (T, 4) float
    base: float = 0.0
    names: tuple[str, ...] = FEATURES

    def logit(self, x: np.ndarray) -> np.ndarray:
        """Summed tree outputs for rows of ``x`` (n, F)."""
        x = np.atleast_2d(np.asarray(x, np.float64))
        if x.shape[1] != len(self.names):
            raise InvalidInputError(f"the trees need {len(self.names)} features, got {x.shape[1]}")
        trees = np.arange(self.feature.shape[0])
        first = (x[:, self.feature[:, 0]] > self.threshold[:, 0]).astype(np.int64)      # (n, T)
        node = 1 + first
        second = x[np.arange(x.shape[0])[:, None], self.feature[trees, node]] > self.threshold[trees, node]
        values = self.leaf[trees, 2 * first + second.astype(np.int64)]
        return self.base + values.sum(axis=1)

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(genuine) for rows of ``x``."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.logit(x), -50, 50)))

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature.tolist(), "threshold": self.threshold.round(6).tolist(),
                "leaf": self.leaf.round(6).tolist(), "base": round(float(self.base), 6), "names": list(self.names)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BoostedTrees":
        try:
            trees = cls(np.asarray(data["feature"], np.int64).reshape(-1, 3),
                        np.asarray(data["threshold"], np.float64).reshape(-1, 3),
                        np.asarray(data["leaf"], np.float64).reshape(-1, 4),
                        float(data.get("base", 0.0)), tuple(data.get("names", FEATURES)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"flow trees in the manifest are malformed ({exc}); rebuild the flow entry") from None
        if trees.names != FEATURES:
            raise ModelError(f"the flow trees were trained on features {trees.names}, this edgesig computes "
                             f"{FEATURES}; rebuild the flow entry with export/offline/flow_train.py")
        if trees.feature.size and (trees.feature.min() < 0 or trees.feature.max() >= len(FEATURES)):
            raise ModelError("flow trees refer to a feature index out of range; rebuild the flow entry")
        return trees


def majority_vote(probabilities: np.ndarray, threshold: float = 0.5) -> bool:
    """The paper's decision: genuine when more than half of the references say so."""
    p = np.asarray(probabilities, np.float64).ravel()
    if p.size == 0:
        raise InvalidInputError("majority vote needs at least one reference score")
    return bool(np.count_nonzero(p >= threshold) * 2 > p.size)


# -- the comparison model -------------------------------------------------------------
@dataclass
class FlowModel:
    """Flow configuration, population prior and trees: everything a comparison needs."""

    cfg: FlowConfig
    prior: Prior
    trees: BoostedTrees | None = None
    _cache: dict[bytes, tuple[list[PairMeasure], Stability]] = field(default_factory=dict, repr=False)

    def reference_pairs(self, refs: Sequence[np.ndarray]) -> list[PairMeasure]:
        return [measure(refs[i], refs[j], self.cfg) for i in range(len(refs)) for j in range(i + 1, len(refs))]

    def stability(self, refs: Sequence[np.ndarray]) -> tuple[list[PairMeasure], Stability]:
        """Pair measures and stability map of a reference set (cached by content)."""
        digest = hashlib.blake2b(digest_size=16)
        for r in refs:
            digest.update(np.ascontiguousarray(r, np.float32).tobytes())
        key = len(refs).to_bytes(2, "little") + digest.digest()
        hit = self._cache.get(key)
        if hit is None:
            pairs = self.reference_pairs(refs)
            hit = (pairs, Stability.from_measures(pairs, self.prior, self.cfg.prior_weight))
            if len(self._cache) >= 64:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = hit
        return hit

    def features(self, query: np.ndarray, refs: Sequence[np.ndarray]) -> np.ndarray:
        """(k, F) features of the query against each reference."""
        _, st = self.stability(refs)
        return np.stack([pair_features(measure(r, query, self.cfg), st) for r in refs])

    def probabilities(self, query: np.ndarray, refs: Sequence[np.ndarray]) -> np.ndarray:
        if self.trees is None:
            raise ModelError("this flow model has no trained trees; train them with export/offline/flow_train.py")
        return self.trees.probability(self.features(query, refs))

    def pairwise_probabilities(self, refs: Sequence[np.ndarray]) -> np.ndarray:
        """Symmetric (k, k) P(genuine) among references, each pair scored against the set's map."""
        if self.trees is None:
            raise ModelError("this flow model has no trained trees; train them with export/offline/flow_train.py")
        pairs, st = self.stability(refs)
        k = len(refs)
        out = np.ones((k, k))
        feats = np.stack([pair_features(m, st) for m in pairs]) if pairs else np.zeros((0, len(FEATURES)))
        probs = self.trees.probability(feats) if pairs else np.zeros(0)
        idx = 0
        for i in range(k):
            for j in range(i + 1, k):
                out[i, j] = out[j, i] = probs[idx]
                idx += 1
        return out

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "FlowModel":
        if "prior" not in params:
            raise ModelError("the flow manifest entry has no prior; rebuild it with export/offline/flow_train.py")
        trees = BoostedTrees.from_dict(params["trees"]) if "trees" in params else None
        model = cls(FlowConfig.from_dict(params.get("flow", {})), Prior.from_dict(params["prior"]), trees)
        if model.prior.mag_mean.size != model.cfg.n_cells:
            raise ModelError(f"the flow prior has {model.prior.mag_mean.size} cells but the grid has "
                             f"{model.cfg.n_cells}; rebuild the flow entry")
        return model


# -- explanation heatmap --------------------------------------------------------------
def _heat(cells: np.ndarray, cfg: FlowConfig, shape: tuple[int, int], lo: float, hi: float) -> np.ndarray:
    grid = cells.reshape(cfg.cells).astype(np.float32)
    scaled = np.clip((grid - lo) / max(hi - lo, _EPS), 0, 1)
    big = cv2.resize((scaled * 255).astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return cv2.applyColorMap(big, cv2.COLORMAP_JET)


def _panel(image: np.ndarray, heat: np.ndarray, title: str) -> np.ndarray:
    ink = np.clip(image, 0, 1)
    ink = cv2.resize(ink, (heat.shape[1], heat.shape[0]), interpolation=cv2.INTER_LINEAR)
    base = (255 * (1 - ink))[..., None].repeat(3, axis=2)
    mix = (0.55 * heat + 0.45 * base)
    mix[ink > 0.45] = 0  # strokes in black over the heat
    out = mix.astype(np.uint8)
    cv2.putText(out, title, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(out, title, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return out


@dataclass(frozen=True)
class Explanation:
    """What ``explain_image`` drew: per-cell maps (row-major over ``cells``) and votes.

    ``path`` is the PNG written, None when the heatmap was only returned (``explain_arrays``).
    """

    cells: tuple[int, int]
    instability: np.ndarray      # reference spread of the flow magnitude per cell (grid px)
    deviation: np.ndarray        # query's deviation per cell in reference spreads, median over the references
    probabilities: np.ndarray | None
    vote: bool | None
    path: Path | None


def explain_image(references: Sequence[Any], query: Any, out_png: str | os.PathLike, *,
                  model: FlowModel | None = None, scale: int = 4) -> Explanation:
    """Write a heatmap PNG: the references' stability map and the query's deviations.

    ``references`` and ``query`` are anything ``edgesig.offline.prepare`` accepts (paths,
    encoded bytes, arrays of a photo or scan). Left panel: the first reference with each
    cell coloured by how much the genuine references vary there (blue = stable, red =
    unstable). Right panel: the query, each cell coloured by its median deviation over
    the references in reference spreads (blue = within the writer's variation, red = 3+
    spreads away). ``model`` defaults to the installed ``flow`` manifest entry.
    """
    from edgesig.offline.pipeline import prepare

    def prepared(sample: Any, what: str) -> np.ndarray:  # a failure names the input (and its file)
        with labelled(input_label(what, sample)):
            return prepare(sample).array
    heatmap, exp = explain_arrays([prepared(r, f"reference {i}") for i, r in enumerate(references)],
                                  prepared(query, "query"), model=model, scale=scale)
    out = Path(out_png)
    try:
        ok = cv2.imwrite(str(out), heatmap)
    except cv2.error:  # OpenCV has no writer for that extension
        raise InvalidInputError(f"cannot write {out}: name the heatmap .png") from None
    if not ok:
        raise InvalidInputError(f"cannot write {out}; check the folder exists and the name ends in .png")
    return replace(exp, path=out)


def explain_arrays(references: Sequence[np.ndarray], query: np.ndarray, *, model: FlowModel | None = None,
                   scale: int = 4) -> tuple[np.ndarray, Explanation]:
    """``explain_image`` on SDINet-normalised arrays (``PreparedImage.array``, what image
    templates keep), so a server can explain against stored references without their
    photos; returns the heatmap (BGR uint8) and the explanation (``path`` None)."""
    if len(references) < 2:
        raise InvalidInputError(f"explain needs at least 2 references to measure stability, got {len(references)}")
    model = model or _installed_model()
    refs = [to_grid(r, model.cfg) for r in references]
    q = to_grid(query, model.cfg)
    _, st = model.stability(refs)
    devs = np.stack([deviation_map(measure(r, q, model.cfg), st) for r in refs])
    deviation = np.median(devs, axis=0)
    probs = model.probabilities(q, refs) if model.trees is not None else None
    shape = (model.cfg.grid[0] * scale, model.cfg.grid[1] * scale)
    left = _panel(refs[0], _heat(st.mag_sd, model.cfg, shape, 0.0, float(st.mag_sd.max())),
                  "reference instability")
    right = _panel(q, _heat(deviation, model.cfg, shape, 0.0, 3.0), "query deviation")
    sep = np.full((shape[0], 6, 3), 255, np.uint8)
    return np.hstack([left, sep, right]), Explanation(
        model.cfg.cells, st.mag_sd, deviation, probs, majority_vote(probs) if probs is not None else None, None)


def _installed_model() -> FlowModel:
    from edgesig.runtime import Manifest
    return FlowModel.from_params(Manifest().get("flow").params)


def benchmark_comparison(model: FlowModel, query: np.ndarray, references: Sequence[np.ndarray],
                         repeats: int = 30) -> dict[str, Any]:
    """Latency (ms, median and fastest of ``repeats``) of one query-reference comparison
    (flow, features, trees) and of a query against all ``references`` with and without
    the stability map cached. The fastest run and the calling thread's CPU time show the
    cost on an otherwise idle core (run with ``cv2.setNumThreads(1)`` for one core)."""
    refs = [np.ascontiguousarray(r, np.float32) for r in references]
    model.probabilities(query, refs)  # numba cache loaded, stability cached

    def timed(fn: Any) -> dict[str, float]:
        wall, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.thread_time()
            fn()
            cpu.append((time.thread_time() - c0) * 1e3)
            wall.append((time.perf_counter() - t0) * 1e3)
        return {"median": round(float(np.median(wall)), 2), "min": round(float(np.min(wall)), 2),
                "cpu_median": round(float(np.median(cpu)), 2)}

    def uncached() -> None:
        model._cache.clear()
        model.probabilities(query, refs)
    return {"method": model.cfg.method, "grid": list(model.cfg.grid),
            "one_comparison_ms": timed(lambda: model.probabilities(query, refs[:1])),
            "query_vs_refs_cached_ms": timed(lambda: model.probabilities(query, refs)),
            "query_vs_refs_uncached_ms": timed(uncached), "references": len(refs)}
