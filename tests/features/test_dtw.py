import math

import numba as nb
import numpy as np
import pytest

from edgesig.errors import InvalidInputError
from edgesig.features.dtw import (NARROW, PATH_STATS, _bounds, _costs, _padded, _path_stats, dtw, dtw_path_to_many,
                                  dtw_to_many)


def dtw_reference(a, b, band=0.0):
    """Plain numpy DTW with path-length normalisation (ties broken like the kernel).

    With ``band``, cells farther than ceil(band * max(n, m)) from the scaled diagonal
    (one more on the right, as in the kernel) are unreachable.
    """
    return path_reference(a, b, band)[0]


def path_reference(a, b, band=0.0):
    """``dtw_reference`` and the warping path's non-diagonal share, local-cost standard
    deviation and largest local cost, from a traceback of the full cost matrix."""
    n, m = len(a), len(b)
    width = max(int(np.ceil(band * max(n, m))), 1) if band > 0 else max(n, m)
    cost = np.full((n + 1, m + 1), np.inf)
    steps = np.zeros((n + 1, m + 1))
    came = np.zeros((n + 1, m + 1), dtype=int)  # 0 diagonal, 1 up, 2 left
    local = np.zeros((n + 1, m + 1))
    cost[0, 0] = 0
    for i in range(1, n + 1):
        centre = int(i * m / n)
        for j in range(max(1, centre - width), min(m, centre + width + 1) + 1):
            local[i, j] = np.linalg.norm(a[i - 1] - b[j - 1])
            options = [(cost[i - 1, j - 1], steps[i - 1, j - 1]), (cost[i - 1, j], steps[i - 1, j]),
                       (cost[i, j - 1], steps[i, j - 1])]
            came[i, j] = min(range(3), key=lambda k: options[k][0])
            cost[i, j] = options[came[i, j]][0] + local[i, j]
            steps[i, j] = options[came[i, j]][1] + 1
    if not np.isfinite(cost[n, m]):
        return (np.inf,) * 4
    i, j, path, turns = n, m, [], 0
    while (i, j) != (0, 0):
        path.append(local[i, j])
        turns += came[i, j] != 0
        i, j = (i - 1, j - 1) if came[i, j] == 0 else (i - 1, j) if came[i, j] == 1 else (i, j - 1)
    return cost[n, m] / steps[n, m], turns / len(path), float(np.std(path)), max(path)


def test_matches_reference_without_band():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 4)), rng.normal(size=(25, 4))
    assert dtw(a, b) == pytest.approx(dtw_reference(a, b), rel=1e-9)


@pytest.mark.parametrize("n, m, band", [(40, 25, 0.1), (25, 40, 0.1), (30, 30, 0.05), (60, 17, 0.2)])
def test_matches_reference_with_band(n, m, band):
    rng = np.random.default_rng(n * m)
    a, b = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
    assert dtw(a, b, band) == pytest.approx(dtw_reference(a, b, band), rel=1e-9)
    assert dtw_to_many(a, [b, a], band)[0] == pytest.approx(dtw_reference(a, b, band), rel=1e-9)


def test_identity_symmetry_and_time_warp():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(50, 3)).cumsum(axis=0)
    assert dtw(a, a) == 0.0
    b = rng.normal(size=(40, 3)).cumsum(axis=0)
    assert dtw(a, b) == pytest.approx(dtw(b, a))
    stretched = np.repeat(a, 2, axis=0)  # the same path written twice as slowly
    assert dtw(a, stretched) == 0.0


def test_band_only_restricts():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(60, 2)), rng.normal(size=(70, 2))
    assert dtw(a, b, 0.05) >= dtw(a, b, 0.3) - 1e-12 >= dtw(a, b) - 1e-12


def test_many_equals_single():
    rng = np.random.default_rng(3)
    q = rng.normal(size=(30, 2))
    refs = [rng.normal(size=(n, 2)) for n in (20, 30, 45)]
    np.testing.assert_allclose(dtw_to_many(q, refs, 0.2), [dtw(q, r, 0.2) for r in refs])


