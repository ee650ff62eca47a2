"""Clean the unwarped sheet: exposure check, even lighting, binarisation.

Kiosk photos have shadows and a light falloff across the sheet, so a single global
threshold would cut the dark side's paper into "ink". Dividing by an estimate of the
blank paper's brightness makes the paper one uniform level first; ink is then whatever
is clearly darker than that level, judged against the paper's own noise.

Convention: gray images have dark ink on light paper; binary images are uint8 with
ink = 255 and paper = 0 (what cv2's contour and component functions expect).
"""
from __future__ import annotations

import cv2
import numpy as np

from edgesig.offline.reasons import TOO_DARK, image_error

#: An image whose 99th-percentile gray level is below this is too dark to read.
DARK_LEVEL = 45
#: Ink must be at least this many gray levels darker than the paper (after evening).
MIN_INK_CONTRAST = 30
#: Gray level of blank paper after :func:`even_out_light`.
PAPER_LEVEL = 235


def check_exposure(gray: np.ndarray) -> None:
    """Raise ImageError "image too dark" when even the brightest pixels are nearly black."""
    hist = histogram(gray)
    bright = int(np.searchsorted(np.cumsum(hist), 0.99 * hist.sum()))
    if bright < DARK_LEVEL:
        raise image_error(TOO_DARK, f"the brightest pixels reach only gray level {bright} of 255; "
                                    "turn on the kiosk light or check the camera shutter")


def histogram(gray: np.ndarray) -> np.ndarray:
    """The 256-bin gray-level histogram, of every 4th pixel each way on a large image:
    the exposure check, the paper level and the capture signal read percentiles off it,
    which a subsample gives to within a level at a sixteenth of the cost."""
    small = gray[::4, ::4] if gray.size > 250_000 else gray
    return cv2.calcHist([small], [0], None, [256], [0, 256]).ravel()


def even_out_light(gray: np.ndarray, *, ink_width: float | None = None) -> np.ndarray:
    """Divide ``gray`` by its blank-paper brightness so the paper becomes one level, ``PAPER_LEVEL``.

    The paper brightness is estimated on a 1/4 thumbnail by a grey closing (a max
    filter wider than any stroke, so ink vanishes, then a min filter of the same size to
    keep the estimate from bleeding), smoothed and scaled back up. ``ink_width`` is the
    widest stroke to remove, in pixels (default: 2 % of the image's short side). The
    paper lands at ``PAPER_LEVEL``, not 255, so its noise is not clipped away: the
    binarisation measures that noise to set its threshold.
    """
    h, w = gray.shape
    width = ink_width if ink_width is not None else 0.02 * min(h, w)
    f = 4
    small = cv2.resize(gray, (max(w // f, 1), max(h // f, 1)), interpolation=cv2.INTER_AREA)
    k = int(max(3, 2 * round(width / f) + 1))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    background = cv2.blur(background, (k, k))
    background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.divide(gray, cv2.max(background, 1), scale=PAPER_LEVEL)


def binarize_otsu(gray: np.ndarray, *, min_contrast: float = MIN_INK_CONTRAST) -> np.ndarray:
    """Ink mask (255 = ink) by Otsu's threshold, never closer than ``min_contrast`` to the paper.

    Otsu always splits a histogram in two, even a blank sheet's noise; requiring ink to
    be ``min_contrast`` gray levels darker than the paper (the median, since ink covers
    less than half of the image) leaves a blank sheet blank. Right for a signature
    crop, where ink is a good share of the pixels; on a whole sheet use :func:`ink_mask`.
    """
    otsu, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    paper, _ = _paper_level(gray)
    return _below(gray, min(otsu, paper - min_contrast))


def ink_mask(gray: np.ndarray, *, min_contrast: float = MIN_INK_CONTRAST, noise_factor: float = 5.0) -> np.ndarray:
    """Ink mask (255 = ink): pixels darker than the paper by more than the paper's noise.

    On a whole sheet ink is a few percent of the pixels and often several inks at once
    (dark print, a light ballpoint); Otsu then splits dark from light ink and loses the
    light signature. After :func:`even_out_light` the paper is one level, so "darker
    than paper by ``min_contrast`` or ``noise_factor`` noise deviations" finds all ink.
    """
    paper, noise = _paper_level(gray)
    return _below(gray, paper - max(min_contrast, noise_factor * noise))


def line_evidence(gray: np.ndarray) -> np.ndarray:
    """A permissive ink mask for finding faint printed lines (not for the signature).

    Darker than the paper by 2.5 noise deviations or 15 levels: noisy, but the specks
    never line up into the long runs :func:`remove_lines` looks for.
    """
    return ink_mask(gray, min_contrast=15, noise_factor=2.5)


def _paper_level(gray: np.ndarray) -> tuple[int, float]:
    """Median gray level (the paper: ink covers less than half) and the noise around it.

    The noise is the median absolute deviation scaled to a standard deviation, both
    read off a 256-bin histogram of a subsample, so this costs a fraction of a ms.
    """
    hist = histogram(gray)
    half = 0.5 * hist.sum()
    median = int(np.searchsorted(np.cumsum(hist), half))
    deviation = np.zeros(256)
    np.add.at(deviation, np.abs(np.arange(256) - median), hist)
    mad = int(np.searchsorted(np.cumsum(deviation), half))
    return median, 1.4826 * mad


def _below(gray: np.ndarray, threshold: float) -> np.ndarray:
    """255 where ``gray`` <= ``threshold`` (all zeros for a negative threshold)."""
    if threshold < 0:
        return np.zeros_like(gray)
    _, binary = cv2.threshold(gray, threshold, 255, cv2.THRESH_BINARY_INV)
    return binary
