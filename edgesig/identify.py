"""Writer identification: which enrolled user wrote this signature, or nobody we know.

A kiosk finds the account from the signature before verifying it. Each enrolled user
keeps a few fixed-length embeddings (one per reference). Once enough users are
enrolled, all embeddings are centred on the gallery's mean (each user weighted
equally) before L2 normalisation: what every signature has in common then stops
inflating the similarity of strangers (on SVC2004 this cut the known-vs-unknown EER of
the pen descriptor from 13.6 % to 6.4 % against centring on validation writers only).
A query is compared with every row of the (N, D) float32 matrix in one pass of dot
products, a user's score is their best cosine similarity c, reported as (1 + c) / 2 in
[0, 1], and the answer is an :class:`~edgesig.results.Identification`: the ranked users,
marked unknown when even the best score is below a threshold chosen on validation
writers for a target open-set false-accept rate (the fraction of signatures by writers
*not* enrolled that would be attributed to somebody). That rate depends on how many
users are enrolled (the README gives measured figures). Search is O(N D): 0.15 ms for
1,000 users of 5 x 256.

Embeddings (``Embedder``, chosen by the manifest entry's ``source``): online, a
descriptor of the pen trajectory (time-resampled shape, pooled kinematics and LNPS) or
the GRU engine's per-step embeddings pooled (mean + max); offline, the 128-d output of
an int8 CNN trained on synthetic writers (``export/identify_backbone.py``) or a
HOG-style gradient histogram and ink-density grid of the prepared image. Each is
standardised with the mean and spread of validation writers (stored in the manifest
entry ``id-pen`` or ``id-image``) so that no single dimension dominates the cosine.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import cv2
import numpy as np
from numba import njit

from edgesig.errors import EngineUnavailableError, InvalidInputError, ModelError
from edgesig.pen import PenStream
from edgesig.results import Identification
from edgesig.runtime import Manifest, ModelEntry, session_for
from edgesig.store.base import TemplateStore, check_user_id

_EPS = 1e-9


def unit_score(cosine: float) -> float:
    """A cosine similarity in [-1, 1] as a score in [0, 1]: (1 + c) / 2."""
    return float(np.clip((1.0 + cosine) / 2.0, 0.0, 1.0))


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32."""
    arr = np.asarray(x, np.float32)
    return arr / np.maximum(np.linalg.norm(arr, axis=-1, keepdims=True), _EPS)


