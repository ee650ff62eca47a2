"""Synthetic kiosk snapshots: a signed form lying on a table, photographed at an angle.

The offline pipeline (``edgesig.offline``) must find the sheet, unwarp it, survive
shadows and uneven light, ignore printed lines and text, and box the signature. To
test that end to end we need photos whose true signature box is known exactly, so we
make them: a signature (a PenStream drawn by ``render``, or a given image) is laid on a
canonical A6/A5 form with a printed header and optionally a signature line, ruled
lines or a printed box; the form is tilted in 3-D and projected by a pinhole camera
onto a wood, cloth or desk background, lit unevenly with a soft shadow, then blurred,
noised and JPEG-compressed like a cheap camera would.

Coordinates: ``SheetPhoto.box`` is the signature's ink box in normalised sheet
coordinates, (x0, y0, x1, y1) in [0, 1] with (0, 0) the sheet's top-left corner and
(1, 1) its bottom-right one, continuous (pixel i spans [i, i + 1] before dividing by
the sheet size). ``edgesig.offline`` boxes divided by the unwarped sheet's size are in
the same coordinates whatever size the sheet was unwarped to, so IoU compares fairly.
The ink box holds the pixels where ink covers at least 30 % of the paper once blurred
by one pixel (see ``visible_ink_box``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np

from edgesig.errors import InvalidInputError
from edgesig.pen import PenStream
from edgesig.synth.render import RenderStyle, ink_layer, jpeg, light_field, paper_texture

Rules = Literal["none", "line", "lines", "box"]
Background = Literal["wood", "cloth", "desk"]

SHEETS_MM = {"A6": (148.0, 105.0), "A5": (210.0, 148.0)}
#: Ink colours (BGR, 0..255): blue ballpoint, black, dark-blue gel.
INK_COLOURS = ((150.0, 70.0, 35.0), (40.0, 38.0, 36.0), (115.0, 45.0, 25.0))
#: Ink coverage (after a 1 px blur) from which ink counts as visible, see visible_ink_box.
VISIBLE_COVERAGE = 0.3
CAPTIONS = ("Signature", "Sign here", "Customer signature", "Signature of recipient")
HEADERS = ("Proof of delivery  No. {n}", "Customer receipt  #{n}", "Parcel pickup - ref {n}",
           "Account opening form {n}", "I confirm receipt of order {n}")


@dataclass(frozen=True)
class SheetStyle:
    """Every knob of the sheet photo; ``SheetStyle.random`` draws plausible ones."""

    sheet: str = "A6"
    px_per_mm: float = 6.0
    rules: Rules = "line"
    header: bool = True
    caption: bool = False            # a printed caption ("Signature") under the line, box or signature
    signature_height: float = 0.17   # signature ink height, fraction of the sheet height
    roll_deg: float = 0.0            # rotation in the image plane
    tilt_deg: float = 0.0            # tilt of the sheet away from the camera
    tilt_axis_deg: float = 0.0       # direction of the tilt axis in the sheet plane
    fill: float = 0.65               # sheet extent, fraction of the photo
    background: Background = "wood"
    light_gradient: float = 0.25
    shadow: float = 0.0              # darkening inside the shadow (0..1)
    noise_sigma: float = 3.0
    blur_sigma: float = 0.8
    jpeg_quality: int = 85
    photo_size: tuple[int, int] = (960, 1280)  # (height, width)

    def __post_init__(self) -> None:
        if self.sheet not in SHEETS_MM:
            raise InvalidInputError(f"unknown sheet {self.sheet!r}; use one of {', '.join(SHEETS_MM)}")
        if self.rules not in ("none", "line", "lines", "box"):
            raise InvalidInputError(f"rules must be 'none', 'line', 'lines' or 'box', got {self.rules!r}")
        if self.background not in ("wood", "cloth", "desk"):
            raise InvalidInputError(f"background must be 'wood', 'cloth' or 'desk', got {self.background!r}")
        if not 0.2 <= self.fill <= 0.95:
            raise InvalidInputError(f"fill must be in [0.2, 0.95], got {self.fill}")

    @classmethod
    def random(cls, rng: np.random.Generator, max_angle: float = 30.0) -> "SheetStyle":
        """Random form layout, pose (roll and tilt each up to ``max_angle`` degrees) and light."""
        return cls(sheet="A6" if rng.random() < 0.7 else "A5",
                   rules=("none", "line", "lines", "box")[int(rng.choice(4, p=[0.25, 0.4, 0.15, 0.2]))],
                   header=bool(rng.random() < 0.85), signature_height=float(rng.uniform(0.12, 0.22)),
                   roll_deg=float(rng.uniform(-max_angle, max_angle)), tilt_deg=float(rng.uniform(0, max_angle)),
                   tilt_axis_deg=float(rng.uniform(0, 360)), fill=float(rng.uniform(0.5, 0.85)),
                   background=("wood", "cloth", "desk")[int(rng.integers(3))],
                   light_gradient=float(rng.uniform(0.1, 0.5)),
                   shadow=float(rng.uniform(0.2, 0.5)) if rng.random() < 0.6 else 0.0,
                   noise_sigma=float(rng.uniform(1.5, 6.0)), blur_sigma=float(rng.uniform(0.4, 1.4)),
                   jpeg_quality=int(rng.integers(60, 93)))


@dataclass(frozen=True)
class SheetPhoto:
    """A synthetic snapshot and its ground truth.

    ``photo``: BGR uint8; ``box``: the signature's ink box in normalised sheet
    coordinates (see the module docstring); ``corners``: the sheet's TL, TR, BR, BL
    corners in the photo (continuous pixel coordinates, float32 (4, 2)); ``sheet``:
    the flat form before it was photographed (BGR uint8), whose pixel size gives
    ``box`` in pixels as ``box * (width, height)``.
    """

    photo: np.ndarray
    box: tuple[float, float, float, float]
    corners: np.ndarray
    sheet: np.ndarray


def sheet_photo(signature: PenStream | np.ndarray, rng: np.random.Generator, *,
                style: SheetStyle | None = None, pen_style: RenderStyle | None = None) -> SheetPhoto:
    """Photograph ``signature`` (a PenStream, or a gray image of dark ink on light paper) on a form.

    ``style`` defaults to ``SheetStyle.random(rng)``; ``pen_style`` (PenStream only) to a
    random clean pen.
    """
    style = style or SheetStyle.random(rng)
    w_mm, h_mm = SHEETS_MM[style.sheet]
    sheet_w, sheet_h = int(round(w_mm * style.px_per_mm)), int(round(h_mm * style.px_per_mm))
    alpha = _signature_alpha(signature, rng, style, sheet_w, sheet_h, pen_style)
    sheet, box_px = _form(alpha, rng, style, sheet_w, sheet_h)
    corners = _pose(rng, style, sheet_w, sheet_h)
    photo = _photograph(sheet, corners, rng, style)
    x0, y0, x1, y1 = box_px
    box = (x0 / sheet_w, y0 / sheet_h, x1 / sheet_w, y1 / sheet_h)
    return SheetPhoto(photo=photo, box=box, corners=corners, sheet=np.clip(sheet, 0, 255).astype(np.uint8))


def _signature_alpha(signature: PenStream | np.ndarray, rng: np.random.Generator, style: SheetStyle,
                     sheet_w: int, sheet_h: int, pen_style: RenderStyle | None) -> np.ndarray:
    """Ink coverage of the signature at its physical size on this sheet, tightly cropped."""
    height = style.signature_height * sheet_h
    max_w = sheet_w - int(14 * style.px_per_mm)
    if isinstance(signature, PenStream):
        pen = pen_style or RenderStyle.random(rng, "clean")
        # Pen widths are in pixels at 6 px/mm (a 0.3-0.6 mm ballpoint is 2-3.6 px).
        pen = replace(pen, height_px=height, width_px=pen.width_px * style.px_per_mm / 6.0, margin_px=2)
        alpha = ink_layer(signature, rng, style=pen, size=None).alpha
        if alpha.shape[1] > max_w:  # a long signature: write it smaller
            pen = replace(pen, height_px=height * max_w / alpha.shape[1])
            alpha = ink_layer(signature, rng, style=pen, size=None).alpha
        return alpha
    if not isinstance(signature, np.ndarray) or signature.ndim != 2 or signature.dtype != np.uint8:
        raise InvalidInputError("the signature must be a PenStream or a uint8 gray image")
    img = signature.astype(np.float32)
    paper, ink = float(np.median(img)), float(np.percentile(img, 0.5))
    if paper - ink < 20:
        raise InvalidInputError("the signature image has no visible ink")
    alpha = np.clip((paper - img) / (paper - ink), 0, 1)
    h, w = alpha.shape
    f = min(1.6 * height / h, max_w / w)
    size = (max(int(w * f), 1), max(int(h * f), 1))
    return cv2.resize(alpha, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)


def visible_ink_box(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """Half-open pixel box of the ink a camera sees: coverage >= 0.3 after a 1 px blur.

    The blur (a 0.17 mm optical spot at 6 px/mm) drops hairlines much thinner than a
    pixel; 0.3 coverage is about 50 gray levels of contrast for a dark pen on white
    paper, which any photo resolves.
    """
    ys, xs = np.nonzero(cv2.GaussianBlur(alpha, (0, 0), 1.0) >= VISIBLE_COVERAGE)
    if ys.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _form(alpha: np.ndarray, rng: np.random.Generator, style: SheetStyle, w: int,
          h: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The flat form (BGR float32) with the signature placed, and the ink box in sheet pixels."""
    mm = style.px_per_mm
    gray = paper_texture(rng, (h, w), float(rng.uniform(225, 250)), float(rng.uniform(1, 3)), float(rng.uniform(0, 4)))
    tint = np.array([rng.uniform(0.93, 1.0), rng.uniform(0.97, 1.0), 1.0], np.float32)
    sheet = gray[:, :, None] * tint
    printed = np.zeros((h, w), np.uint8)
    top = int(8 * mm)
    if style.header:
        scale = 0.5 * mm / 6.0 * float(rng.uniform(0.9, 1.3))
        text = HEADERS[int(rng.integers(len(HEADERS)))].format(n=int(rng.integers(10000, 99999)))
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        scale *= min(1.0, 0.85 * w / tw)
        baseline = int(rng.uniform(7, 12) * mm)
        cv2.putText(printed, text, (int(rng.uniform(5, 10) * mm), baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, 255,
                    max(1, int(round(mm / 6))), cv2.LINE_AA)
        top = baseline + int(3 * mm)
    ch, cw = alpha.shape
    ink = visible_ink_box(alpha)
    if ink is None:
        raise InvalidInputError("the signature has no visible ink to place on the sheet")
    gap = int(12 * mm)  # blank paper between printed text and the signature
    y_lo = top + gap - ink[1]
    y_hi = max(y_lo, h - int(8 * mm) - ink[3])
    oy = int(rng.integers(y_lo, y_hi + 1))
    ox = int(rng.integers(int(6 * mm) - ink[0], max(int(6 * mm) - ink[0], w - int(6 * mm) - ink[2]) + 1))
    box = (ox + ink[0], oy + ink[1], ox + ink[2], oy + ink[3])
    _draw_rules(printed, rng, style, box, top, mm)
    level = float(rng.uniform(25, 90))
    cover = printed.astype(np.float32) / 255.0
    sheet -= cover[:, :, None] * (sheet - np.float32(level))
    colour = np.array(INK_COLOURS[int(rng.integers(len(INK_COLOURS)))], np.float32)
    full = np.zeros((h, w), np.float32)
    x0, y0 = max(ox, 0), max(oy, 0)
    x1, y1 = min(ox + cw, w), min(oy + ch, h)
    full[y0:y1, x0:x1] = alpha[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    sheet -= full[:, :, None] * (sheet - colour)
    return sheet, box


def _draw_rules(printed: np.ndarray, rng: np.random.Generator, style: SheetStyle,
                box: tuple[int, int, int, int], top: int, mm: float) -> None:
    h, w = printed.shape
    thick = int(rng.integers(1, 3))
    x0, y0, x1, y1 = box
    line_y = y1
    if style.rules == "line":
        line_y = int(y1 - rng.uniform(0.12, 0.3) * (y1 - y0))  # the writing sits on it, flourishes dip below
        cv2.line(printed, (int(5 * mm), line_y), (w - int(5 * mm), line_y), 255, thick, cv2.LINE_AA)
    elif style.rules == "lines":
        step = rng.uniform(7, 9) * mm
        y = top + step * rng.uniform(0.5, 1.0)
        while y < h - 4 * mm:
            cv2.line(printed, (int(3 * mm), int(y)), (w - int(3 * mm), int(y)), 150, 1, cv2.LINE_AA)
            y += step
    elif style.rules == "box":
        pad = int(rng.uniform(3, 6) * mm)
        cv2.rectangle(printed, (max(x0 - pad, int(2 * mm)), max(y0 - pad, top + int(2 * mm))),
                      (min(x1 + pad, w - int(2 * mm)), min(y1 + pad, h - int(2 * mm))), 255, thick, cv2.LINE_AA)
        line_y = min(y1 + pad, h - int(2 * mm))
    if style.caption:
        text = CAPTIONS[int(rng.integers(len(CAPTIONS)))]
        scale = 0.6 * mm / 6.0 * float(rng.uniform(0.85, 1.15))
        cv2.putText(printed, text, (int(5 * mm), min(line_y + int(4.5 * mm), h - 2)), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, 255, max(1, int(round(mm / 6))), cv2.LINE_AA)


def _pose(rng: np.random.Generator, style: SheetStyle, w: int, h: int) -> np.ndarray:
    """Photo coordinates of the sheet's corners after 3-D tilt, roll and pinhole projection."""
    ph, pw = style.photo_size
    flat = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]])
    axis_a = math.radians(style.tilt_axis_deg)
    tilt = cv2.Rodrigues(np.array([math.cos(axis_a), math.sin(axis_a), 0.0]) * math.radians(style.tilt_deg))[0]
    roll = cv2.Rodrigues(np.array([0.0, 0.0, math.radians(style.roll_deg)]))[0]
    pts = flat @ (roll @ tilt).T
    distance = float(rng.uniform(1.2, 2.5)) * math.hypot(w, h)
    proj = pts[:, :2] * (distance / (distance + pts[:, 2:3]))
    span = proj.max(axis=0) - proj.min(axis=0)
    scale = style.fill * min(pw / span[0], ph / span[1])
    proj = (proj - proj.min(axis=0)) * scale
    room = np.array([pw, ph]) - proj.max(axis=0)
    margin = 0.02 * np.array([pw, ph])
    offset = margin + rng.uniform(0, 1, size=2) * np.maximum(room - 2 * margin, 0)
    return (proj + offset).astype(np.float32)


