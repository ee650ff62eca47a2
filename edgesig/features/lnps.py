"""Length-normalised path signatures (LNPS), after Lai & Jin (2017).

For every sample we take the path inside a sliding window around it, scale it by the
window's arc length L (so level j of the signature is divided by L**j) and compute the
truncated path signature up to ``level``. Scaling by the arc length makes the feature
invariant to writing size and speed, while the signature keeps the order of the
strokes' shape (areas, curvature) that raw coordinates lose. Channels are then
z-normalised over the signature.

The kernels are numba ``njit(cache=True)`` functions over plain arrays; the Python
wrapper validates. The signature of a piecewise-linear path is built segment by segment
with Chen's identity: S(path + segment) = S(path) ⊗ exp(Δ).
"""
from __future__ import annotations

import numba as nb
import numpy as np

from edgesig.errors import InvalidInputError

MAX_LEVEL = 6


def signature_dim(channels: int, level: int) -> int:
    """Length of a truncated signature without the constant level-0 term."""
    return sum(channels ** k for k in range(1, level + 1))


@nb.njit(cache=True, nogil=True)
def _level_offsets(d: int, level: int) -> np.ndarray:
    offsets = np.zeros(level + 2, dtype=np.int64)
    size = 1
    for k in range(1, level + 1):
        size *= d
        offsets[k + 1] = offsets[k] + size
    # offsets[k] is the start of level k in the flat vector (level 1 starts at 0)
    return offsets[1:]


@nb.njit(cache=True, nogil=True)
def _chen_append(sig: np.ndarray, delta: np.ndarray, level: int, offsets: np.ndarray,
                 powers: np.ndarray) -> None:
    """sig <- sig ⊗ exp(delta), in place. ``powers`` is scratch of sig's size."""
    d = delta.size
    # powers level j = delta^{⊗j} / j!
    for c in range(d):
        powers[c] = delta[c]
    for j in range(2, level + 1):
        prev, cur = offsets[j - 2], offsets[j - 1]
        size_prev = offsets[j - 1] - offsets[j - 2]
        for a in range(size_prev):
            pa = powers[prev + a] / j
            for c in range(d):
                powers[cur + a * d + c] = pa * delta[c]
    # update high levels first so lower levels still hold the old values
    for k in range(level, 0, -1):
        start_k = offsets[k - 1]
        size_k = offsets[k] - offsets[k - 1]
        for b in range(size_k):  # j = k term: S_0 = 1
            sig[start_k + b] += powers[start_k + b]
        stride = 1
        for j in range(1, k):  # S_{k-j} ⊗ P_j
            stride *= d
            start_low = offsets[k - j - 1]
            size_low = offsets[k - j] - offsets[k - j - 1]
            start_p = offsets[j - 1]
            for a in range(size_low):
                sa = sig[start_low + a]
                if sa == 0.0:
                    continue
                base = start_k + a * stride
                for b in range(stride):
                    sig[base + b] += sa * powers[start_p + b]


@nb.njit(cache=True, nogil=True)
def path_signature(path: np.ndarray, level: int) -> np.ndarray:
    """Truncated signature (levels 1..level) of a piecewise-linear path (n, d)."""
    d = path.shape[1]
    offsets = _level_offsets(d, level)
    sig = np.zeros(offsets[level], dtype=np.float64)
    powers = np.empty_like(sig)
    delta = np.empty(d, dtype=np.float64)
    for s in range(path.shape[0] - 1):
        for c in range(d):
            delta[c] = path[s + 1, c] - path[s, c]
        _chen_append(sig, delta, level, offsets, powers)
    return sig


@nb.njit(cache=True, nogil=True)
def lnps_rows(path: np.ndarray, n: int, window: int, level: int, lo: int, hi: int,
              out: np.ndarray) -> None:
    """Fill ``out[lo:hi]`` with the LNPS rows of the first ``n`` samples of ``path``.

    Row i uses the window centred on sample i, clipped to [0, n). Rows whose window is
    complete never change as samples are appended, which is what lets a streaming
    session compute them while the pen is still moving. Window arc lengths come from a
    prefix sum; level 2 (the default) uses prefix signatures, see :func:`_level2_rows`.
    """
    d = path.shape[1]
    half = window // 2
    first = max(0, lo - half)
    last = min(n - 1, hi - 1 + half)
    cum = np.zeros(last - first + 1)  # cum[k] = arc length from sample first to first + k
    for s in range(first, last):
        acc = 0.0
        for c in range(d):
            diff = path[s + 1, c] - path[s, c]
            acc += diff * diff
        cum[s - first + 1] = cum[s - first] + np.sqrt(acc)
    if level == 2:
        _level2_rows(path, n, half, lo, hi, first, last, cum, out)
        return
    offsets = _level_offsets(d, level)
    powers = np.empty(offsets[level], dtype=np.float64)
    delta = np.empty(d, dtype=np.float64)
    for i in range(lo, hi):
        a = max(0, i - half)
        b = min(n - 1, i + half)
        sig = out[i]
        sig[:] = 0.0
        length = cum[b - first] - cum[a - first]
        if length <= 1e-12:
            continue
        inv = 1.0 / length
        for s in range(a, b):
            for c in range(d):
                delta[c] = (path[s + 1, c] - path[s, c]) * inv
            _chen_append(sig, delta, level, offsets, powers)


