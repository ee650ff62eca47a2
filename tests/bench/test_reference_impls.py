"""The reference implementations compute exactly what the numba kernels compute, so the
speed ratios compare equal work."""
from __future__ import annotations

import numpy as np
import pytest

from edgesig.bench import reference_impls as ref
from edgesig.features.dtw import dtw
from edgesig.features.lnps import lnps


@pytest.mark.parametrize("n,m,band", [(40, 60, 0.1), (80, 80, 0.0), (120, 70, 0.2), (7, 3, 0.5), (1, 5, 0.1)])
def test_numpy_dtw_matches_numba(n, m, band):
    rng = np.random.default_rng(n * 31 + m)
    a, b = rng.normal(size=(n, 4)), rng.normal(size=(m, 4))
    assert ref.dtw_numpy(a, b, band) == pytest.approx(dtw(a, b, band), rel=1e-9)


def _path(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    path = np.cumsum(rng.normal(size=(n, 2)), axis=0)
    path[10:13] = path[10]  # a stationary stretch: zero-length windows must give zeros
    return path


@pytest.mark.parametrize("window,level", [(9, 2), (5, 3), (3, 1)])
def test_iisignature_lnps_matches_numba(window, level):
    pytest.importorskip("iisignature")
    path = _path(60)
    expected = lnps(path, window, level, normalize=False)
    np.testing.assert_allclose(ref.lnps_iisignature_batched(path, window, level), expected, atol=1e-10)
    np.testing.assert_allclose(ref.lnps_iisignature_per_window(path, window, level), expected, atol=1e-10)


def test_windows_are_padded_with_the_end_point_and_scaled_by_arc_length():
    path = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 4.0], [6.0, 8.0]])
    win = ref.windows(path, 3)
    assert win.shape == (4, 3, 2)
    # first window: end point repeated, arc length 5 -> coordinates divided by 5
    np.testing.assert_allclose(win[0], np.array([[0, 0], [0, 0], [3, 4]]) / 5.0)
    # window around a zero-length step still has length 5 (from the neighbour)
    np.testing.assert_allclose(win[2], np.array([[3, 4], [3, 4], [6, 8]]) / 5.0)
