"""Benchmark inputs: synthetic signatures of exact lengths, and rendered images.

Latency depends on the number of samples, so the benchmark fixes it: a synthetic
writer is sampled fast enough to exceed the target length, then every stream is
resampled (linearly, over the sample index) to exactly ``n`` points. The same seed
always gives the same inputs, so two runs time the same work.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from edgesig.pen import PenStream

#: The references are written by population writer 0; queries mix genuine and forgeries.
#: More genuine queries than a replay guard remembers accepted signatures (8), so cycling
#: through the pool never submits a "recently accepted" copy.
N_REFERENCES = 5
N_QUERIES = 16
N_IMAGE_QUERIES = 6
_BASE_RATE_HZ = 100.0


@dataclass(frozen=True)
class PenSet:
    """Enrolment references and queries of one writer, all exactly ``n`` points long."""

    n: int
    references: tuple[PenStream, ...]
    queries: tuple[PenStream, ...]
    genuine: tuple[bool, ...]          # per query: genuine (True) or skilled forgery


def resample(pen: PenStream, n: int) -> PenStream:
    """``pen`` linearly resampled to exactly ``n`` points (pen-down from the nearest sample)."""
    src = np.arange(len(pen), dtype=np.float64)
    dst = np.linspace(0.0, len(pen) - 1.0, n)
    nearest = np.rint(dst).astype(np.int64)
    t = np.interp(dst, src, pen.t)
    return PenStream.from_arrays(np.interp(dst, src, pen.x), np.interp(dst, src, pen.y), t,
                                 np.clip(np.interp(dst, src, pen.pressure), 0.0, 1.0),
                                 pen.pen_down[nearest], device=pen.device)


@lru_cache(maxsize=8)
def pen_set(n: int, seed: int, rate_hz: float | None = None) -> PenSet:
    """Five genuine references and 16 queries (11 genuine, 5 skilled forgeries).

    By default the pad's rate is chosen so that a natural signature has about ``n``
    points. With ``rate_hz`` the pad runs at that rate and the writer signs slower or
    faster until the signature has about ``n`` points: the costly case for engines that
    thin fast pads (a slow pad, or a long signature).
    """
    from edgesig.synth import make_population
    probe = make_population(1, seed, sample_rate_hz=rate_hz or _BASE_RATE_HZ)[0]
    natural = len(probe.genuine(np.random.default_rng(seed)))
    if rate_hz is None:
        rate = float(np.clip(_BASE_RATE_HZ * 1.2 * n / natural, 20.0, 1000.0))
        writer = make_population(1, seed, sample_rate_hz=rate)[0]
    else:
        writer = replace(probe, hand=replace(probe.hand, speed=probe.hand.speed * natural / n))
    rng = np.random.default_rng(seed)
    refs = tuple(resample(writer.genuine(rng), n) for _ in range(N_REFERENCES))
    genuine = tuple(k % 3 != 2 for k in range(N_QUERIES))
    queries = tuple(resample(writer.genuine(rng) if g else writer.forgery(rng), n) for g in genuine)
    return PenSet(n, refs, queries, genuine)


def cycle(fn: Callable[[Any], object], items: Sequence[Any]) -> Callable[[], object]:
    """A no-argument call that gives ``fn`` the next item each time, so repeated calls do
    not hit a cache (or a replay check) with one input."""
    state = {"k": 0}

    def call() -> object:
        state["k"] += 1
        return fn(items[state["k"] % len(items)])

    return call


def path_xy(pen: PenStream) -> np.ndarray:
    """The (n, 2) float64 pen path, centred and scaled like the feature pipeline does."""
    from edgesig.features.kinematics import motion_table
    return np.ascontiguousarray(motion_table(pen.t, pen.x, pen.y, pen.pressure)[:, :2])


@dataclass(frozen=True)
class ImageSet:
    """Rendered signature images the offline pipeline accepts, and how many it refused."""

    images: tuple[np.ndarray, ...]
    refused: tuple[np.ndarray, ...]


@lru_cache(maxsize=4)
def image_set(seed: int, count: int = N_REFERENCES + N_IMAGE_QUERIES) -> ImageSet:
    """Rendered gray signature images (office-scan style) of population writer 0.

    The first N_REFERENCES are genuine, the queries alternate genuine and skilled
    forgeries. An image the offline pipeline refuses ("no signature found" on a clean
    render is a pipeline bug, reported by the offline section) is replaced by another,
    so one refusal does not abort the timing loops.
    """
    from edgesig.synth import make_population
    from edgesig.synth.render import RenderStyle, render
    writer = make_population(1, seed)[0]
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    refused: list[np.ndarray] = []
    while len(out) < count and len(refused) < 2 * count:
        k = len(out)
        pen = writer.genuine(rng) if k < N_REFERENCES or k % 2 else writer.forgery(rng)
        img = render(pen, rng, style=RenderStyle.random(rng, "scan"))
        if _pipeline_accepts(img):
            out.append(img)
        else:
            refused.append(img)
    return ImageSet(tuple(out), tuple(refused))


@lru_cache(maxsize=2)
def photo_set(seed: int, count: int = 4) -> ImageSet | None:
    """Synthetic kiosk snapshots (a form with the signature, photographed at an angle),
    or None when ``edgesig.synth.sheet_photo`` is not installed."""
    try:
        from edgesig.synth.sheet_photo import sheet_photo
    except ImportError:
        return None
    from edgesig.synth import make_population
    writer = make_population(1, seed)[0]
    rng = np.random.default_rng(seed + 1)
    out: list[np.ndarray] = []
    refused: list[np.ndarray] = []
    while len(out) < count and len(refused) < 2 * count:
        photo = sheet_photo(writer.genuine(rng), rng).photo
        (out if _pipeline_accepts(photo) else refused).append(photo)
    return ImageSet(tuple(out), tuple(refused))


def images(seed: int) -> tuple[np.ndarray, ...]:
    """The accepted images of :func:`image_set`."""
    return image_set(seed).images


def _pipeline_accepts(img: np.ndarray) -> bool:
    try:
        from edgesig.offline.pipeline import TARGETS, prepare
    except ImportError:
        return True
    from edgesig.errors import ImageError
    try:
        for target in TARGETS:
            prepare(img, target)
    except ImageError:
        return False
    return True
