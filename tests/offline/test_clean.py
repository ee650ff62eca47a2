"""clean: the exposure check refuses black frames, even_out_light flattens a light
gradient, and the binarisations find rendered ink and nothing on blank noisy paper."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgesig.errors import ImageError
from edgesig.offline.clean import (DARK_LEVEL, PAPER_LEVEL, binarize_otsu, check_exposure, even_out_light,
                                   ink_mask, line_evidence)
from edgesig.offline.reasons import TOO_DARK, reason_of
from edgesig.synth.render import paper_texture
from tests.offline.images import signature_alpha, signature_scan


def blank_paper(seed: int, shape: tuple[int, int] = (300, 400), noise: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    paper = paper_texture(rng, shape, 235.0, 3.0, 4.0) + rng.normal(0, noise, shape).astype(np.float32)
    return np.clip(paper, 0, 255).astype(np.uint8)


def lit_unevenly(seed: int, shape: tuple[int, int] = (400, 600)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gray image, ink coverage, paper mask): a signature on paper lit from 100 % down to 36 %."""
    h, w = shape
    rng = np.random.default_rng(seed)
    paper = paper_texture(rng, shape, 235.0, 2.0, 2.0)
    alpha = signature_alpha(seed, height=80.0)[:, :500]
    cover = np.zeros(shape, np.float32)
    cover[150:150 + alpha.shape[0], 50:50 + alpha.shape[1]] = alpha
    img = paper - cover * (paper - 40.0)
    light = np.linspace(0.45, 1.0, w, dtype=np.float32)[None, :] * np.linspace(1.0, 0.8, h, dtype=np.float32)[:, None]
    paper_only = cv2.dilate((cover > 0.02).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    return np.clip(img * light, 0, 255).astype(np.uint8), cover, paper_only


# --- check_exposure ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(100, 100), (800, 1000)])  # small, and large (subsampled) images
def test_black_image_is_too_dark(shape: tuple[int, int]) -> None:
    with pytest.raises(ImageError) as info:
        check_exposure(np.zeros(shape, np.uint8))
    assert reason_of(info.value) == TOO_DARK
    assert "gray level 0" in str(info.value) and "light" in str(info.value)


def test_dim_image_below_the_dark_level_is_too_dark() -> None:
    rng = np.random.default_rng(0)
    dim = rng.integers(0, DARK_LEVEL - 5, (200, 200)).astype(np.uint8)
    with pytest.raises(ImageError):
        check_exposure(dim)


def test_a_few_bright_pixels_do_not_save_a_black_frame() -> None:
    img = np.zeros((200, 200), np.uint8)
    img[:10, :10] = 255  # 0.25 % of the pixels: a reflection, below the 99th percentile
    with pytest.raises(ImageError):
        check_exposure(img)


def test_normal_and_dark_but_readable_images_pass() -> None:
    check_exposure(blank_paper(0))
    check_exposure(np.full((200, 200), DARK_LEVEL + 10, np.uint8))  # dim but readable


# --- even_out_light ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_even_out_light_flattens_a_strong_gradient(seed: int) -> None:
    img, cover, paper = lit_unevenly(seed)
    even = even_out_light(img)
    assert even.dtype == np.uint8 and even.shape == img.shape
    before, after = float(img[paper].std()), float(even[paper].std())
    assert before > 25.0  # the gradient dominates the raw paper
    assert after < 4.0 and after < before / 8  # measured: ~35.7 -> ~2.2
    assert abs(float(np.median(even[paper])) - PAPER_LEVEL) <= 2
    ink = cover > 0.5
    # Ink stays far darker than the paper, on the dark side of the gradient too.
    assert float(np.median(even[paper])) - float(np.percentile(even[ink], 90)) > 100


def test_even_light_turns_an_unusable_threshold_into_a_clean_one() -> None:
    img, cover, paper = lit_unevenly(0)
    raw = binarize_otsu(img) > 0
    assert (raw & paper).sum() > 10_000  # the dark side of the raw paper reads as ink
    even = even_out_light(img)
    for mask in (binarize_otsu(even) > 0, ink_mask(even) > 0):
        assert (mask & paper).sum() == 0
        ink = cover > 0.5
        assert (mask & ink).sum() / ink.sum() > 0.98


def test_even_out_light_keeps_a_uniform_page_uniform() -> None:
    flat = np.full((240, 320), 180, np.uint8)
    even = even_out_light(flat)
    assert np.all(np.abs(even.astype(int) - PAPER_LEVEL) <= 1)


# --- binarisation -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binarize_otsu_finds_the_rendered_ink(seed: int) -> None:
    img, ink = signature_scan(seed)
    found = binarize_otsu(img) > 0
    assert found.dtype == bool and found.shape == ink.shape
    assert (found & ink).sum() / ink.sum() > 0.98           # measured 1.0
    assert (found & ink).sum() / found.sum() > 0.9          # the rest is anti-aliased stroke edge (~0.96)
    near_ink = cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert np.all(near_ink[found])                          # nothing out on the paper


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ink_mask_finds_the_rendered_ink_and_nothing_else(seed: int) -> None:
    img, ink = signature_scan(seed)
    found = ink_mask(img) > 0
    assert (found & ink).sum() / ink.sum() > 0.98
    near_ink = cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert np.all(near_ink[found])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_blank_noisy_paper_has_no_ink(seed: int) -> None:
    paper = blank_paper(seed)
    assert binarize_otsu(paper).max() == 0
    assert ink_mask(paper).max() == 0
    assert binarize_otsu(even_out_light(paper)).max() == 0
    assert ink_mask(even_out_light(paper)).max() == 0


def test_ink_mask_finds_a_light_signature_next_to_dark_print() -> None:
    """A whole sheet: black print and a light ballpoint; the light ink must not be lost."""
    img = np.full((300, 500), 235, np.uint8)
    img[20:40, 20:300] = 20                     # a dark printed block
    alpha = signature_alpha(3, height=60.0)[:, :400]
    ink = np.zeros(img.shape, bool)
    ink[150:150 + alpha.shape[0], 50:50 + alpha.shape[1]] = alpha > 0.5
    cover = np.zeros(img.shape, np.float32)
    cover[150:150 + alpha.shape[0], 50:50 + alpha.shape[1]] = alpha
    img = np.clip(img - cover * (235 - 160), 0, 255).astype(np.uint8)  # ink at gray 160
    rng = np.random.default_rng(0)
    img = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    found = ink_mask(img) > 0
    assert (found & ink).sum() / ink.sum() > 0.95
    assert found[20:40, 20:300].all()


def test_binary_convention_is_uint8_255_for_ink() -> None:
    img, _ = signature_scan(0)
    for mask in (binarize_otsu(img), ink_mask(img), line_evidence(img)):
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}


def test_line_evidence_is_more_permissive_than_ink_mask() -> None:
    img, _ = signature_scan(1)
    strict, loose = ink_mask(img) > 0, line_evidence(img) > 0
    assert np.all(loose[strict]) and loose.sum() > strict.sum()
    faint = np.full((100, 300), 235, np.uint8)
    faint[50, 20:280] = 213  # a faint printed line, 22 levels below the paper
    assert ink_mask(faint).max() == 0 and (line_evidence(faint)[50, 20:280] > 0).all()


def test_min_contrast_above_the_paper_level_gives_an_empty_mask() -> None:
    img, _ = signature_scan(0)
    assert ink_mask(img, min_contrast=300).max() == 0
    assert binarize_otsu(img, min_contrast=300).max() == 0