# -- the search -----------------------------------------------------------------------
@dataclass
class Identifier:
    """Enrolled embeddings and the open-set threshold (cosine similarity in [-1, 1]).

    ``threshold`` None means closed-set: the ranking is always returned. With at least
    ``center_min_users`` users enrolled, embeddings are centred on the gallery mean
    before normalisation (the threshold must have been chosen the same way).
    """

    threshold: float | None = None
    dim: int | None = None
    center_min_users: int = 5
    _rows: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _matrix: np.ndarray | None = field(default=None, repr=False)
    _center: np.ndarray | None = field(default=None, repr=False)
    _starts: np.ndarray | None = field(default=None, repr=False)
    _ids: list[str] = field(default_factory=list, repr=False)

    def add(self, user_id: str, embeddings: np.ndarray) -> None:
        """Enrol (or replace) ``user_id`` with one embedding (D,) or several (k, D)."""
        user_id = check_user_id(user_id)
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim == 1:
            emb = emb[None, :]
        if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0:
            raise InvalidInputError(f"embeddings must be (D,) or (k, D) with k, D >= 1, got shape {emb.shape}")
        if not np.all(np.isfinite(emb)):
            raise InvalidInputError(f"embeddings of {user_id!r} contain NaN or infinity")
        if self.dim is None:
            self.dim = emb.shape[1]
        elif emb.shape[1] != self.dim:
            raise InvalidInputError(f"embeddings of {user_id!r} have {emb.shape[1]} dimensions, this "
                                    f"identifier holds {self.dim}; use the same embedder for every user")
        self._rows[user_id] = emb.copy()
        self._matrix = None

    def remove(self, user_id: str) -> bool:
        """Forget a user; True if they were enrolled."""
        found = self._rows.pop(check_user_id(user_id), None) is not None
        self._matrix = None if found else self._matrix
        return found

    def users(self) -> list[str]:
        return sorted(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def _index(self) -> tuple[np.ndarray, np.ndarray]:
        if self._matrix is None:
            self._ids = sorted(self._rows)
            blocks = [self._rows[u] for u in self._ids]
            self._center = (np.mean([b.mean(0) for b in blocks], axis=0).astype(np.float32)
                            if len(blocks) >= self.center_min_users else np.zeros(self.dim, np.float32))
            self._matrix = np.ascontiguousarray(l2_normalize(np.concatenate(blocks) - self._center))
            self._starts = np.cumsum([0] + [b.shape[0] for b in blocks]).astype(np.int64)
        return self._matrix, self._starts

    def scores(self, embedding: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Every enrolled user with their score (best cosine over their references)."""
        if not self._rows:
            raise InvalidInputError("no users are enrolled for identification; add some first")
        q = np.asarray(embedding, dtype=np.float32).ravel()
        if q.size != self.dim or not np.all(np.isfinite(q)):
            raise InvalidInputError(f"the query embedding must be {self.dim} finite numbers, got {q.size}")
        matrix, starts = self._index()
        return self._ids, best_per_user(matrix, l2_normalize(q - self._center), starts)

    def identify(self, embedding: np.ndarray, top_k: int = 5) -> Identification:
        """The ``top_k`` best users, scores in [0, 1], unknown when the best is below the threshold."""
        if not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool):
            raise InvalidInputError(f"top_k must be a whole number of users, got {top_k!r:.40}")
        if top_k < 1:
            raise InvalidInputError(f"top_k must be at least 1, got {top_k}")
        ids, per_user = self.scores(embedding)
        k = min(top_k, per_user.size)
        top = np.argpartition(-per_user, k - 1)[:k]
        top = top[np.argsort(-per_user[top])]
        unknown = self.threshold is not None and per_user[top[0]] < self.threshold
        return Identification(candidates=tuple((ids[i], unit_score(per_user[i])) for i in top),
                              unknown=bool(unknown), gallery_size=len(ids),
                              threshold=None if self.threshold is None else unit_score(self.threshold))

    @classmethod
    def from_store(cls, store: TemplateStore, engine: str, threshold: float | None = None,
                   version: str | None = None) -> "Identifier":
        """Users who have a template of ``engine`` (whose references are embeddings).

        With ``version``, templates embedded by another version of the model are left out:
        their embeddings live in another space and cannot be compared with today's.
        """
        ident = cls(threshold=threshold)
        for user in store.users():
            if engine in store.engines(user):
                template = store.get(user, engine)
                if version is None or template.model_version == version:
                    ident.add(user, np.stack(template.references))
        return ident


@njit(cache=True, fastmath=True)
def best_per_user(matrix: np.ndarray, query: np.ndarray, bounds: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Max over each user's rows (``bounds[u]:bounds[u+1]``) of row . query.

    A single-threaded loop rather than ``matrix @ query``: a multi-threaded BLAS gemv
    on a busy two-core device took 10 ms instead of 0.5 ms for 5,000 x 256.
    """
    n_users = bounds.size - 1
    out = np.empty(n_users, np.float32)
    d = matrix.shape[1]
    for u in range(n_users):
        best = np.float32(-np.inf)
        for r in range(bounds[u], bounds[u + 1]):
            s = np.float32(0.0)
            for j in range(d):
                s += matrix[r, j] * query[j]
            best = max(best, s)
        out[u] = best
    return out


def open_set_threshold(unknown_top_scores: np.ndarray, target_far: float) -> float:
    """Threshold at which at most ``target_far`` of unknown writers' queries are accepted."""
    s = np.asarray(unknown_top_scores, np.float64).ravel()
    if s.size == 0 or not 0.0 <= target_far < 1.0:
        raise InvalidInputError("need unknown-writer scores and a target FAR in [0, 1)")
    s = np.sort(s)[::-1]
    allowed = int(np.floor(target_far * s.size))  # this many may be accepted
    return float(np.nextafter(s[allowed], np.inf)) if allowed < s.size else float(s[-1])


def benchmark_search(n_users: int = 1000, refs: int = 5, dim: int = 256, repeats: int = 200,
                     seed: int = 0) -> dict[str, float]:
    """Latency of one ``identify`` among ``n_users`` random enrolled users (ms)."""
    rng = np.random.default_rng(seed)
    ident = Identifier(threshold=0.0)
    for u in range(n_users):
        ident.add(f"user{u:05d}", rng.standard_normal((refs, dim)).astype(np.float32))
    queries = rng.standard_normal((repeats, dim)).astype(np.float32)
    ident.identify(queries[0])  # builds the index once, as after enrolment
    times = []
    for q in queries:
        t0 = time.perf_counter()
        ident.identify(q, top_k=5)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"n_users": n_users, "refs": refs, "dim": dim, "p50_ms": float(np.median(times)),
            "p95_ms": float(np.percentile(times, 95)), "max_ms": float(np.max(times))}


# -- embeddings -----------------------------------------------------------------------
#: Channels pooled by the online descriptor, and the ones resampled along time.
POOLED = ("vx", "vy", "speed", "cos", "sin", "p", "dp", "curv")
PROFILE = ("x", "y", "cos", "sin", "p")
PROFILE_POINTS = 16


def pen_descriptor(pen: PenStream) -> np.ndarray:
    """Fixed-length descriptor of a pen signature (no model needed).

    The pen-down trajectory resampled to 16 time points (normalised position, direction,
    pressure), mean / std / 10-50-90 % quantiles of the kinematic channels and of the
    raw level-2 LNPS, plus log duration and the number of strokes.
    """
    from edgesig.features.kinematics import channels, pen_down_segments
    from edgesig.features.lnps import lnps
    if not isinstance(pen, PenStream):
        raise InvalidInputError(f"a pen descriptor needs a PenStream, got {type(pen).__name__}")
    names = tuple(dict.fromkeys(PROFILE + POOLED))
    table = channels(pen, names)
    col = {n: i for i, n in enumerate(names)}
    n = table.shape[0]
    grid = np.linspace(0, n - 1, PROFILE_POINTS)
    profile = [np.interp(grid, np.arange(n), table[:, col[c]]) for c in PROFILE]
    pooled = table[:, [col[c] for c in POOLED]]
    sig = lnps(np.ascontiguousarray(table[:, [col["x"], col["y"]]]), 9, 2, normalize=False)
    stats = [np.concatenate([a.mean(0), a.std(0), *np.percentile(a, [10, 50, 90], axis=0)]) for a in (pooled, sig)]
    down = pen.select(pen.pen_down)
    extra = [np.log1p(max(float(down.t[-1] - down.t[0]), 0.0)), float(len(pen_down_segments(pen)))]
    return np.concatenate([*profile, *stats, extra]).astype(np.float32)


#: HOG geometry: the prepared image resized to 64 x 128 (h x w), 16 px cells, 9 bins.
_HOG_SHAPE = (64, 128)
_HOG_CELL = 16
_HOG_BINS = 9
_DENSITY = (8, 16)
#: The ink-density block closes the image descriptor; its length.
IMAGE_DENSITY_DIM = _DENSITY[0] * _DENSITY[1]


def hog(gray: np.ndarray) -> np.ndarray:
    """Dalal–Triggs HOG: unsigned orientation histograms per cell, L2-Hys over 2 x 2 blocks."""
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=1)
    mag, ang = cv2.cartToPolar(gx, gy, angleInDegrees=True)
    pos = (ang % 180.0) / (180.0 / _HOG_BINS)
    lo = np.floor(pos).astype(np.int64) % _HOG_BINS
    frac = pos - np.floor(pos)
    h, w = gray.shape
    ch, cw = h // _HOG_CELL, w // _HOG_CELL
    hist = np.zeros((ch, cw, _HOG_BINS), np.float32)
    for b in range(_HOG_BINS):  # soft-assign each gradient to its two nearest bins
        weight = mag * ((lo == b) * (1 - frac) + (((lo + 1) % _HOG_BINS) == b) * frac)
        hist[..., b] = weight.reshape(ch, _HOG_CELL, cw, _HOG_CELL).sum(axis=(1, 3))
    blocks = np.concatenate([hist[:-1, :-1], hist[1:, :-1], hist[:-1, 1:], hist[1:, 1:]], axis=2)
    blocks = blocks / np.sqrt((blocks ** 2).sum(axis=2, keepdims=True) + 1e-6)
    blocks = np.minimum(blocks, 0.2)
    blocks = blocks / np.sqrt((blocks ** 2).sum(axis=2, keepdims=True) + 1e-6)
    return blocks.ravel()


