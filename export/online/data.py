"""Writers, features, augmentation and triplet sampling for training.

A writer is its genuine and skilled-forgery pen streams. Augmentation acts on the pen
stream (before features) so it models what varies between sessions: a slightly rotated
or squeezed signature, and a writer who speeds up and slows down (smooth time warp).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edgesig.errors import EdgesigError, TrainingError
from edgesig.eval import datasets
from edgesig.eval.protocols import load_svc2004
from edgesig.features.kinematics import FeatureConfig, extract
from edgesig.pen import PenStream

#: The features the shipped model was trained with (recorded in the manifest). All
#: training data is sampled at 100 Hz (SVC2004 and ``edgesig.synth``), so faster pads are
#: thinned to about that rate: their LNPS windows then span the time the model learnt,
#: and the GRU runs over a fifth of the steps on a 500 Hz pad.
DEFAULT_FEATURES = FeatureConfig(path=("x", "y"), window=9, level=2,
                                 extra=("x", "y", "vx", "vy", "p"), pen_up=False, stride=2, rate_hz=100.0)


@dataclass
class Writer:
    key: str
    genuine: list[PenStream]
    forgery: list[PenStream]


@dataclass(frozen=True)
class Augment:
    rotation_deg: float = 0.0   # max absolute rotation
    scale: float = 0.0          # max relative x/y aspect change
    time_warp: float = 0.0      # max relative local speed change
    prob: float = 0.5           # chance a sample is augmented at all
    drop_pressure: float = 0.0  # chance an augmented sample loses its pressure (a pad without any)

    @property
    def active(self) -> bool:
        return self.prob > 0 and (self.rotation_deg > 0 or self.scale > 0 or self.time_warp > 0
                                  or self.drop_pressure > 0)


def svc_writers(directory: str | Path, users: Sequence[int]) -> list[Writer]:
    return [Writer(f"svc{u.user}", u.genuine, u.forgery) for u in load_svc2004(directory, users)]


def set_writers(dataset: str, part: str, fold: int = 0, root: str | Path | None = None) -> list[Writer]:
    """The writers of ``part`` of ``fold`` of a pen set (``edgesig/eval/splits.json``), loaded.

    References come first among the genuine samples, as in ``edgesig.eval.protocols.load_set``;
    unlike there, writers without skilled forgeries (MCYT 031-100, train-only) are kept:
    they train with other writers' signatures as negatives.
    """
    from edgesig.capture import load_pen  # noqa: PLC0415 - registers every reader on import
    wanted = set(datasets.split(dataset, part, fold))
    return [Writer(f"{dataset}:{w.writer}", [load_pen(s.path) for s in (*w.references, *w.genuine)],
                   [load_pen(s.path) for s in w.forgeries])
            for w in datasets.writers(dataset, root) if w.writer in wanted]


def pooled_writers(sets: Sequence[str], part: str, fold: int = 0,
                   root: str | Path | None = None) -> dict[str, list[Writer]]:
    """``set_writers`` of each set, by set name."""
    return {name: set_writers(name, part, fold, root) for name in sets}


def synth_writers(count: int, seed: int) -> list[Writer]:
    """Synthetic sigma-lognormal writers from ``edgesig.synth`` (20 genuine, 20 forgeries each).

    Raises ImportError when ``edgesig.synth`` does not provide ``make_writer``.
    """
    from edgesig.synth import make_writer  # noqa: PLC0415 - optional dependency of pretraining
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        w = make_writer(seed * 100_003 + k)
        out.append(Writer(f"synth{k}", [w.genuine(rng) for _ in range(20)], [w.forgery(rng) for _ in range(20)]))
    return out


def augment_pen(pen: PenStream, aug: Augment, rng: np.random.Generator) -> PenStream:
    """A randomly rotated, aspect-scaled and time-warped copy of the pen stream."""
    x, y, t = pen.x.astype(np.float64), pen.y.astype(np.float64), pen.t.astype(np.float64)
    angle = np.deg2rad(rng.uniform(-aug.rotation_deg, aug.rotation_deg))
    sx = 1.0 + rng.uniform(-aug.scale, aug.scale)
    cx, cy = x.mean(), y.mean()
    dx, dy = (x - cx) * sx, y - cy
    x2 = cx + np.cos(angle) * dx - np.sin(angle) * dy
    y2 = cy + np.sin(angle) * dx + np.cos(angle) * dy
    if aug.time_warp > 0 and len(t) > 4:
        # local speed factor: a smooth random curve around 1, integrated into new timestamps
        knots = 1.0 + rng.uniform(-aug.time_warp, aug.time_warp, size=4)
        speed = np.interp(np.linspace(0, 3, len(t) - 1), np.arange(4), knots)
        t = t[0] + np.concatenate([[0.0], np.cumsum(np.diff(t) * speed)])
        t = np.round(t, 3)
        t = t + np.arange(len(t)) * 1e-6  # strictly increasing after rounding
    drop = not pen.has_pressure or rng.random() < aug.drop_pressure
    return PenStream.from_arrays(x2, y2, t=t, pressure=None if drop else pen.pressure, pen_down=pen.pen_down,
                                 device=pen.device)


def mix_weights(n_real: int, n_synth: int, share: float) -> np.ndarray:
    """Drawing weights over ``n_real`` real then ``n_synth`` synthetic writers, so that a
    ``share`` of the draws are synthetic whatever the two counts (uniform within each)."""
    if not 0.0 < share < 1.0 or n_real < 1 or n_synth < 1:
        raise TrainingError(f"mixing needs real and synthetic writers and a share in (0, 1), got {n_real} real, "
                            f"{n_synth} synthetic, share {share}: pass --synth N with --synth-share below 1")
    return np.concatenate([np.full(n_real, (1.0 - share) / n_real), np.full(n_synth, share / n_synth)])


class FeatureBank:
    """Features of every sample (unaugmented, cached) and of augmented copies on demand.

    ``weights`` (None: uniform) are the chances of each writer being drawn, as anchor or as
    another writer's negative, so synthetic writers can be mixed in at a fixed share.
    """

    def __init__(self, writers: list[Writer], cfg: FeatureConfig, aug: Augment, seed: int,
                 weights: np.ndarray | None = None):
        self.writers, self.cfg, self.aug, self.weights = writers, cfg, aug, weights
        self.rng = np.random.default_rng(seed)
        self.cache: dict[tuple[int, str, int], np.ndarray] = {}

    def _pen(self, w: int, kind: str, i: int) -> PenStream:
        return getattr(self.writers[w], kind)[i]

    def get(self, w: int, kind: str, i: int, augment: bool = True) -> np.ndarray:
        if augment and self.aug.active and self.rng.random() < self.aug.prob:
            try:
                return extract(augment_pen(self._pen(w, kind, i), self.aug, self.rng), self.cfg).astype(np.float32)
            except EdgesigError:
                pass  # a degenerate warp: fall back to the original sample
        key = (w, kind, i)
        if key not in self.cache:
            self.cache[key] = extract(self._pen(w, kind, i), self.cfg).astype(np.float32)
        return self.cache[key]

    def triplets(self, batch: int, p_forgery: float) -> tuple[list[tuple], list[int]]:
        """``batch`` (anchor, positive, negative) sample keys and the anchors' writer index.

        The negative is a skilled forgery of the anchor's writer with probability
        ``p_forgery`` (when the writer has any), otherwise another writer's genuine sample.
        """
        out, writers = [], []
        n = len(self.writers)
        for _ in range(batch):
            w = self._writer()
            wr = self.writers[w]
            a, p = self.rng.choice(len(wr.genuine), size=2, replace=False)
            if wr.forgery and (self.rng.random() < p_forgery or n < 2):
                neg = (w, "forgery", int(self.rng.integers(len(wr.forgery))))
            else:
                other = self._writer(but=w)
                neg = (other, "genuine", int(self.rng.integers(len(self.writers[other].genuine))))
            out.append(((w, "genuine", int(a)), (w, "genuine", int(p)), neg))
            writers.append(w)
        return out, writers

    def _writer(self, but: int | None = None) -> int:
        """A writer index drawn by ``weights`` (uniform when None), other than ``but``."""
        n = len(self.writers)
        if self.weights is None:
            if but is None:
                return int(self.rng.integers(n))
            other = int(self.rng.integers(n - 1))
            return other + (other >= but)
        p = self.weights.copy()
        if but is not None:
            p[but] = 0.0
        return int(self.rng.choice(n, p=p / p.sum()))
