"""Turn a located signature into the fixed-size array a model expects.

Two conventions from the literature, each matching the network trained with it:

* SDINet (AAAI 2021) follows SigNet: a binarised signature, inverted, on a 155 x 220
  canvas. We crop to the ink, keep the aspect ratio (stretching distorts the stroke
  details SDINet is built to compare) and centre it with zero padding.
* The cross-writer paper normalises gray levels and size by moments, so that pen,
  scanner and signature size stop mattering: ink gray levels g become
  g' = (g - E) * 10 / delta + 30 (E, delta: mean and standard deviation over the ink
  pixels only; paper is set to white), then the image is scaled by
  alpha = 0.6 * min(H sqrt(mu00) / (2 sqrt(2 mu02)), W sqrt(mu00) / (2 sqrt(2 mu20)))
  about the ink's centroid, which lands on the centre of the 224 x 224 canvas.

Both return float32 with ink bright and paper 0 (value = ink darkness, 1 = black), so
zero padding is blank paper and the arrays feed a network without further scaling.
"""
from __future__ import annotations

import cv2
import numpy as np

from edgesig.offline.clean import binarize_otsu
from edgesig.offline.locate import Box, ink_box
from edgesig.offline.reasons import NO_SIGNATURE, image_error

SDINET_SHAPE = (155, 220)
CROSSWRITER_SHAPE = (224, 224)


def normalize_sdinet(gray: np.ndarray, box: Box | None = None, *, margin: int = 2) -> np.ndarray:
    """SDINet input: float32 (155, 220), ink = 1, paper = 0.

    ``gray`` has dark ink on light paper; ``box`` limits it to the signature (default:
    the box of all ink). The crop is binarised by Otsu, fitted into the canvas minus
    ``margin`` pixels with its aspect ratio kept (area resampling, so edges are
    fractional), and centred.
    """
    crop = gray[box.slices] if box is not None else gray
    ink = binarize_otsu(crop)
    tight = ink_box(ink)
    if tight is None:
        raise image_error(NO_SIGNATURE, "the signature area holds no ink")
    return _fit(ink[tight.slices], SDINET_SHAPE, margin)


def normalize_crosswriter(gray: np.ndarray, box: Box | None = None) -> np.ndarray:
    """Cross-writer input: float32 (224, 224), gray- and moment-normalised, ink bright.

    Ink pixels (Otsu) get g' = (g - E) * 10 / delta + 30 with E, delta over the ink
    pixels, paper 255; the stored value is (255 - g') / 255, so ink is about 0.88
    +- 0.04 and paper 0. Parts of long flourishes that the moment scaling pushes
    past the canvas edge are cut, as in the paper.
    """
    crop = gray[box.slices] if box is not None else gray
    ink = binarize_otsu(crop)
    mask = ink > 0
    if np.count_nonzero(mask) < 2:
        raise image_error(NO_SIGNATURE, "the signature area holds no ink")
    levels = crop[mask].astype(np.float32)
    mean, std = float(levels.mean()), float(levels.std())
    darkness = np.zeros(crop.shape, np.float32)
    normalized = (levels - mean) * (10.0 / max(std, 1e-3)) + 30.0
    darkness[mask] = (255.0 - np.clip(normalized, 0.0, 255.0)) / 255.0
    return moment_normalize(darkness, CROSSWRITER_SHAPE)


def moment_normalize(weights: np.ndarray, shape: tuple[int, int], factor: float = 0.6) -> np.ndarray:
    """Scale ``weights`` (float32, ink > 0) by the moment rule and centre its centroid.

    alpha = factor * min(H sqrt(mu00) / (2 sqrt(2 mu02)), W sqrt(mu00) / (2 sqrt(2 mu20)))
    with (H, W) = ``shape``: the ink's spread of 2 sqrt(2) standard deviations fills
    ``factor`` of the canvas along the tighter axis.
    """
    out_h, out_w = shape
    m = cv2.moments(weights)
    mu00 = m["m00"]
    if mu00 <= 0:
        raise image_error(NO_SIGNATURE, "the signature area holds no ink")
    cx, cy = m["m10"] / mu00, m["m01"] / mu00
    mu20, mu02 = max(m["mu20"], 1e-6), max(m["mu02"], 1e-6)
    alpha = factor * min(out_h * np.sqrt(mu00) / (2 * np.sqrt(2 * mu02)),
                         out_w * np.sqrt(mu00) / (2 * np.sqrt(2 * mu20)))
    # Continuous coordinates (pixel i spans [i, i + 1]): the centroid goes to the canvas centre.
    src = weights
    if alpha < 1.0:  # shrink by area averaging first: bilinear warping would drop thin strokes
        h, w = weights.shape
        new_w, new_h = max(int(round(w * alpha)), 1), max(int(round(h * alpha)), 1)
        src = cv2.resize(weights, (new_w, new_h), interpolation=cv2.INTER_AREA)
        sx, sy = new_w / w, new_h / h
        mat = np.array([[1.0, 0.0, out_w / 2 - (cx + 0.5) * sx], [0.0, 1.0, out_h / 2 - (cy + 0.5) * sy]])
    else:
        mat = np.array([[alpha, 0.0, out_w / 2 - 0.5 - alpha * cx], [0.0, alpha, out_h / 2 - 0.5 - alpha * cy]])
    return cv2.warpAffine(src, mat, (out_w, out_h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _fit(ink: np.ndarray, shape: tuple[int, int], margin: int) -> np.ndarray:
    """Binary ink (255) scaled to fit ``shape`` minus ``margin``, centred, as float32 in [0, 1]."""
    out_h, out_w = shape
    h, w = ink.shape
    scale = min((out_h - 2 * margin) / h, (out_w - 2 * margin) / w)
    new_w, new_h = max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(ink, (new_w, new_h), interpolation=interp).astype(np.float32) * np.float32(1 / 255)
    out = np.zeros(shape, np.float32)
    y0, x0 = (out_h - new_h) // 2, (out_w - new_w) // 2
    out[y0:y0 + new_h, x0:x0 + new_w] = small
    return out