def image_descriptor(array: np.ndarray) -> np.ndarray:
    """HOG (9 orientations, 16 px cells, 2 x 2 blocks) + 8 x 16 ink density of a prepared image."""
    arr = np.asarray(array, np.float32)
    if arr.ndim != 2 or min(arr.shape) < 16 or not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"an image descriptor needs a prepared 2-D signature array, got {arr.shape}")
    small = cv2.resize(arr, (_HOG_SHAPE[1], _HOG_SHAPE[0]), interpolation=cv2.INTER_AREA)
    gradients = hog(small)
    density = cv2.resize(arr, (_DENSITY[1], _DENSITY[0]), interpolation=cv2.INTER_AREA).ravel()
    return np.concatenate([gradients, density / max(float(density.sum()), _EPS) * density.size]).astype(np.float32)


#: The trained image backbone's input: one prepared signature resized to 64 x 128.
BACKBONE_INPUT = "image"
BACKBONE_SHAPE = (64, 128)


def backbone_input(array: np.ndarray) -> np.ndarray:
    """A prepared signature as the backbone sees it (64 x 128 float32): one function for
    the runtime and for training (``export.identify_backbone``), so the two cannot drift."""
    arr = np.asarray(array, np.float32)
    if arr.ndim != 2 or min(arr.shape) < 16 or not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"the identification backbone needs a prepared 2-D signature array, got {arr.shape}")
    return cv2.resize(arr, (BACKBONE_SHAPE[1], BACKBONE_SHAPE[0]), interpolation=cv2.INTER_AREA)


