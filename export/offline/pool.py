"""The offline engines' training pool: real CEDAR scans plus every online writer rendered to paper.

Each writer's signatures go through the runtime's own ``edgesig.offline.prepare`` (sheet
search, lighting, line removal, location, SDINet normalisation), so a network trains on
exactly the arrays it will see at a kiosk. Real scans are kept as they are (one variant);
online signatures are rendered by ``edgesig.synth.render`` in every style of
``export.offline.data.VARIANTS`` (a random pen, ink width and darkness per image, then a
clean, scanned or photographed look), from a generator seeded by (seed, set, writer), so
a writer's images never depend on which other writers are built.

Building is the slow part (15-35 ms per image), so every writer is cached once as uint8
under ``build/offline_pool/`` (git-ignored), one ``.npz`` per writer, and later runs only
read the files. Splits are applied after loading: the pool itself is not split.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from edgesig.errors import EdgesigError
from edgesig.eval.datasets import WriterSamples
from export.offline.data import ImageWriter, render_variants

POOL_DIR = Path("build/offline_pool")
#: Sets of real scans, prepared as they are; every other set is online and rendered.
REAL_SETS = ("cedar",)


def writer_key(dataset: str, writer: str) -> str:
    return f"{dataset}:{writer}"


def normalizer(target: str) -> Callable[[Any], np.ndarray]:
    """The runtime's ``prepare`` for ``target`` ("sdinet" or "crosswriter") on a path or a gray
    image; an image the pipeline cannot read falls back to normalising the plain image as a
    crop, so one pipeline failure does not drop a sample (counting those is ``prepare``'s job)."""
    from edgesig.offline import prepare
    from export.offline import crosswriter_data, data
    fallback = data.normalize_direct if target == "sdinet" else crosswriter_data.normalize_direct

    def run(image: Any) -> np.ndarray:
        try:
            return prepare(str(image) if isinstance(image, Path) else image, target).array
        except EdgesigError:
            import cv2
            gray = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE) if isinstance(image, Path) else image
            return fallback(gray)
    return run


def signatures(w: WriterSamples) -> tuple[list, list]:
    """A writer's genuine signatures (its references first) and skilled forgeries: scan paths
    for a real set, pen streams for an online one. A pen file the reader refuses (a SUSig
    clock that steps back, say) is left out, so one bad file does not drop the writer."""
    genuine = [s.path for s in (*w.references, *w.genuine)]
    forgery = [s.path for s in w.forgeries]
    if w.dataset in REAL_SETS:
        return genuine, forgery
    from edgesig.capture import load_pen

    def read(paths: list[Path]) -> list:
        out = []
        for p in paths:
            try:
                out.append(load_pen(p))
            except EdgesigError:
                pass
        return out
    return read(genuine), read(forgery)


def _seed(seed: int, dataset: str, writer: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(dataset.encode()), zlib.crc32(str(writer).encode())])


def build_writer(dataset: str, writer: str, genuine: Sequence, forgery: Sequence, seed: int,
                 target: str = "sdinet") -> ImageWriter:
    """One writer's prepared images, uint8 ink = 255: scans (paths) as they are (one variant),
    pen streams rendered in every style. The renders do not depend on ``target`` (its
    normalisation draws no random numbers), so both networks see the same signatures."""
    norm = normalizer(target)
    if dataset in REAL_SETS:
        def one(item) -> np.ndarray:
            return np.round(norm(Path(item)) * 255.0)[None].astype(np.uint8)
    else:
        rng = _seed(seed, dataset, writer)

        def one(item) -> np.ndarray:
            return render_variants(item, rng, norm)
    gen = np.stack([one(s) for s in genuine])
    forg = np.stack([one(s) for s in forgery]) if len(forgery) else np.zeros((0,) + gen.shape[1:], np.uint8)
    return ImageWriter(writer_key(dataset, writer), gen, forg)


def writer_path(dataset: str, writer: str, seed: int, root: Path = POOL_DIR, target: str = "sdinet") -> Path:
    return root / (f"seed{seed}" + ("" if target == "sdinet" else f"-{target}")) / dataset / f"{writer}.npz"


def load_or_build(dataset: str, writer: str, source: Callable[[], tuple[Sequence, Sequence]],
                  seed: int = 0, root: Path = POOL_DIR, target: str = "sdinet") -> ImageWriter:
    """The writer from the cache, or built from ``source()`` (genuine, forgeries) and cached."""
    path = writer_path(dataset, writer, seed, root, target)
    if path.is_file():
        with np.load(path) as z:
            return ImageWriter(writer_key(dataset, writer), z["genuine"], z["forgery"])
    genuine, forgery = source()
    w = build_writer(dataset, writer, genuine, forgery, seed, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, genuine=w.genuine, forgery=w.forgery)
    os.replace(tmp, path)
    return w


def load_pool(sets: Iterable[str], seed: int = 0, root: Path = POOL_DIR, progress: bool = True,
              target: str = "sdinet", only: Callable[[str, str], bool] | None = None) -> dict[str, ImageWriter]:
    """Every writer of ``sets`` by ``writer_key`` (or those ``only(set, writer)`` keeps), for the
    ``target`` normalisation, building (and caching) what is not cached yet."""
    from tqdm import tqdm
    from edgesig.eval.datasets import writers
    out: dict[str, ImageWriter] = {}
    for ds in sets:
        chosen = [w for w in writers(ds) if only is None or only(ds, w.writer)]
        for w in tqdm(chosen, desc=f"pool {ds}", disable=not progress, mininterval=10):
            out[writer_key(ds, w.writer)] = load_or_build(ds, w.writer, lambda w=w: signatures(w), seed, root,
                                                          target)
    return out


def held_out(sets: Sequence[str], fold: int, target: str = "sdinet", seed: int = 0,
             root: Path = POOL_DIR) -> tuple[list[ImageWriter], dict[str, list[ImageWriter]]]:
    """The fold's validation writers of every set (pooled) and each set's test writers, for
    ``target``: what an installed engine is measured on (only those writers are read or built)."""
    from edgesig.eval.datasets import split
    keep = {(ds, w) for name in ("val", "test") for ds in sets for w in split(ds, name, fold)}
    found = load_pool(sets, seed, root, target=target, only=lambda ds, w: (ds, w) in keep)
    return part(found, sets, "val", fold), {ds: part(found, [ds], "test", fold) for ds in sets}


def train_writers(sets: Sequence[str], fold: int, target: str = "sdinet", seed: int = 0,
                  root: Path = POOL_DIR) -> list[ImageWriter]:
    """The fold's training writers of every set, for ``target`` (only those are read or built)."""
    from edgesig.eval.datasets import split
    keep = {(ds, w) for ds in sets for w in split(ds, "train", fold)}
    return part(load_pool(sets, seed, root, target=target, only=lambda ds, w: (ds, w) in keep), sets, "train", fold)


def part(pool: dict[str, ImageWriter], sets: Iterable[str], name: str, fold: int = 0) -> list[ImageWriter]:
    """The pool's writers of one part ("train", "val", "test") of ``fold``, set by set, as
    ``edgesig.eval.datasets.split`` assigns them (rendered writers keep their online set's part)."""
    from edgesig.eval.datasets import split
    return [pool[writer_key(ds, w)] for ds in sets for w in split(ds, name, fold) if writer_key(ds, w) in pool]
