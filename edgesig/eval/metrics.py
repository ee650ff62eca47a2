"""Verification error rates from genuine and impostor scores (higher score = more genuine).

FAR = fraction of impostor (forgery) attempts accepted, FRR = fraction of genuine
attempts rejected, at "accept when score >= threshold".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesig.errors import InvalidInputError


@dataclass(frozen=True)
class Roc:
    thresholds: np.ndarray   # decreasing
    far: np.ndarray
    frr: np.ndarray


def _scores(name: str, values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise InvalidInputError(f"{name} scores are empty")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} scores contain NaN or infinity")
    return arr


def roc(genuine: np.ndarray, impostor: np.ndarray) -> Roc:
    """FAR and FRR at every distinct score used as a threshold (plus one above all)."""
    g, i = _scores("genuine", genuine), _scores("impostor", impostor)
    thresholds = np.unique(np.concatenate([g, i]))[::-1]
    thresholds = np.concatenate([[np.inf], thresholds])
    gs, is_ = np.sort(g), np.sort(i)
    accepted_g = g.size - np.searchsorted(gs, thresholds, side="left")
    accepted_i = i.size - np.searchsorted(is_, thresholds, side="left")
    return Roc(thresholds, accepted_i / i.size, 1.0 - accepted_g / g.size)


def eer(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """Equal error rate and the threshold where FAR and FRR cross.

    The EER is the mean of FAR and FRR at the threshold that minimises |FAR − FRR|
    (exact when the curves cross at a score, the usual convention otherwise).
    """
    curve = roc(genuine, impostor)
    k = int(np.argmin(np.abs(curve.far - curve.frr)))
    threshold = curve.thresholds[k]
    if not np.isfinite(threshold):
        threshold = float(np.max(np.concatenate([genuine, impostor]))) + 1e-9
    return float((curve.far[k] + curve.frr[k]) / 2.0), float(threshold)


def auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Probability that a random genuine score beats a random impostor score (ties 1/2)."""
    g, i = _scores("genuine", genuine), _scores("impostor", impostor)
    order = np.concatenate([g, i])
    ranks = _average_ranks(order)
    return float((ranks[:g.size].sum() - g.size * (g.size + 1) / 2) / (g.size * i.size))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size)
    sorted_vals = values[order]
    start = 0
    while start < values.size:
        end = start
        while end + 1 < values.size and sorted_vals[end + 1] == sorted_vals[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def far_frr(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> tuple[float, float]:
    """FAR and FRR when accepting scores >= threshold."""
    g, i = _scores("genuine", genuine), _scores("impostor", impostor)
    return float(np.mean(i >= threshold)), float(np.mean(g < threshold))
