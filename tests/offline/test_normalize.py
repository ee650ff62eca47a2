"""normalize: SDINet and cross-writer inputs have the right shape, type and polarity;
the gray normalisation follows g' = (g - E) * 10 / delta + 30 on the ink; the moment
rule centres the ink and scales its spread to 0.6 of the canvas; no ink is refused."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgesig.errors import ImageError
from edgesig.offline.clean import binarize_otsu
from edgesig.offline.locate import Box, ink_box
from edgesig.offline.normalize import (CROSSWRITER_SHAPE, SDINET_SHAPE, moment_normalize, normalize_crosswriter,
                                       normalize_sdinet)
from edgesig.offline.reasons import NO_SIGNATURE, reason_of
from tests.offline.images import signature_scan


def centroid_and_spread(img: np.ndarray) -> tuple[float, float, float, float]:
    """(cx, cy) in pixel-index coordinates and 2 sqrt(2) x the standard deviation along x and y."""
    m = cv2.moments(img.astype(np.float32))
    k = 2 * np.sqrt(2)
    return (m["m10"] / m["m00"], m["m01"] / m["m00"], k * np.sqrt(m["mu20"] / m["m00"]),
            k * np.sqrt(m["mu02"] / m["m00"]))


def two_inks() -> np.ndarray:
    """White paper with two solid blocks of ink, gray 40 and gray 80: E = 60, delta = 20."""
    img = np.full((120, 200), 255, np.uint8)
    img[30:90, 20:90] = 40
    img[30:90, 110:180] = 80
    return img


# --- SDINet -----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_sdinet_shape_type_polarity_and_aspect(seed: int) -> None:
    img, _ = signature_scan(seed)
    out = normalize_sdinet(img)
    assert out.shape == SDINET_SHAPE == (155, 220) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() == pytest.approx(1.0)  # solid ink = 1
    assert out[0, 0] == 0.0 and out[-1, -1] == 0.0                  # paper = 0
    src = ink_box(binarize_otsu(img))
    dst = ink_box(np.where(out > 0, 255, 0).astype(np.uint8))
    assert dst.width / dst.height == pytest.approx(src.width / src.height, rel=0.03)  # measured <= 0.7 %
    # Fitted to the canvas minus the 2 px margin along the limiting side, centred on the other.
    assert dst.width == 216 or dst.height == 151
    assert abs((dst.x0 + dst.x1) / 2 - 110) <= 1 and abs((dst.y0 + dst.y1) / 2 - 77.5) <= 1


def test_sdinet_ink_is_where_the_image_is_dark() -> None:
    img = np.full((155, 220), 240, np.uint8)
    img[50:100, 30:40] = 30  # a thick stem at the left, a bar at the right
    img[70:80, 150:200] = 30
    assert ink_box(binarize_otsu(img)) == Box(30, 50, 200, 100)
    out = normalize_sdinet(img)
    left, right = out[:, :110], out[:, 110:]
    assert left.sum() == pytest.approx(right.sum(), rel=0.05)  # stem and bar: equal areas, same order
    left_rows, right_rows = np.flatnonzero(left.sum(axis=1)), np.flatnonzero(right.sum(axis=1))
    assert left_rows.size > 4 * right_rows.size                # the stem is 5x taller than the bar
    assert left_rows[0] < right_rows[0] and right_rows[-1] < left_rows[-1]


def test_sdinet_box_limits_it_to_the_signature() -> None:
    img, _ = signature_scan(1)
    page = np.full((img.shape[0] + 100, img.shape[1] + 300), int(np.median(img)), np.uint8)
    page[50:50 + img.shape[0], 20:20 + img.shape[1]] = img
    page[60:120, -60:-20] = 10  # a stamp right of the signature
    box = Box(20, 50, 20 + img.shape[1], 50 + img.shape[0])
    np.testing.assert_array_equal(normalize_sdinet(page, box), normalize_sdinet(img))
    assert not np.array_equal(normalize_sdinet(page), normalize_sdinet(img))


# --- cross-writer -----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 2])
def test_crosswriter_shape_type_and_polarity(seed: int) -> None:
    img, _ = signature_scan(seed)
    out = normalize_crosswriter(img)
    assert out.shape == CROSSWRITER_SHAPE == (224, 224) and out.dtype == np.float32
    assert out[0, 0] == 0.0 and out.min() >= 0.0
    assert 0.8 < out.max() < 1.0  # ink darkness ~0.88 +- 0.04 after gray normalisation
    cx, cy, _, _ = centroid_and_spread(out)
    assert abs(cx - 111.5) < 1.0 and abs(cy - 111.5) < 1.0


def test_crosswriter_gray_levels_follow_the_formula_on_two_inks() -> None:
    out = normalize_crosswriter(two_inks())
    # g' = (g - 60) * 10 / 20 + 30: 40 -> 20, 80 -> 40; stored as (255 - g') / 255.
    dark, light = (255 - 20) / 255, (255 - 40) / 255
    assert out.max() == pytest.approx(dark, abs=1e-5)
    plateau = out[out > 0.05]
    assert np.isclose(plateau, dark, atol=1e-4).mean() > 0.4   # block interiors keep their exact levels
    assert np.isclose(plateau, light, atol=1e-4).mean() > 0.4


def test_crosswriter_gray_normalisation_matches_the_formula_pixel_by_pixel() -> None:
    rng = np.random.default_rng(0)
    img = np.full((90, 160), 250, np.uint8)
    ink = np.zeros(img.shape, bool)
    ink[20:70, 10:150] = rng.random((50, 140)) < 0.4
    img[ink] = rng.integers(15, 140, int(ink.sum())).astype(np.uint8)  # ink of varied darkness
    assert np.array_equal(binarize_otsu(img) > 0, ink)  # the ink the formula is computed over
    g = img[ink].astype(np.float64)
    expected = np.zeros(img.shape, np.float32)
    expected[ink] = (255 - np.clip((g - g.mean()) * 10 / g.std() + 30, 0, 255)) / 255
    np.testing.assert_allclose(normalize_crosswriter(img), moment_normalize(expected, CROSSWRITER_SHAPE), atol=1e-5)


def test_crosswriter_ignores_the_pen_and_the_exposure() -> None:
    """An affine change of the ink's gray levels (lighter pen, brighter exposure) changes nothing."""
    img = two_inks()
    lighter = img.copy()
    lighter[img < 255] = (img[img < 255] * 0.5 + 100).astype(np.uint8)  # 40 -> 120, 80 -> 140
    np.testing.assert_allclose(normalize_crosswriter(lighter), normalize_crosswriter(img), atol=1e-5)


