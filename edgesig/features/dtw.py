"""Dynamic time warping between feature sequences (numba).

DTW aligns two signatures whose parts were written at different speeds. The Sakoe–Chiba
band (a fraction of the longer length, around the scaled diagonal) both speeds it up and
stops pathological alignments; the distance is divided by the warping path's length so
long and short signatures score on one scale.
"""
from __future__ import annotations

import math
from typing import Sequence

import numba as nb
import numpy as np

from edgesig.errors import InvalidInputError


#: Channel counts up to this (every engine's feature set) take the vectorised local
#: distances of :func:`_costs_narrow`; wider rows (GRU embeddings) :func:`_costs_wide`.
NARROW = 12
#: No row weights (:func:`_weigh`).
_NO_WEIGHT = np.empty(0)


@nb.njit(inline="always", fastmath=True)
def _distance(row: np.ndarray, col: np.ndarray) -> float:
    acc = 0.0
    for c in range(row.shape[0]):
        diff = row[c] - col[c]
        acc += diff * diff
    return math.sqrt(acc)


@nb.njit(fastmath=True)
def _costs_wide(q: np.ndarray, b: np.ndarray, start: int, count: int, out: np.ndarray) -> None:
    """out[t] = |q - b[start + t]| for t < count, one row at a time."""
    for t in range(count):
        out[t] = _distance(q, b[start + t])


@nb.njit
def _square(x: float) -> float:
    """x * x rounded on its own: compiled without contraction, so it is never fused into
    the next addition (see :func:`_costs_narrow`)."""
    return x * x


@nb.njit(fastmath={"contract"})
def _costs_narrow(q: np.ndarray, bt: np.ndarray, start: int, count: int, out: np.ndarray) -> None:
    """out[t] = |q - b[start + t]| for t < count, with 12 channels and ``bt`` = b transposed.

    Several points per vector instruction, the square root included (the costliest
    step), instead of one point's channels per instruction plus a horizontal sum. The
    sums keep the order the compiled :func:`_distance` loop uses for 12 channels on
    x86-64 with AVX2 and FMA (lanes c, c + 4, c + 8 with fused multiply-adds, then
    (l0 + l2) + (l1 + l3)), so there the distances are bit-identical to it and enrolled
    templates and calibrated thresholds stay valid.
    """
    q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11 = (q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8],
                                                          q[9], q[10], q[11])
    stop = start + count
    b0, b1, b2, b3 = bt[0, start:stop], bt[1, start:stop], bt[2, start:stop], bt[3, start:stop]
    b4, b5, b6, b7 = bt[4, start:stop], bt[5, start:stop], bt[6, start:stop], bt[7, start:stop]
    b8, b9, b10, b11 = bt[8, start:stop], bt[9, start:stop], bt[10, start:stop], bt[11, start:stop]
    for t in range(count):
        d4, d5, d6, d7 = q4 - b4[t], q5 - b5[t], q6 - b6[t], q7 - b7[t]
        d8, d9, d10, d11 = q8 - b8[t], q9 - b9[t], q10 - b10[t], q11 - b11[t]
        l0 = _square(q0 - b0[t]) + d4 * d4 + d8 * d8
        l1 = _square(q1 - b1[t]) + d5 * d5 + d9 * d9
        l2 = _square(q2 - b2[t]) + d6 * d6 + d10 * d10
        l3 = _square(q3 - b3[t]) + d7 * d7 + d11 * d11
        out[t] = math.sqrt((l0 + l2) + (l1 + l3))


@nb.njit(inline="always")
def _costs(q: np.ndarray, b: np.ndarray, bt: np.ndarray, lo: int, hi: int, out: np.ndarray) -> None:
    """out[j] = |q - b[j - 1]| for the band's columns j in lo..hi."""
    if bt.shape[0]:
        _costs_narrow(q, bt, lo - 1, hi + 1 - lo, out[lo:])
    else:
        _costs_wide(q, b, lo - 1, hi + 1 - lo, out[lo:])


