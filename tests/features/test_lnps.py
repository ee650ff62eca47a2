import numpy as np
import pytest

from edgesig.errors import InvalidInputError
from edgesig.features.lnps import lnps, lnps_raw, path_signature, signature_dim

iisignature = pytest.importorskip("iisignature")


@pytest.mark.parametrize("level", [1, 2, 3, 4])
@pytest.mark.parametrize("d", [2, 3])
def test_window_signature_matches_iisignature(level, d):
    rng = np.random.default_rng(level * 10 + d)
    path = rng.normal(size=(40, d)).cumsum(axis=0)
    window = 9
    feats = lnps_raw(path, window, level)
    assert feats.shape == (40, signature_dim(d, level))
    for i in (0, 3, 20, 39):  # clipped windows at both ends and an inner one
        seg = path[max(0, i - 4): min(40, i + 5)]
        length = np.linalg.norm(np.diff(seg, axis=0), axis=1).sum()
        np.testing.assert_allclose(feats[i], iisignature.sig(seg / length, level), atol=1e-9, rtol=0)


def test_full_path_signature_matches_iisignature():
    path = np.random.default_rng(3).normal(size=(30, 2)).cumsum(axis=0)
    np.testing.assert_allclose(path_signature(path, 4), iisignature.sig(path, 4), atol=1e-9)


def test_lnps_is_scale_invariant_and_zscored():
    path = np.random.default_rng(5).normal(size=(100, 2)).cumsum(axis=0)
    a, b = lnps(path, 9, 3), lnps(path * 37.0 + 5.0, 9, 3)
    np.testing.assert_allclose(a, b, atol=1e-9)
    np.testing.assert_allclose(a.mean(axis=0), 0, atol=1e-9)


def test_zero_length_window_gives_zeros():
    path = np.zeros((20, 2))
    assert np.all(lnps_raw(path, 5, 2) == 0)


@pytest.mark.parametrize("kwargs", [dict(window=4), dict(window=1), dict(level=0), dict(level=9)])
def test_bad_parameters(kwargs):
    with pytest.raises(InvalidInputError):
        lnps(np.random.rand(20, 2), **{"window": 9, "level": 2, **kwargs})


def test_bad_path():
    with pytest.raises(InvalidInputError):
        lnps(np.full((20, 2), np.nan))
    with pytest.raises(InvalidInputError):
        lnps(np.zeros(20))


def test_level2_prefix_path_is_precise_on_long_paths_in_device_units():
    """Level 2 uses prefix signatures; on 1000 samples in tablet units it still matches
    the window-by-window computation."""
    path = np.random.default_rng(7).normal(0, 30, size=(1000, 2)).cumsum(axis=0) + 20_000
    fast = lnps_raw(path, 9, 2)
    for i in (0, 4, 500, 995, 999):
        seg = path[max(0, i - 4): min(1000, i + 5)]
        length = np.linalg.norm(np.diff(seg, axis=0), axis=1).sum()
        np.testing.assert_allclose(fast[i], path_signature(seg / length, 2), atol=1e-9, rtol=0)