# --- moment_normalize -------------------------------------------------------------------------

def block(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    img = np.zeros(shape, np.float32)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = 1.0
    return img


@pytest.mark.parametrize("shape, box", [
    ((300, 400), (50, 100, 250, 160)),   # wide and big: shrunk (alpha < 1)
    ((100, 120), (40, 50, 60, 70)),      # small square: enlarged (alpha > 1)
    ((500, 600), (100, 50, 180, 450)),   # tall, off centre
    ((60, 80), (10, 20, 70, 30)),        # wide and small
])
@pytest.mark.parametrize("canvas", [CROSSWRITER_SHAPE, SDINET_SHAPE])
def test_moment_normalize_centres_and_scales_by_the_alpha_rule(shape, box, canvas) -> None:
    src = block(shape, box)
    out = moment_normalize(src, canvas)
    assert out.shape == canvas and out.dtype == np.float32
    cx, cy, sx, sy = centroid_and_spread(out)
    out_h, out_w = canvas
    assert abs(cx - (out_w / 2 - 0.5)) < 1.0 and abs(cy - (out_h / 2 - 0.5)) < 1.0
    # alpha = 0.6 min(H sqrt(mu00) / (2 sqrt(2 mu02)), W sqrt(mu00) / (2 sqrt(2 mu20))): the ink's
    # 2 sqrt(2) sigma spread fills 0.6 of the canvas along the tighter axis (measured within 0.3 %).
    assert max(sx / out_w, sy / out_h) == pytest.approx(0.6, rel=0.01)
    _, _, sx0, sy0 = centroid_and_spread(src)
    assert sx / sy == pytest.approx(sx0 / sy0, rel=0.02)  # one scale for both axes: aspect kept


def test_moment_normalize_factor_and_a_gaussian_blob() -> None:
    yy, xx = np.mgrid[0:300, 0:400].astype(np.float32)
    blob = np.exp(-0.5 * (((xx - 120) / 40) ** 2 + ((yy - 200) / 15) ** 2)).astype(np.float32)
    out = moment_normalize(blob, CROSSWRITER_SHAPE, factor=0.3)  # small enough that no tail is cut
    cx, cy, sx, sy = centroid_and_spread(out)
    assert abs(cx - 111.5) < 1.0 and abs(cy - 111.5) < 1.0
    assert sx / 224 == pytest.approx(0.3, rel=0.01)
    assert sy / sx == pytest.approx(15 / 40, rel=0.02)


# --- no ink -----------------------------------------------------------------------------------

def test_empty_input_has_no_signature() -> None:
    blank = np.full((120, 200), 235, np.uint8)
    noisy = np.clip(blank + np.random.default_rng(0).normal(0, 3, blank.shape), 0, 255).astype(np.uint8)
    for fn in (normalize_sdinet, normalize_crosswriter):
        for img in (blank, noisy):
            with pytest.raises(ImageError) as info:
                fn(img)
            assert reason_of(info.value) == NO_SIGNATURE
    with pytest.raises(ImageError) as info:
        moment_normalize(np.zeros((50, 50), np.float32), CROSSWRITER_SHAPE)
    assert reason_of(info.value) == NO_SIGNATURE


def test_box_over_blank_paper_has_no_signature() -> None:
    img = two_inks()
    for fn in (normalize_sdinet, normalize_crosswriter):
        with pytest.raises(ImageError) as info:
            fn(img, Box(0, 0, 200, 25))
        assert reason_of(info.value) == NO_SIGNATURE