@nb.njit(inline="always")
def _weigh(out: np.ndarray, weight: np.ndarray, lo: int, hi: int) -> None:
    """out[j] *= weight[j - 1] for the band's columns j in lo..hi: the local distances
    weighted per row of ``b`` (an empty ``weight``: none, the distances untouched)."""
    if weight.shape[0]:
        _scale(out[lo:hi + 1], weight[lo - 1:hi])


@nb.njit(fastmath=True)
def _scale(out: np.ndarray, weight: np.ndarray) -> None:
    """out *= weight, element by element: a call of its own, so the compiler vectorises it
    (inlined into the recurrence the loop ran one element at a time, a quarter of the
    path kernel's time)."""
    for t in range(out.shape[0]):
        out[t] *= weight[t]


@nb.njit(inline="always")
def _step(diag_cost: float, diag_len: float, up_cost: float, up_len: float, left_cost: float, left_len: float,
          cost: float) -> tuple[float, float]:
    """One cell: the cheapest of diagonal, up and left (ties in that order) plus its cost."""
    best, steps = diag_cost, diag_len
    if up_cost < best:
        best, steps = up_cost, up_len
    if left_cost < best:
        best, steps = left_cost, left_len
    return best + cost, steps + 1.0


@nb.njit(inline="always")
def _bounds(i: int, ratio: float, width: int, m: int) -> tuple[int, int]:
    """Columns of row ``i`` inside the band around the scaled diagonal."""
    centre = int(i * ratio)
    return max(1, centre - width), min(m, centre + width + 1)


@nb.njit(inline="always")
def _fence(cost: np.ndarray, lo: int, hi: int, hi_next: int) -> None:
    """Mark unreachable the cells of a row outside its band ``lo..hi`` that the next row
    reads: only the band is written, and the next row reads one cell left of its band and
    up to its own right edge ``hi_next``. (:func:`_dtw` keeps this and :func:`_pair` written
    out: through the helpers it measured about 4 % slower.)"""
    cost[lo - 1] = np.inf
    for j in range(hi + 1, hi_next + 1):
        cost[j] = np.inf


