"""Test images for the offline pipeline: signature ink, binary sheets, blank sheet photos.

Built from ``tests.offline.pens.scribble`` and ``edgesig.synth`` so every test knows
exactly where the ink is, with no data set.
"""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from edgesig.synth.render import RenderStyle, compose, ink_layer, paper_texture
from edgesig.synth.sheet_photo import SheetPhoto, SheetStyle, sheet_photo
from tests.offline.pens import scribble


def signature_alpha(seed: int, height: float = 60.0, width: float = 3.0) -> np.ndarray:
    """Ink coverage (float32 in [0, 1]) of a random signature, ``height`` px of ink tall, solid
    (no ballpoint skips, no pressure shading) so ground-truth ink is simply alpha > 0.5."""
    rng = np.random.default_rng(seed)
    style = RenderStyle(height_px=height, width_px=width, skips=0.0, pressure_darkness=0.0, margin_px=2)
    return ink_layer(scribble(rng), rng, style=style).alpha


def signature_mask(seed: int, height: float = 60.0, width: float = 3.0) -> np.ndarray:
    """Binary ink (uint8, 255 = ink) of a random signature, tightly cropped."""
    alpha = signature_alpha(seed, height, width)
    mask = np.where(alpha > 0.5, 255, 0).astype(np.uint8)
    ys, xs = np.nonzero(mask)
    return mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def signature_scan(seed: int, height: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """(gray uint8 image of the signature on textured paper, its ink mask alpha > 0.5)."""
    rng = np.random.default_rng(seed)
    style = RenderStyle(height_px=height, skips=0.0, pressure_darkness=0.0, margin_px=20, paper_grain=2.0,
                        paper_blotch=2.0, noise_sigma=2.0)
    alpha = ink_layer(scribble(rng), rng, style=style).alpha
    return compose(alpha, rng, style), alpha > 0.5


def paste(canvas: np.ndarray, piece: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    """OR ``piece`` into ``canvas`` at (x, y); returns its half-open box (x0, y0, x1, y1)."""
    h, w = piece.shape
    canvas[y:y + h, x:x + w] = np.maximum(canvas[y:y + h, x:x + w], piece)
    return x, y, x + w, y + h


def photo(seed: int, **style: object) -> SheetPhoto:
    """A synthetic kiosk photo of a signed form: ``SheetStyle.random`` with ``style`` overrides."""
    rng = np.random.default_rng(seed)
    pen = scribble(rng)
    base = SheetStyle.random(rng)
    return sheet_photo(pen, rng, style=replace(base, **style))


def random_photo(seed: int) -> SheetPhoto:
    """Exactly ``sheet_photo(scribble(rng), rng, style=SheetStyle.random(rng))`` for ``rng`` seeded ``seed``."""
    rng = np.random.default_rng(seed)
    pen = scribble(rng)
    return sheet_photo(pen, rng, style=SheetStyle.random(rng))


def blank_sheet_photo(seed: int, header: bool = True,
                      size: tuple[int, int] = (960, 1280)) -> tuple[np.ndarray, np.ndarray]:
    """(BGR photo, TL/TR/BR/BL corners) of an unsigned A6 form (888 x 630 px, a header in
    the size ``sheet_photo`` prints) lying rotated on a dark textured table."""
    rng = np.random.default_rng(seed)
    h, w = size
    sw, sh = 888, 630
    sheet = paper_texture(rng, (sh, sw), 238.0, 2.0, 2.0)
    if header:
        text = np.zeros(sheet.shape, np.uint8)
        cv2.putText(text, "Proof of delivery  No. 12345", (48, 60), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1, cv2.LINE_AA)
        sheet -= text.astype(np.float32) / 255.0 * (sheet - 50.0)
    angle = np.radians(rng.uniform(-20, 20))
    centre = np.array([w / 2, h / 2]) + rng.uniform(-40, 40, 2)
    half = np.array([[-sw, -sh], [sw, -sh], [sw, sh], [-sw, sh]], np.float64) / 2
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = (half @ rot.T + centre).astype(np.float32)
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32) - 0.5
    hom = cv2.getPerspectiveTransform(src, corners - 0.5)
    table = cv2.GaussianBlur(rng.normal(70, 25, (h, w)).astype(np.float32), (0, 0), 3)
    warped = cv2.warpPerspective(sheet, hom, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    cover = cv2.warpPerspective(np.ones((sh, sw), np.float32), hom, (w, h), flags=cv2.INTER_LINEAR)
    gray = warped * cover + table * (1 - cover) + rng.normal(0, 2.0, (h, w)).astype(np.float32)
    bgr = cv2.cvtColor(np.clip(gray, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    return bgr, corners
