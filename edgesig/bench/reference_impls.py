"""Reference implementations the numba kernels are compared with.

Each computes exactly what the kernel computes, so the benchmark can check the outputs
agree before it reports a speed ratio (a fast wrong kernel must not look good):

* LNPS through iisignature, one window at a time or all windows in one batched call;
  clipped end windows are padded by repeating the end point, which adds zero
  increments and leaves a path signature unchanged;
* LNPS through pysiglib (batched), when it is installed;
* banded, path-length-normalised DTW in plain numpy, vectorised over anti-diagonals
  (cells on one anti-diagonal depend only on the two before it), with the same band
  and the same tie-breaking as ``edgesig.features.dtw``.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np


def _window_bounds(n: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    half = window // 2
    i = np.arange(n)
    return np.maximum(0, i - half), np.minimum(n - 1, i + half)


def _arc_lengths(path: np.ndarray, window: int) -> np.ndarray:
    seg = np.sqrt((np.diff(path, axis=0) ** 2).sum(axis=1))
    cum = np.concatenate(([0.0], np.cumsum(seg)))
    a, b = _window_bounds(path.shape[0], window)
    return cum[b] - cum[a]


def lnps_iisignature_per_window(path: np.ndarray, window: int, level: int) -> np.ndarray:
    """Raw LNPS with one ``iisignature.sig`` call per window."""
    import iisignature
    n = path.shape[0]
    a, b = _window_bounds(n, window)
    lengths = _arc_lengths(path, window)
    out = np.zeros((n, iisignature.siglength(path.shape[1], level)))
    for i in range(n):
        if lengths[i] > 1e-12:
            out[i] = iisignature.sig(path[a[i]:b[i] + 1] / lengths[i], level)
    return out


def windows(path: np.ndarray, window: int) -> np.ndarray:
    """(n, window, d) arc-length-normalised windows, ends padded with the end point."""
    half = window // 2
    padded = np.pad(path, ((half, half), (0, 0)), mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0).transpose(0, 2, 1)
    lengths = _arc_lengths(path, window)
    scale = np.where(lengths > 1e-12, 1.0 / np.maximum(lengths, 1e-300), 0.0)
    return np.ascontiguousarray(win * scale[:, None, None])


def lnps_iisignature_batched(path: np.ndarray, window: int, level: int) -> np.ndarray:
    """Raw LNPS with one batched ``iisignature.sig`` over all (n, window, d) windows."""
    import iisignature
    return iisignature.sig(windows(path, window), level)


def pysiglib_batched() -> Callable[[np.ndarray, int, int], np.ndarray] | None:
    """Raw LNPS through pysiglib (batched), or None when pysiglib is not installed."""
    try:
        import pysiglib
    except ImportError:
        return None
    sig = getattr(pysiglib, "sig", None) or getattr(pysiglib, "signature", None)
    if sig is None:
        return None

    def run(path: np.ndarray, window: int, level: int) -> np.ndarray:
        out = np.asarray(sig(windows(path, window), degree=level))
        dim = sum(path.shape[1] ** k for k in range(1, level + 1))
        return out[:, -dim:]  # drop the constant level-0 term where the library returns it

    return run


def dtw_numpy(a: np.ndarray, b: np.ndarray, band: float) -> float:
    """Banded, path-length-normalised DTW, vectorised over anti-diagonals.

    Only the cells inside the band are computed: they are listed once (row, column,
    local cost), sorted by anti-diagonal, and each diagonal is then one slice of flat
    indices into the accumulated-cost and path-length tables.
    """
    n, m = a.shape[0], b.shape[0]
    width = max(int(math.ceil(band * max(n, m))) if band > 0 else max(n, m), 1)
    rows_1 = np.arange(1, n + 1)
    centre = (rows_1 * (m / n)).astype(np.int64)
    lo = np.maximum(1, centre - width)
    counts = np.minimum(m, centre + width + 1) - lo + 1
    rows = np.repeat(rows_1, counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    cols = np.arange(rows.size) - first + np.repeat(lo, counts)
    diff = a[rows - 1] - b[cols - 1]
    cost = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    diag = rows + cols
    order = np.argsort(diag, kind="stable")
    flat, cost, diag = (rows * (m + 1) + cols)[order], cost[order], diag[order]
    edges = np.searchsorted(diag, np.arange(2, n + m + 2))
    acc = np.full((n + 1) * (m + 1), np.inf)
    steps = np.zeros((n + 1) * (m + 1))
    acc[0] = 0.0
    for s, e in zip(edges[:-1], edges[1:]):
        if s == e:
            continue
        f = flat[s:e]
        best, length = acc[f - (m + 2)], steps[f - (m + 2)]
        for back in (m + 1, 1):  # up, then left: strict improvement only, as in the kernel
            other = acc[f - back]
            take = other < best
            best = np.where(take, other, best)
            length = np.where(take, steps[f - back], length)
        acc[f] = best + cost[s:e]
        steps[f] = length + 1.0
    end = (n + 1) * (m + 1) - 1
    return float(acc[end] / steps[end]) if np.isfinite(acc[end]) else math.inf