def test_bad_input():
    with pytest.raises(InvalidInputError, match="channels"):
        dtw(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(InvalidInputError, match="NaN"):
        dtw(np.full((5, 2), np.nan), np.zeros((5, 2)))
    with pytest.raises(InvalidInputError, match="band"):
        dtw(np.zeros((5, 2)), np.zeros((5, 2)), band=2.0)


@pytest.mark.parametrize("n, m, band", [(1, 5, 0.2), (5, 1, 0.2), (2, 2, 0.0), (7, 30, 0.05), (30, 7, 0.05),
                                        (31, 30, 0.0), (33, 34, 0.2), (3, 50, 0.01)])
def test_row_pairs_match_reference(n, m, band):
    """The kernel computes rows two at a time; odd and even lengths, bands narrower than
    the slope and the unbanded case must give the reference's exact distance."""
    rng = np.random.default_rng(n + 100 * m)
    a, b = rng.normal(size=(n, 5)).cumsum(axis=0), rng.normal(size=(m, 5)).cumsum(axis=0)
    expected = dtw_reference(a, b, band)
    got = dtw(a, b, band)
    assert got == expected or abs(got - expected) <= 1e-12 * abs(expected)


def test_real_pens_match_reference(svc_dir):
    """The shipped engine's features and band on a real genuine/forgery pair (SVC2004)."""
    from edgesig.capture import load_pen
    from edgesig.engines import load_engine
    from edgesig.runtime import Manifest
    engine = load_engine("dtw", Manifest())
    query, ref = (engine.prepare(load_pen(svc_dir / f"U1S{s}.TXT"))[1:].astype(np.float64) for s in (1, 21))
    assert dtw(query, ref, engine.band) == pytest.approx(dtw_reference(query, ref, engine.band), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vectorised_local_distances_equal_the_row_loop_bit_for_bit(dtype):
    """The 12-channel path (several points per vector instruction) must give exactly the
    per-row loop's distances, which it replaced: enrolled templates keep statistics of
    those, and the calibrated threshold was set on them. Engine features of synthetic
    writers (float32, as stored) and float64 rows whose squares are not exact, so the
    order of the sums and the fused multiply-adds must match too."""
    from edgesig.engines import load_engine
    from edgesig.features.dtw import NARROW, _costs_narrow, _costs_wide, _padded
    from edgesig.runtime import Manifest
    from edgesig.synth import make_population
    engine = load_engine("dtw", Manifest())
    writer = make_population(1, 3)[0]
    rng = np.random.default_rng(0)
    seqs = [engine.prepare(writer.genuine(rng))[1:] for _ in range(2)] + [engine.prepare(writer.forgery(rng))[1:]]
    if dtype is np.float64:
        seqs = [rng.normal(size=(60, d)) * 10.0 ** rng.uniform(-3, 3, size=d) for d in (3, 10, 12)]
    # the order mirrored is that of 4-wide vectors with fused multiply-adds; elsewhere the
    # row loop sums differently, and the paths agree to rounding only
    import llvmlite.binding as llvm
    host = llvm.get_host_cpu_features()
    exact = bool(host.get("avx2") and host.get("fma"))
    for q, b in zip(seqs, seqs[1:] + seqs[:1]):
        q, b = _padded(q[:, :NARROW]), _padded(b[:, :NARROW])
        wide, narrow = np.empty(len(b)), np.empty(len(b))
        for row in q:
            _costs_wide(row, b, 0, len(b), wide)
            _costs_narrow(row, np.ascontiguousarray(b.T), 0, len(b), narrow)
            if exact:
                np.testing.assert_array_equal(narrow, wide)
            else:
                np.testing.assert_allclose(narrow, wide, rtol=1e-14)


@pytest.mark.parametrize("n, m, band", [(1, 5, 0.2), (2, 2, 0.0), (30, 30, 0.0), (40, 25, 0.1), (25, 40, 0.1),
                                        (33, 34, 0.2), (60, 17, 0.2)])
def test_path_stats_match_a_traceback(n, m, band):
    rng = np.random.default_rng(n + 100 * m)
    a, b = rng.normal(size=(n, 3)).cumsum(axis=0), rng.normal(size=(m, 3)).cumsum(axis=0)
    got = dtw_path_to_many(a, [b], band)[0]
    assert got.shape == (len(PATH_STATS),)
    np.testing.assert_allclose(got, path_reference(a, b, band), rtol=1e-9, atol=1e-12)


def test_path_distance_is_the_shipped_distance_bit_for_bit():
    """Column 0 is dtw_to_many's distance exactly (templates, thresholds and EERs rest on it),
    12 channels (the engines' padded kernel) and wider ones, float32 and float64."""
    rng = np.random.default_rng(7)
    for d, dtype, band in [(10, np.float32, 0.2), (12, np.float64, 0.0), (3, np.float32, 0.1), (20, np.float64, 0.2)]:
        q = rng.normal(size=(int(rng.integers(5, 150)), d)).astype(dtype)
        refs = [rng.normal(size=(int(rng.integers(5, 150)), d)).astype(dtype) for _ in range(4)]
        assert np.array_equal(dtw_path_to_many(q, refs, band)[:, 0], dtw_to_many(q, refs, band))


def test_path_stats_of_a_slowed_copy():
    """The same stroke written twice as slowly aligns at zero cost by non-diagonal steps."""
    a = np.random.default_rng(4).normal(size=(50, 3)).cumsum(axis=0)
    same, slowed = dtw_path_to_many(a, [a, np.repeat(a, 2, axis=0)])
    assert same.tolist() == [0.0, 0.0, 0.0, 0.0]
    assert slowed[0] == 0.0 and slowed[1] == pytest.approx(50 / 100) and slowed[3] == 0.0
    assert dtw_path_to_many(a, []).shape == (0, len(PATH_STATS))


@nb.njit(fastmath=True)
def one_row_path_kernel(a, b, band):
    """The path recurrence as it was before the row-pair kernel (one row at a time, five
    arrays per row, the non-diagonal steps counted): the reference the kernel must equal bit
    for bit. Compiled like the kernel (fast-math), or contracted multiply-adds would differ
    in the last place."""
    n, m = a.shape[0], b.shape[0]
    bt = np.ascontiguousarray(b.T) if b.shape[1] == NARROW else np.empty((0, m))
    local = np.empty(m + 1)
    width = max(int(math.ceil(band * max(n, m))) if band > 0 else max(n, m), 1)
    p, c = np.zeros((5, m + 1)), np.zeros((5, m + 1))  # cost, length, turns, squares, max
    p[0, :], c[0, :] = np.inf, np.inf
    p[0, 0] = 0.0
    for i in range(1, n + 1):
        lo, hi = _bounds(i, m / n, width, m)
        _, hi_next = _bounds(i + 1, m / n, width, m)
        c[0, lo - 1] = np.inf
        c[0, hi + 1:hi_next + 1] = np.inf
        _costs(a[i - 1], b, bt, lo, hi, local)
        for j in range(lo, hi + 1):
            best, length, turn, sq, top = p[0, j - 1], p[1, j - 1], p[2, j - 1], p[3, j - 1], p[4, j - 1]
            if p[0, j] < best:
                best, length, turn, sq, top = p[0, j], p[1, j], p[2, j] + 1.0, p[3, j], p[4, j]
            if c[0, j - 1] < best:
                best, length, turn, sq, top = c[0, j - 1], c[1, j - 1], c[2, j - 1] + 1.0, c[3, j - 1], c[4, j - 1]
            x = local[j]
            c[0, j], c[1, j], c[2, j], c[3, j], c[4, j] = best + x, length + 1.0, turn, sq + x * x, max(top, x)
        p, c = c, p
    return p[:, m].copy()


def test_path_kernel_equals_the_one_row_recurrence_bit_for_bit():
    """The row-pair path kernel (non-diagonal steps from the path length) gives every
    statistic exactly as the one-row recurrence did: odd and even lengths, narrow and wide
    rows, bands, and rounded inputs full of ties."""
    rng = np.random.default_rng(11)
    for trial in range(120):
        d, band = int(rng.choice([3, 12, 20])), float(rng.choice([0.0, 0.05, 0.1, 0.2]))
        q = rng.normal(size=(int(rng.integers(1, 70)), d))
        refs = [rng.normal(size=(int(k), d)) for k in rng.integers(1, 70, 3)]
        if trial % 3 == 0:
            q, refs = np.round(q), [np.round(r) for r in refs]
        want = _path_stats(np.stack([one_row_path_kernel(_padded(q), _padded(r), band) for r in refs]))
        assert np.array_equal(dtw_path_to_many(q, refs, band), want)


def test_path_stats_of_an_unreachable_end_are_infinite():
    """Local costs that overflow leave (n, m) unreachable: the kernel walks no path back and
    every statistic is infinite, as the distance is; a finite pair beside it is unaffected."""
    q, far = np.full((5, 3), 1e200), np.full((4, 3), -1e200)
    got = dtw_path_to_many(q, [far, q], 0.2)
    assert np.isinf(got[0]).all() and got[1].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert np.array_equal(got[:, 0], dtw_to_many(q, [far, q], 0.2))


def weighted_reference(a, b, band, weight):
    """``path_reference``'s recurrence on local costs times ``weight`` per row of ``b``:
    the weighted cost over the path's length."""
    n, m = len(a), len(b)
    width = max(int(np.ceil(band * max(n, m))), 1) if band > 0 else max(n, m)
    cost, steps = np.full((n + 1, m + 1), np.inf), np.zeros((n + 1, m + 1))
    cost[0, 0] = 0
    for i in range(1, n + 1):
        centre = int(i * m / n)
        for j in range(max(1, centre - width), min(m, centre + width + 1) + 1):
            options = [(cost[i - 1, j - 1], steps[i - 1, j - 1]), (cost[i - 1, j], steps[i - 1, j]),
                       (cost[i, j - 1], steps[i, j - 1])]
            best = min(range(3), key=lambda k: options[k][0])
            cost[i, j] = options[best][0] + weight[j - 1] * np.linalg.norm(a[i - 1] - b[j - 1])
            steps[i, j] = options[best][1] + 1
    return cost[n, m] / steps[n, m]


@pytest.mark.parametrize("n, m, band", [(31, 24, 0.2), (24, 31, 0.1), (40, 40, 0.0)])
def test_row_weights_weigh_the_local_distances(n, m, band):
    rng = np.random.default_rng(n + m)
    a, refs = rng.normal(size=(n, 10)), [rng.normal(size=(m, 10)), rng.normal(size=(m + 3, 10))]
    weights = [0.5 + rng.integers(0, 5, len(r)) / 4 for r in refs]
    got = dtw_to_many(a, refs, band, weights)
    assert got == pytest.approx([weighted_reference(a, r, band, w) for r, w in zip(refs, weights)], rel=1e-9)
    path = dtw_path_to_many(a, refs, band, weights)
    assert np.array_equal(path[:, 0], got)
    # weights of one: the unweighted distances and path statistics, bit for bit
    ones = [np.ones(len(r)) for r in refs]
    assert np.array_equal(dtw_to_many(a, refs, band, ones), dtw_to_many(a, refs, band))
    assert np.array_equal(dtw_path_to_many(a, refs, band, ones), dtw_path_to_many(a, refs, band))


def test_row_weights_need_one_per_row():
    a, b = np.zeros((5, 2)), np.zeros((6, 2))
    with pytest.raises(InvalidInputError, match="one per row"):
        dtw_to_many(a, [b], 0.1, [np.ones(5)])