def _photograph(sheet: np.ndarray, corners: np.ndarray, rng: np.random.Generator, style: SheetStyle) -> np.ndarray:
    ph, pw = style.photo_size
    h, w = sheet.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32) - 0.5
    hom = cv2.getPerspectiveTransform(src, corners - 0.5)
    warped = cv2.warpPerspective(sheet, hom, (pw, ph), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpPerspective(np.ones((h, w), np.float32), hom, (pw, ph), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)
    background = _background(rng, style)
    # The sheet lifts a little off the table and casts a thin soft shadow.
    drop = cv2.GaussianBlur(np.roll(mask, (int(rng.integers(2, 6)), int(rng.integers(-4, 5))), (0, 1)), (0, 0), 5)
    background *= (1.0 - 0.35 * drop)[:, :, None]
    photo = warped + background * (1.0 - mask)[:, :, None]
    photo *= light_field(rng, (ph, pw), style.light_gradient)[:, :, None]
    if style.shadow > 0:
        photo *= _shadow(rng, (ph, pw), corners, style.shadow)[:, :, None]
    if style.blur_sigma > 0.05:
        photo = cv2.GaussianBlur(photo, (0, 0), style.blur_sigma)
    if style.noise_sigma > 0:
        noise = rng.standard_normal((ph // 2, pw // 2, 3), dtype=np.float32) * np.float32(style.noise_sigma * 1.6)
        photo += cv2.resize(noise, (pw, ph), interpolation=cv2.INTER_LINEAR)
    out = np.clip(photo, 0, 255).astype(np.uint8)
    return jpeg(out, style.jpeg_quality)


def _background(rng: np.random.Generator, style: SheetStyle) -> np.ndarray:
    """A wood, cloth or desk surface (BGR float32), darker than paper as kiosk trays are."""
    ph, pw = style.photo_size
    coarse = cv2.resize(rng.standard_normal((ph // 64 + 2, pw // 64 + 2)).astype(np.float32), (pw, ph),
                        interpolation=cv2.INTER_CUBIC)
    if style.background == "wood":
        # Growth rings: stripes along the grain, gently wavy, with long fibre streaks.
        along_len, across_len = (pw, ph) if rng.random() < 0.5 else (ph, pw)
        across = np.arange(across_len, dtype=np.float32)[:, None]
        wave = cv2.resize(rng.standard_normal((across_len // 120 + 2, along_len // 300 + 2)).astype(np.float32),
                          (along_len, across_len), interpolation=cv2.INTER_CUBIC)
        rings = np.sin((across + wave * np.float32(rng.uniform(8, 25))) / np.float32(rng.uniform(6, 20)))
        fibres = cv2.resize(rng.standard_normal((across_len, along_len // 40 + 2)).astype(np.float32),
                            (along_len, across_len), interpolation=cv2.INTER_LINEAR)
        shade = 1.0 + np.float32(rng.uniform(0.05, 0.15)) * rings + 0.05 * fibres
        if along_len != pw:
            shade = shade.T
        base = np.array([rng.uniform(35, 70), rng.uniform(70, 110), rng.uniform(110, 165)], np.float32)
        return base * (shade + 0.08 * coarse)[:, :, None]
    if style.background == "cloth":
        base = rng.uniform(25, 110, size=3).astype(np.float32)
        weave = rng.standard_normal((ph // 2, pw // 2)).astype(np.float32)
        weave = cv2.resize(weave, (pw, ph), interpolation=cv2.INTER_NEAREST)
        shade = 1.0 + 0.06 * weave + 0.1 * coarse
        return base * shade[:, :, None]
    level = rng.uniform(30, 150)
    base = np.array([level * rng.uniform(0.85, 1.15) for _ in range(3)], np.float32)
    desk = base * (1.0 + 0.05 * coarse)[:, :, None]
    for _ in range(int(rng.integers(0, 3))):  # clutter: a pen, a phone, a card at the edge
        centre = (float(rng.uniform(0, pw)), float(rng.uniform(0, ph)))
        size = (float(rng.uniform(20, 250)), float(rng.uniform(8, 120)))
        box = cv2.boxPoints((centre, size, float(rng.uniform(0, 180)))).astype(np.int32)
        cv2.fillConvexPoly(desk, box, tuple(float(v) for v in rng.uniform(10, 140, size=3)), cv2.LINE_AA)
    return desk


def _shadow(rng: np.random.Generator, shape: tuple[int, int], corners: np.ndarray, strength: float) -> np.ndarray:
    """Multiplicative soft shadow: a half-plane or a blob (a hand, the kiosk) across the sheet."""
    h, w = shape
    small_h, small_w = h // 8, w // 8
    yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    centre = corners.mean(axis=0) / 8 + rng.uniform(-0.25, 0.25, size=2) * (corners.max(0) - corners.min(0)) / 8
    soft = np.float32(rng.uniform(2, 8))
    if rng.random() < 0.5:
        a = rng.uniform(0, 2 * np.pi)
        dist = (xx - centre[0]) * np.float32(np.cos(a)) + (yy - centre[1]) * np.float32(np.sin(a))
    else:
        rx, ry = rng.uniform(10, 40, size=2)
        dist = (np.sqrt(((xx - centre[0]) / rx) ** 2 + ((yy - centre[1]) / ry) ** 2) - 1.0) * np.float32(min(rx, ry))
    inside = 1.0 / (1.0 + np.exp(dist / soft))
    small = (1.0 - strength * inside).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