@nb.njit(inline="always")
def _buffers(b: np.ndarray, band: float, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """What both kernels set up for a query of ``n`` rows against ``b``: ``b`` transposed
    for :func:`_costs_narrow` (empty for other widths), the two rows of local distances, and the
    band's half-width in cells (at least 1; the whole matrix without a band)."""
    m = b.shape[0]
    bt = np.ascontiguousarray(b.T) if b.shape[1] == NARROW else np.empty((0, m))
    width = int(math.ceil(band * max(n, m))) if band > 0 else max(n, m)
    return bt, np.empty(m + 1), np.empty(m + 1), max(width, 1)


@nb.njit(inline="always")
def _pair(a: np.ndarray, b: np.ndarray, bt: np.ndarray, weight: np.ndarray, i: int, ratio: float, width: int,
          cost: np.ndarray, row_a: np.ndarray, row_b: np.ndarray) -> tuple[int, int, int, int]:
    """Rows ``i`` and ``i + 1``'s bands, their local distances (into ``row_a``, ``row_b``)
    and the fence of ``cost``, the row array that row ``i + 1`` is written to."""
    m = b.shape[0]
    lo1, hi1 = _bounds(i, ratio, width, m)
    lo2, hi2 = _bounds(i + 1, ratio, width, m)
    _, hi3 = _bounds(i + 2, ratio, width, m)
    _fence(cost, lo2, hi2, hi3)
    _costs(a[i - 1], b, bt, lo1, hi1, row_a)
    _costs(a[i], b, bt, lo2, hi2, row_b)
    _weigh(row_a, weight, lo1, hi1)
    _weigh(row_b, weight, lo2, hi2)
    return lo1, hi1, lo2, hi2


@nb.njit(cache=True, nogil=True, fastmath=True)
def _dtw(a: np.ndarray, b: np.ndarray, band: float, weight: np.ndarray) -> float:
    """Banded DTW; each row's local distances are computed first (vectorised, into
    ``row_a``/``row_b``, times ``weight`` per row of ``b`` unless it is empty), then its
    recurrence."""
    n, m = a.shape[0], b.shape[0]
    bt, row_a, row_b, width = _buffers(b, band, n)
    inf = np.inf
    prev_cost = np.full(m + 1, inf)
    prev_len = np.zeros(m + 1)
    cur_cost = np.full(m + 1, inf)
    cur_len = np.zeros(m + 1)
    prev_cost[0] = 0.0
    ratio = m / n
    i = 1
    if n % 2 == 1:  # one row alone, the rest in pairs
        lo, hi = _bounds(1, ratio, width, m)
        _, hi_next = _bounds(2, ratio, width, m)
        # Only the band is written; the next row reads one cell left of its band and up to
        # its own right edge, so just those cells of this row must read as unreachable.
        cur_cost[lo - 1] = inf
        for j in range(hi + 1, hi_next + 1):
            cur_cost[j] = inf
        _costs(a[0], b, bt, lo, hi, row_a)
        _weigh(row_a, weight, lo, hi)
        left_cost, left_len = inf, 0.0
        diag_cost, diag_len = prev_cost[lo - 1], prev_len[lo - 1]
        for j in range(lo, hi + 1):
            up_cost, up_len = prev_cost[j], prev_len[j]
            left_cost, left_len = _step(diag_cost, diag_len, up_cost, up_len, left_cost, left_len, row_a[j])
            cur_cost[j], cur_len[j] = left_cost, left_len
            diag_cost, diag_len = up_cost, up_len
        prev_cost, cur_cost = cur_cost, prev_cost
        prev_len, cur_len = cur_len, prev_len
        i = 2
    while i < n:
        # Rows i and i + 1 together, the second one cell behind: each cell waits on its left
        # neighbour, so one row is a chain of dependent min-and-adds; two rows are two chains
        # the core overlaps (about 15 % faster). Row i lives in registers only (a0..a2 are
        # its cells j, j - 1, j - 2); row i + 1 is written for the next pair.
        lo1, hi1 = _bounds(i, ratio, width, m)
        lo2, hi2 = _bounds(i + 1, ratio, width, m)
        _, hi3 = _bounds(i + 2, ratio, width, m)
        cur_cost[lo2 - 1] = inf
        for j in range(hi2 + 1, hi3 + 1):
            cur_cost[j] = inf
        _costs(a[i - 1], b, bt, lo1, hi1, row_a)
        _costs(a[i], b, bt, lo2, hi2, row_b)
        _weigh(row_a, weight, lo1, hi1)
        _weigh(row_b, weight, lo2, hi2)
        a1_cost, a1_len = inf, 0.0
        a2_cost, a2_len = inf, 0.0
        b_cost, b_len = inf, 0.0
        diag_cost, diag_len = prev_cost[lo1 - 1], prev_len[lo1 - 1]
        for j in range(lo1, hi2 + 2):
            a0_cost, a0_len = inf, 0.0
            if j <= hi1:
                up_cost, up_len = prev_cost[j], prev_len[j]
                a0_cost, a0_len = _step(diag_cost, diag_len, up_cost, up_len, a1_cost, a1_len, row_a[j])
                diag_cost, diag_len = up_cost, up_len
            if j - 1 >= lo2:
                b_cost, b_len = _step(a2_cost, a2_len, a1_cost, a1_len, b_cost, b_len, row_b[j - 1])
                cur_cost[j - 1], cur_len[j - 1] = b_cost, b_len
            a2_cost, a2_len = a1_cost, a1_len
            a1_cost, a1_len = a0_cost, a0_len
        prev_cost, cur_cost = cur_cost, prev_cost
        prev_len, cur_len = cur_len, prev_len
        i += 2
    if not np.isfinite(prev_cost[m]):
        return inf
    return prev_cost[m] / prev_len[m]


#: What :func:`dtw_path_to_many` gives per pair, in order: the distance (as :func:`dtw`), the
#: share of the warping path's steps that are not diagonal, and the standard deviation and
#: the maximum of the local costs along the path. The path's length over n + m is not
#: among them: with steps from (1, 1) to (n, m) it is 1 / (2 - the non-diagonal share).
PATH_STATS = ("distance", "nondiag", "cost_sd", "cost_max")


@nb.njit(inline="always")
def _choose(diag: float, up: float, left: float) -> tuple[float, int]:
    """:func:`_step`'s choice (diagonal, up, left; ties in that order) as its cost and a
    code: 0 diagonal, 1 up, 2 left."""
    best, code = diag, 0
    if up < best:
        best, code = up, 1
    if left < best:
        best, code = left, 2
    return best, code


@nb.njit(cache=True, nogil=True, fastmath=True)
def _dtw_path(a: np.ndarray, b: np.ndarray, band: float, weight: np.ndarray) -> np.ndarray:
    """The end cell's cost, path length, non-diagonal steps, sum of squared local costs and
    largest local cost (:func:`_path_stats` turns them into :data:`PATH_STATS`).

    :func:`_dtw`'s recurrence, row pairs included, carrying only the cost and noting in
    ``moves`` which neighbour each cell came from (same band, same local distances, same
    ties: diagonal, up, left), then one walk back from (n, m) along the noted moves:
    :func:`_along`. Carrying the path length and the statistics with every cell instead
    made each cell about twice :func:`_dtw`'s work; the walk touches only the path. The
    non-diagonal steps: a path of L cells from (1, 1) to (n, m) has n - 1 + m - 1 steps
    counting a diagonal twice, so 2 (L - 1) - (n - 1) - (m - 1) = 2 L - n - m of its
    L - 1 are not diagonal. An unreachable end (costs overflowed) is returned with no path,
    which :func:`_path_stats` replaces by infinity."""
    n, m = a.shape[0], b.shape[0]
    bt, row_a, row_b, width = _buffers(b, band, n)
    inf = np.inf
    moves = np.empty((n + 1, min(m, 2 * width + 2)), dtype=np.uint8)  # row i, column j at j - lo(i)
    prev, cur = np.full(m + 1, inf), np.full(m + 1, inf)
    prev[0] = 0.0
    ratio = m / n
    i = 1
    if n % 2 == 1:  # one row alone, the rest in pairs (as in _dtw)
        lo, hi = _bounds(1, ratio, width, m)
        _, hi_next = _bounds(2, ratio, width, m)
        _fence(cur, lo, hi, hi_next)
        _costs(a[0], b, bt, lo, hi, row_a)
        _weigh(row_a, weight, lo, hi)
        left, diag = inf, prev[lo - 1]
        for j in range(lo, hi + 1):
            up = prev[j]
            best, moves[1, j - lo] = _choose(diag, up, left)
            left = best + row_a[j]
            cur[j] = left
            diag = up
        prev, cur = cur, prev
        i = 2
    while i < n:
        # As in _dtw: row i in registers (a0..a2, its cells j, j - 1, j - 2), row i + 1 one
        # cell behind (second, its cell j - 1) and written for the next pair.
        lo1, hi1, lo2, hi2 = _pair(a, b, bt, weight, i, ratio, width, cur, row_a, row_b)
        a1, a2, second = inf, inf, inf
        diag = prev[lo1 - 1]
        for j in range(lo1, hi2 + 2):
            a0 = inf
            if j <= hi1:
                up = prev[j]
                best, moves[i, j - lo1] = _choose(diag, up, a1)
                a0 = best + row_a[j]
                diag = up
            if j - 1 >= lo2:
                best, moves[i + 1, j - 1 - lo2] = _choose(a2, a1, second)
                second = best + row_b[j - 1]
                cur[j - 1] = second
            a2, a1 = a1, a0
        prev, cur = cur, prev
        i += 2
    if not np.isfinite(prev[m]):
        return np.array([inf, 0.0, 0.0, 0.0, 0.0])
    cells, squares, top = _along(a, b, bt, weight, moves, ratio, width, row_a)
    return np.array([prev[m], cells, 2.0 * cells - n - m, squares, top])


@nb.njit(cache=True, nogil=True, fastmath={"contract"})
def _along(a: np.ndarray, b: np.ndarray, bt: np.ndarray, weight: np.ndarray, moves: np.ndarray, ratio: float,
           width: int, local: np.ndarray) -> tuple[float, float, float]:
    """The path's number of cells, sum of squared local costs and largest local cost, from
    the ``moves`` :func:`_dtw_path` noted.

    The path crosses each row in one run of columns; the walk back from (n, m) finds each
    row's first and last, then the rows are summed forwards, each run's local distances
    computed as the recurrence computed them (:func:`_costs`): so the squares are added in
    the path's order, with the multiply-add the carried sums used, and every statistic is
    the one a cell-by-cell carry gives, bit for bit. No fast-math reassociation here: it
    would split the sum into vector lanes."""
    n, m = a.shape[0], b.shape[0]
    first, last = np.empty(n + 1, dtype=np.int64), np.empty(n + 1, dtype=np.int64)
    i, j = n, m
    last[n] = m
    while i > 0:
        move = moves[i, j - _bounds(i, ratio, width, m)[0]]
        if move == 2:
            j -= 1
            continue
        first[i] = j
        i -= 1
        j -= 1 - (move == 1)
        last[i] = j
    cells, squares, top = 0.0, 0.0, 0.0
    for i in range(1, n + 1):
        _costs(a[i - 1], b, bt, first[i], last[i], local)
        _weigh(local, weight, first[i], last[i])
        for j in range(first[i], last[i] + 1):
            x = local[j]
            cells, squares, top = cells + 1.0, squares + x * x, max(top, x)
    return cells, squares, top


@nb.njit(cache=True, nogil=True)
def _dtw_path_many(query: np.ndarray, packed: np.ndarray, starts: np.ndarray, band: float,
                   weights: np.ndarray) -> np.ndarray:
    out = np.empty((len(starts) - 1, 5))
    for k in range(len(starts) - 1):
        out[k] = _dtw_path(query, packed[starts[k]:starts[k + 1]], band, _part(weights, starts, k))
    return out


@nb.njit(cache=True, nogil=True)
def _dtw_many(query: np.ndarray, packed: np.ndarray, starts: np.ndarray, band: float,
              weights: np.ndarray) -> np.ndarray:
    out = np.empty(len(starts) - 1)
    for k in range(len(starts) - 1):
        out[k] = _dtw(query, packed[starts[k]:starts[k + 1]], band, _part(weights, starts, k))
    return out


@nb.njit(inline="always")
def _part(weights: np.ndarray, starts: np.ndarray, k: int) -> np.ndarray:
    """Reference ``k``'s row weights out of the packed ones (none when ``weights`` is empty)."""
    return weights[starts[k]:starts[k + 1]] if weights.shape[0] else weights[:0]


@nb.njit(cache=True, nogil=True)
def _aligned(a: np.ndarray, b: np.ndarray, band: float, weight: np.ndarray) -> np.ndarray:
    """Each cell's chosen step (0 diagonal, 1 up, 2 left) of the banded DTW of ``a`` against
    ``b`` on local costs ``weight[j] * |a[i] - b[j]|``: ``_dtw``'s band, local distances and
    ties (diagonal, up, left), so with unit weights the engine's own path."""
    n, m = a.shape[0], b.shape[0]
    bt, row, _, width = _buffers(b, band, n)
    cost = np.full((n + 1, m + 1), np.inf)
    cost[0, 0] = 0.0
    step = np.zeros((n + 1, m + 1), np.int8)
    ratio = m / n
    for i in range(1, n + 1):
        lo, hi = _bounds(i, ratio, width, m)
        _costs(a[i - 1], b, bt, lo, hi, row)
        for j in range(lo, hi + 1):
            best, k = cost[i - 1, j - 1], 0
            if cost[i - 1, j] < best:
                best, k = cost[i - 1, j], 1
            if cost[i, j - 1] < best:
                best, k = cost[i, j - 1], 2
            cost[i, j] = best + weight[j - 1] * row[j]
            step[i, j] = k
    return step


@nb.njit(cache=True, nogil=True)
def _traced(step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The path's (rows, columns), 0-based, first cell first, read back from ``step``."""
    i, j = step.shape[0] - 1, step.shape[1] - 1
    rows, cols = np.empty(i + j, np.int64), np.empty(i + j, np.int64)
    k = 0
    while i > 0 and j > 0:
        rows[k], cols[k] = i - 1, j - 1
        k += 1
        s = step[i, j]
        if s != 2:
            i -= 1
        if s != 1:
            j -= 1
    return rows[:k][::-1].copy(), cols[:k][::-1].copy()


def warping_path(a: np.ndarray, b: np.ndarray, band: float = 0.0,
                 weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The DTW path of ``a`` against ``b`` as (rows, columns), 0-based, first cell first: the
    engine's band, local distances and ties, the local distances weighted per row of ``b``
    (none: the path of :func:`dtw`). A full cost matrix: for enrolment, not verification."""
    b = _padded(b)
    return _traced(_aligned(_padded(a), b, float(band), np.ones(len(b)) if weight is None else weight))


def one_to_one(rows: np.ndarray, cols: np.ndarray, n: int, m: int) -> np.ndarray:
    """Per row of ``b`` (the path's columns), whether the path matches it one-to-one: it holds
    the row in one cell, whose row of ``a`` it holds in no other cell."""
    per_row, per_col = np.bincount(rows, minlength=n), np.bincount(cols, minlength=m)
    one = (per_row[rows] == 1) & (per_col[cols] == 1)
    out = np.zeros(m, dtype=bool)
    out[cols[one]] = True
    return out


def direct_matches(refs: Sequence[np.ndarray], band: float) -> list[list[np.ndarray | None]]:
    """``[i][k]``: which rows of reference k the path of reference i to it matches
    one-to-one (None for i = k)."""
    return [[one_to_one(*warping_path(o, r, band), len(o), len(r)) if i != k else None for k, r in enumerate(refs)]
            for i, o in enumerate(refs)]


def share(matches: list[list[np.ndarray | None]], k: int, leave: int | None = None) -> np.ndarray:
    """Reference k's rows' share of the other references (but ``leave``) that match them
    one-to-one (all ones where none matches any row: no row is preferred)."""
    out = np.mean([m[k] for i, m in enumerate(matches) if i not in (k, leave)], axis=0)
    return out if out.any() else np.ones(len(out))


def stabilities(refs: Sequence[np.ndarray], band: float) -> list[np.ndarray]:
    """Per reference, each row's stability (Parziale et al. 2019): the share of the other
    references whose path to it matches the row one-to-one, in [0, 1]. Genuine executions
    reproduce a writer's stable parts; a forger's deviations there tell more."""
    matches = direct_matches(refs, band)
    return [share(matches, k) for k in range(len(refs))]


def dtw(a: np.ndarray, b: np.ndarray, band: float = 0.0) -> float:
    """Path-length-normalised DTW distance between sequences (n, d) and (m, d).

    ``band`` is the Sakoe–Chiba half-width as a fraction of the longer sequence (0 = no
    band). The band always admits the scaled diagonal, so any two lengths align.
    """
    a = _sequence("a", a)
    b = _sequence("b", b)
    if a.shape[1] != b.shape[1]:
        raise InvalidInputError(f"sequences have {a.shape[1]} and {b.shape[1]} channels; they must match")
    if not 0.0 <= band <= 1.0:
        raise InvalidInputError(f"band must be a fraction in [0, 1], got {band}")
    return float(_dtw(_padded(a), _padded(b), float(band), _NO_WEIGHT))


def dtw_to_many(query: np.ndarray, refs: list[np.ndarray], band: float = 0.0,
                weights: list[np.ndarray] | None = None) -> np.ndarray:
    """DTW from one query to several references, in one compiled loop (no per-call
    overhead; the references packed by :func:`_packed`). ``weights``: per reference, one
    weight per row that multiplies the local distances to that row (stability-modulated
    DTW, Parziale et al. 2019); none: every row 1, bit for bit."""
    if not refs:
        return np.empty(0)
    return _dtw_many(_padded(query), *_packed(refs), float(band), _row_weights(refs, weights))


def dtw_path_to_many(query: np.ndarray, refs: list[np.ndarray], band: float = 0.0,
                     weights: list[np.ndarray] | None = None) -> np.ndarray:
    """Per reference, the :data:`PATH_STATS` of the query's warping path to it, shape
    (len(refs), 4); column 0 is :func:`dtw_to_many`'s distance, bit for bit (with the same
    ``weights``, whose weighted local distances the statistics then read).

    Why: the summed cost says how far the query is from a reference, not how it had to be
    warped to get there; a forger who draws slowly or hesitates aligns with more
    horizontal and vertical steps and less even local costs (Sharma & Sundaram, IEEE
    Trans. Cybernetics 2018).
    """
    if not refs:
        return np.empty((0, len(PATH_STATS)))
    return _path_stats(_dtw_path_many(_padded(query), *_packed(refs), float(band), _row_weights(refs, weights)))


def _path_stats(ends: np.ndarray) -> np.ndarray:
    """:data:`PATH_STATS` from the end cells' sums (rows of :func:`_dtw_path`'s five values).

    Divided here, in numpy, not in the kernel: compiled with fast-math the kernel may
    multiply by a shared reciprocal, one unit in the last place off :func:`dtw`'s quotient.
    """
    cost, steps, turns, squares, top = ends.T
    with np.errstate(invalid="ignore", divide="ignore"):  # an unreachable end: 0 steps, inf cost
        mean = cost / steps
        out = np.column_stack([mean, turns / steps, np.sqrt(np.maximum(squares / steps - mean * mean, 0.0)), top])
    out[~np.isfinite(cost)] = np.inf
    return out


def _row_weights(refs: list[np.ndarray], weights: list[np.ndarray] | None) -> np.ndarray:
    """The references' row weights packed as :func:`_packed` packs their rows (empty: none)."""
    if weights is None:
        return _NO_WEIGHT
    if len(weights) != len(refs) or any(len(w) != len(r) for w, r in zip(weights, refs)):
        raise InvalidInputError(f"weights: need one per row of each reference, got {[len(w) for w in weights]} "
                                f"for references of {[len(r) for r in refs]} rows")
    return np.concatenate([np.asarray(w, dtype=np.float64) for w in weights])


def _packed(refs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The references as one padded array with row offsets: cheaper to hand to numba than a
    typed list, which costs more than the DTW itself for short signatures."""
    packed = _padded(np.concatenate(refs, axis=0))
    starts = np.zeros(len(refs) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in refs], out=starts[1:])
    return packed, starts


def _padded(seq: np.ndarray) -> np.ndarray:
    """A float64 copy with zero columns up to :data:`NARROW`, or for wider rows up to a
    multiple of 4.

    Zero columns leave every distance unchanged (bit for bit: they add exact zeros). 12
    channels take :func:`_costs_narrow`; a multiple of 4 lets the compiler split a wide
    row into whole vector registers (about 1.3x faster).
    """
    n, d = seq.shape
    out = np.zeros((n, NARROW if d <= NARROW else -(-d // 4) * 4))
    out[:, :d] = seq
    return out


def _sequence(name: str, seq: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(seq, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidInputError(f"{name} must have shape (length, channels), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} contains NaN or infinity")
    return arr