@nb.njit(cache=True, nogil=True)
def _level2_rows(path: np.ndarray, n: int, half: int, lo: int, hi: int, first: int, last: int,
                 cum: np.ndarray, out: np.ndarray) -> None:
    """Level-2 rows from prefix signatures, O(d²) per row whatever the window.

    With P(k) the signature of the path up to sample k, Chen's identity gives the window
    [a, b] as P(a)⁻¹ ⊗ P(b): level 1 is x_b − x_a and level 2 is
    P2(b) − P2(a) − (x_a − x_first) ⊗ (x_b − x_a). Positions are taken relative to the
    first sample used, which keeps the prefix terms small.
    """
    d = path.shape[1]
    m = last - first + 1
    p2 = np.zeros((m, d * d))
    for k in range(1, m):
        s = first + k - 1
        for i in range(d):
            di = path[s + 1, i] - path[s, i]
            xi = path[s, i] - path[first, i]
            for j in range(d):
                dj = path[s + 1, j] - path[s, j]
                p2[k, i * d + j] = p2[k - 1, i * d + j] + xi * dj + 0.5 * di * dj
    for row in range(lo, hi):
        a = max(0, row - half)
        b = min(n - 1, row + half)
        sig = out[row]
        sig[:] = 0.0
        length = cum[b - first] - cum[a - first]
        if length <= 1e-12:
            continue
        inv = 1.0 / length
        for i in range(d):
            sig[i] = (path[b, i] - path[a, i]) * inv
        inv2 = inv * inv
        for i in range(d):
            xa = path[a, i] - path[first, i]
            for j in range(d):
                inc = path[b, j] - path[a, j]
                sig[d + i * d + j] = (p2[b - first, i * d + j] - p2[a - first, i * d + j] - xa * inc) * inv2


@nb.njit(cache=True, nogil=True)
def lnps_raw(path: np.ndarray, window: int, level: int) -> np.ndarray:
    """Per-sample signature of the arc-length-normalised window centred on the sample.

    A window of ``window`` samples (odd) is clipped at the ends of the path. A window
    with (near) zero arc length gives a zero signature.
    """
    n, d = path.shape
    out = np.zeros((n, _level_offsets(d, level)[level]), dtype=np.float64)
    lnps_rows(path, n, window, level, 0, n, out)
    return out


@nb.njit(cache=True, nogil=True)
def zscore_columns(features: np.ndarray) -> np.ndarray:
    """Each column shifted to zero mean and scaled to unit deviation (constant columns -> 0)."""
    n, m = features.shape
    out = np.empty_like(features)
    for j in range(m):
        mean = 0.0
        for i in range(n):
            mean += features[i, j]
        mean /= n
        var = 0.0
        for i in range(n):
            diff = features[i, j] - mean
            var += diff * diff
        std = np.sqrt(var / n)
        scale = 1.0 / std if std > 1e-12 else 0.0
        for i in range(n):
            out[i, j] = (features[i, j] - mean) * scale
    return out


def lnps(path: np.ndarray, window: int = 9, level: int = 2, normalize: bool = True) -> np.ndarray:
    """LNPS features of ``path`` (n samples × d channels) -> (n, signature_dim(d, level)).

    Raises InvalidInputError for a non-finite or badly shaped path, an even or too
    small window, or a level outside 1..MAX_LEVEL.
    """
    arr = np.asarray(path, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise InvalidInputError(f"path must have shape (n >= 2, d >= 1), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError("path contains NaN or infinity")
    if not isinstance(window, (int, np.integer)) or window < 3 or window % 2 == 0:
        raise InvalidInputError(f"window must be an odd integer >= 3, got {window!r}")
    if not isinstance(level, (int, np.integer)) or not 1 <= level <= MAX_LEVEL:
        raise InvalidInputError(f"level must be an integer in 1..{MAX_LEVEL}, got {level!r}")
    feats = lnps_raw(np.ascontiguousarray(arr), int(window), int(level))
    return zscore_columns(feats) if normalize else feats
