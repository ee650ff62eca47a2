"""The cross-writer network's images: the same renders as SDINet's, moment-normalised to 224x224.

To compare the two offline models directly, the cross-writer data must be the very
images SDINet trains and is tested on, only normalised the cross-writer way. SDINet's
``export.offline.data.render_variants`` draws every style from a per-writer generator
seeded ``seed * 1000 + user`` and its normaliser consumes no random numbers, so calling
it with the same seeds and another normaliser reproduces the identical renders. The
pairs, folds and protocol then come from ``export.offline.data`` / ``evaluate`` / ``folds``
unchanged (they are shape-agnostic). Images are cached once as uint8 under
``CACHE_DIR`` (about 320 MB for the 40 SVC2004 writers), never in the repository.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from edgesig.errors import EdgesigError
from edgesig.offline import even_out_light, normalize_crosswriter
from export.offline.data import VARIANTS, ImageWriter, _cached, _progress, render_variants


def normalize_direct(gray: np.ndarray) -> np.ndarray:
    """Cross-writer input of a render (a crop of one signature): even light, then moments.

    Falls back to the raw render when lighting correction leaves no ink, so the
    result always has the cross-writer shape (SDINet's fallback would not).
    """
    try:
        return normalize_crosswriter(even_out_light(gray))
    except EdgesigError:
        return normalize_crosswriter(gray)


def svc_image_writers(data: str | Path, users: Sequence[int], seed: int = 0,
                      progress: bool = True) -> list[ImageWriter]:
    """SVC2004 writers as 224x224 cross-writer images, uint8 (n, len(VARIANTS), 224, 224)."""
    from edgesig.eval.protocols import load_svc2004
    users = list(users)
    tag = hashlib.sha1(f"crosswriter|svc|{users}|{seed}|{VARIANTS}".encode()).hexdigest()[:12]

    def build() -> list[ImageWriter]:
        samples = load_svc2004(data, users)
        out = []
        for u in (_progress(samples, "render SVC2004 (cross-writer)") if progress else samples):
            rng = np.random.default_rng(seed * 1000 + u.user)   # as export.offline.data._render_writer
            gen = np.stack([render_variants(p, rng, normalize_direct) for p in u.genuine])
            forg = np.stack([render_variants(p, rng, normalize_direct) for p in u.forgery])
            out.append(ImageWriter(f"svc{u.user}", gen, forg))
        return out
    return _cached(f"crosswriter_{tag}", build)
