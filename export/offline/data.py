"""Rendered signature images and writer-disjoint pair sampling for SDINet.

No offline set with skilled forgeries ships with edgesig, so the images are drawn from
online signatures by ``edgesig.synth.render``: every SVC2004 (and optionally synthetic)
genuine signature and skilled forgery is rendered in a few random styles, one per
degradation level, and normalised to SDINet's 155x220 ink = 1 input. Rendering is the
slow part (several ms per image), so the normalised images are cached once, as uint8,
in memory and in a .npz under /tmp — never in the repository.

Pairs are built only inside a set of writers, so a fold's test writers never appear in
its training pairs: (genuine, other genuine of the same writer) -> 1, (genuine, skilled
forgery of that writer) -> 0, (genuine, genuine of another writer) -> 0 (random forgery).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgesig.errors import EdgesigError
from edgesig.offline import even_out_light, normalize_sdinet, prepare
from edgesig.pen import PenStream
from edgesig.synth.render import RenderStyle, render

#: The style of each cached variant: index 0 is what "clean" evaluation uses, 2 "camera".
VARIANTS: tuple[str, ...] = ("clean", "scan", "camera", "camera")
CLEAN, CAMERA = 0, 2
CACHE_DIR = Path(os.environ.get("EDGESIG_CACHE", "/tmp/edgesig_cache"))


def normalize_direct(gray: np.ndarray) -> np.ndarray:
    """SDINet input of an image that is already a crop of one signature (a render).

    Evens the lighting and normalises all ink, skipping sheet detection, line removal
    and signature grouping, which are for photos of whole sheets.
    """
    return normalize_sdinet(even_out_light(gray))


def normalize_pipeline(gray: np.ndarray) -> np.ndarray:
    """SDINet input through the full kiosk pipeline (``edgesig.offline.prepare``)."""
    return prepare(gray, "sdinet").array


NORMALIZERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"direct": normalize_direct,
                                                              "pipeline": normalize_pipeline}


@dataclass
class ImageWriter:
    """One writer's normalised images, uint8 (n, len(VARIANTS), 155, 220), ink = 255."""

    key: str
    genuine: np.ndarray
    forgery: np.ndarray


def render_variants(pen: PenStream, rng: np.random.Generator,
                    normalize: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The signature in every style of ``VARIANTS``, normalised, as uint8 (V, 155, 220)."""
    out = []
    for degradation in VARIANTS:
        img = render(pen, rng, style=RenderStyle.random(rng, degradation=degradation))
        try:
            arr = normalize(img)
        except EdgesigError:  # a render the pipeline cannot read: fall back to the plain crop
            arr = normalize_direct(img)
        out.append(np.round(arr * 255.0).astype(np.uint8))
    return np.stack(out)


def _render_writer(key: str, genuine: Sequence[PenStream], forgery: Sequence[PenStream], seed: int,
                   normalize: Callable[[np.ndarray], np.ndarray]) -> ImageWriter:
    rng = np.random.default_rng(seed)
    return ImageWriter(key, np.stack([render_variants(p, rng, normalize) for p in genuine]),
                       np.stack([render_variants(p, rng, normalize) for p in forgery]))


def svc_image_writers(data: str | Path, users: Sequence[int], seed: int = 0, normalizer: str = "direct",
                      progress: bool = True) -> list[ImageWriter]:
    """SVC2004 writers as rendered images, cached in ``CACHE_DIR`` by users, seed and normaliser."""
    from edgesig.eval.protocols import load_svc2004
    users = list(users)
    tag = hashlib.sha1(f"svc|{users}|{seed}|{normalizer}|{VARIANTS}".encode()).hexdigest()[:12]

    def build() -> list[ImageWriter]:
        samples = load_svc2004(data, users)
        it = _progress(samples, "render SVC2004") if progress else samples
        return [_render_writer(f"svc{u.user}", u.genuine, u.forgery, seed * 1000 + u.user,
                               NORMALIZERS[normalizer]) for u in it]
    return _cached(tag, build)


def synth_image_writers(count: int, seed: int = 0, normalizer: str = "direct",
                        progress: bool = True) -> list[ImageWriter]:
    """Synthetic sigma-lognormal writers (20 genuine, 20 skilled forgeries each) as images."""
    from edgesig.synth import make_population
    tag = hashlib.sha1(f"synth|{count}|{seed}|{normalizer}|{VARIANTS}".encode()).hexdigest()[:12]

    def build() -> list[ImageWriter]:
        writers = make_population(count, seed)
        it = _progress(list(enumerate(writers)), "render synth") if progress else enumerate(writers)
        out = []
        for k, w in it:
            rng = np.random.default_rng(seed * 7919 + k)
            out.append(_render_writer(f"synth{k}", [w.genuine(rng) for _ in range(20)],
                                      [w.forgery(rng) for _ in range(20)], seed * 1000 + 500 + k,
                                      NORMALIZERS[normalizer]))
        return out
    return _cached(tag, build)


def _progress(items, desc: str):
    from tqdm import tqdm
    return tqdm(items, desc=desc, leave=False)


def _cached(tag: str, build: Callable[[], list[ImageWriter]]) -> list[ImageWriter]:
    path = CACHE_DIR / f"sdinet_{tag}.npz"
    if path.is_file():
        with np.load(path) as z:
            keys = [str(k) for k in z["keys"]]
            return [ImageWriter(k, z[f"{k}_g"], z[f"{k}_f"]) for k in keys]
    writers = build()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")  # ranks of one machine may build it at once
    arrays = {"keys": np.array([w.key for w in writers])}
    for w in writers:
        arrays[f"{w.key}_g"], arrays[f"{w.key}_f"] = w.genuine, w.forgery
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return writers


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 ink = 255 -> float32 ink = 1, the network's input scale."""
    return images.astype(np.float32) * np.float32(1 / 255)


@dataclass(frozen=True)
class PairMix:
    """Shares of a training batch: genuine pairs, skilled-forgery pairs, the rest random forgeries."""

    genuine: float = 0.5
    skilled: float = 0.35


def sample_pairs(writers: Sequence[ImageWriter], n: int, rng: np.random.Generator,
                 mix: PairMix = PairMix()) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random labelled pairs (uint8 (n, 2, 155, 220), labels int64: 1 = genuine pair).

    Each side takes an independent random style variant, so the network learns to
    compare a clean enrolment scan with a camera query and the other way round. A writer
    without skilled forgeries gives a random forgery instead.
    """
    pairs = np.empty((n, 2) + writers[0].genuine.shape[2:], np.uint8)
    labels = np.empty(n, np.int64)
    kinds = rng.random(n)
    for i in range(n):
        wi = int(rng.integers(len(writers)))
        w = writers[wi]
        nv = w.genuine.shape[1]  # a real scan has one variant, a render one per style
        a = rng.integers(len(w.genuine))
        pairs[i, 0] = w.genuine[a, rng.integers(nv)]
        if kinds[i] < mix.genuine:
            b = (a + 1 + rng.integers(len(w.genuine) - 1)) % len(w.genuine)
            pairs[i, 1], labels[i] = w.genuine[b, rng.integers(nv)], 1
        elif kinds[i] < mix.genuine + mix.skilled and len(w.forgery):
            pairs[i, 1], labels[i] = w.forgery[rng.integers(len(w.forgery)), rng.integers(nv)], 0
        else:
            other = writers[(wi + 1 + int(rng.integers(len(writers) - 1))) % len(writers)]
            pairs[i, 1] = other.genuine[rng.integers(len(other.genuine)), rng.integers(other.genuine.shape[1])]
            labels[i] = 0
    return pairs, labels