def backbone_embedding(session: Any, array: np.ndarray) -> np.ndarray:
    """The int8 backbone's embedding of one prepared signature."""
    return session.run({BACKBONE_INPUT: backbone_input(array)[None, None]})[0][0].astype(np.float32)


SOURCES = ("gru", "pen-descriptor", "image-descriptor", "image-backbone")
IMAGE_SOURCES = ("image-descriptor", "image-backbone")


@dataclass
class Embedder:
    """Sample -> standardised embedding, as described by a manifest entry.

    ``source``: "gru" (pooled GRU per-step embeddings), "pen-descriptor",
    "image-descriptor" (HOG + ink density) or "image-backbone" (the trained int8 CNN);
    ``mean``/``std``: standardisation from validation writers.
    """

    source: str
    mean: np.ndarray
    std: np.ndarray
    engine: Any = None  # the GRU engine ("gru") or the backbone's ONNX session ("image-backbone")

    @property
    def modality(self) -> str:
        return "image" if self.source in IMAGE_SOURCES else "pen"

    def raw(self, sample: Any) -> np.ndarray:
        """The unstandardised descriptor of one sample."""
        if self.source == "gru":
            steps = self.engine.prepare(sample)
            return np.concatenate([steps.mean(0), steps.max(0)]).astype(np.float32)
        if self.source == "pen-descriptor":
            return pen_descriptor(sample)
        from edgesig.offline.pipeline import PreparedImage, prepare
        array = sample.array if isinstance(sample, PreparedImage) else prepare(sample).array
        if self.source == "image-backbone":
            return backbone_embedding(self.engine, array)
        return image_descriptor(array)

    def embed(self, sample: Any) -> np.ndarray:
        """The standardised embedding (the Identifier centres and normalises it)."""
        raw = self.raw(sample)
        if raw.shape != self.mean.shape:
            raise ModelError(f"the {self.source} embedding has {raw.size} dimensions but its standardisation "
                             f"has {self.mean.size}; rebuild the identification entry")
        return ((raw - self.mean) / self.std).astype(np.float32)

    def embed_many(self, samples: Sequence[Any]) -> np.ndarray:
        return np.stack([self.embed(s) for s in samples])

    @classmethod
    def from_entry(cls, entry: ModelEntry, manifest: Manifest) -> "Embedder":
        p = entry.params
        try:
            mean, std = np.asarray(p["mean"], np.float32), np.asarray(p["std"], np.float32)
            source = str(p["source"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"identification entry {entry.name!r} is malformed ({exc}); rebuild it") from None
        if source not in SOURCES:
            raise ModelError(f"identification entry {entry.name!r} has unknown source {source!r} "
                             f"(known: {', '.join(SOURCES)}); rebuild it")
        engine = None
        if source == "gru":
            from edgesig.engines import load_engine
            engine = load_engine("gru", manifest)
        elif source == "image-backbone":
            engine = session_for(manifest, entry)
        return cls(source, mean, np.maximum(std, 1e-6), engine)


def entry_name(modality: str) -> str:
    if modality not in ("pen", "image"):
        raise InvalidInputError(f"modality must be 'pen' or 'image', got {modality!r}")
    return f"id-{modality}"


def load_identification(modality: str, manifest: Manifest | None = None) -> tuple[Embedder, float]:
    """The installed embedder of a modality and its open-set threshold."""
    manifest = manifest or Manifest()
    name = entry_name(modality)
    if name not in manifest.entries:
        raise EngineUnavailableError(f"no identification model {name!r} in {manifest.path}; build it with "
                                     "`PYTHONPATH=. python -m export.identify_fit DATA`")
    entry = manifest.get(name)
    return Embedder.from_entry(entry, manifest), float(entry.params.get("threshold", -1.0))
