"""Render an online signature (PenStream) as a realistic image of ink on paper.

No public offline signature set ships skilled forgeries under a licence we can use, but
online sets (SVC2004) and the sigma-lognormal writers do. Drawing their pen-down
trajectories with the physics that matter to an image model gives offline training
pairs with known labels: stroke width follows pressure, each pen type has its own width
and darkness, a ballpoint skips on the paper grain, paper has texture, and scans and
kiosk cameras add rotation, perspective, uneven light, blur, sensor noise and JPEG.

Design for speed (~1-3 ms for a 300x600 image): geometry (scale, rotation, perspective)
is applied to the pen coordinates, not to the image, so strokes stay sharp and no warp
is needed; the strokes are rasterised by one numba kernel as anti-aliased tapered
capsules along a Hermite spline through the samples; random fields come from a cached
noise tile cropped at a random offset, because drawing fresh Gaussian noise per image
costs more than everything else together.

Coordinates: by default PenStream y is taken to grow upwards, as tablets report it
(SVC2004's WACOM pad, and ``edgesig.synth`` which mimics it); pass
``RenderStyle(y_up=False)`` for screen captures whose y axis points down.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

import cv2
import numpy as np
from numba import njit

from edgesig.errors import InvalidInputError
from edgesig.pen import PenStream

Degradation = Literal["clean", "scan", "camera"]
PenType = Literal["ballpoint", "gel", "felt"]

#: Per pen type: stroke width at full pressure (px, at the reference ink height of
#: ~120 px), gray level of full ink, how much lighter light pressure writes, skips.
PEN_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "ballpoint": {"width_px": (2.2, 3.6), "ink_level": (25.0, 95.0),
                  "pressure_darkness": (0.25, 0.6), "skips": (0.15, 0.6), "edge_softness": (0.0, 0.0)},
    "gel": {"width_px": (3.0, 4.6), "ink_level": (10.0, 45.0),
            "pressure_darkness": (0.0, 0.15), "skips": (0.0, 0.1), "edge_softness": (0.0, 0.3)},
    "felt": {"width_px": (4.2, 7.0), "ink_level": (10.0, 50.0),
             "pressure_darkness": (0.0, 0.1), "skips": (0.0, 0.0), "edge_softness": (0.5, 1.0)},
}
PEN_WEIGHTS = {"ballpoint": 0.55, "gel": 0.3, "felt": 0.15}

_TILE = 1024  # side of the cached noise tiles


@dataclass(frozen=True)
class RenderStyle:
    """Every knob of the renderer; defaults give a clean black ballpoint scan.

    Sizes are in pixels at the natural scale, where the signature's ink height (1st to
    99th percentile of pen-down y) is ``height_px``; when ``render(size=...)`` fits the
    signature into a fixed canvas, widths scale with it.
    """

    pen: PenType = "ballpoint"
    height_px: float = 120.0
    width_px: float = 3.0            # stroke width at full pressure
    width_min_frac: float = 0.5      # width at zero pressure, as a fraction of width_px
    pressure_gamma: float = 0.8
    ink_level: float = 45.0          # gray level where ink fully covers the paper
    pressure_darkness: float = 0.4   # light pressure is this much lighter (0..1)
    skips: float = 0.3               # ballpoint skip strength on paper valleys (0..1)
    edge_softness: float = 0.0       # felt-tip bleed: blur sigma of the ink (px)
    paper_level: float = 243.0
    paper_grain: float = 2.5         # std of the fine paper grain (gray levels)
    paper_blotch: float = 3.0        # amplitude of low-frequency paper shading
    light_gradient: float = 0.0      # uneven light: fraction of brightness lost at the dark side
    contrast: float = 1.0            # < 1 washes the image out (camera exposure)
    noise_sigma: float = 0.0         # sensor noise std (gray levels)
    blur_sigma: float = 0.0          # optical / scan blur (px)
    jpeg_quality: int | None = None
    rotation_deg: float = 0.0
    perspective: float = 0.0         # corner displacement, fraction of the ink box
    margin_px: int = 12
    y_up: bool = True

    def __post_init__(self) -> None:
        if self.pen not in PEN_RANGES:
            raise InvalidInputError(f"unknown pen type {self.pen!r}; use one of {', '.join(PEN_RANGES)}")
        if not (self.height_px > 4 and self.width_px > 0 and 0 <= self.width_min_frac <= 1):
            raise InvalidInputError("height_px must exceed 4 and width_px be positive, "
                                    "with width_min_frac in [0, 1]")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise InvalidInputError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")

    @classmethod
    def random(cls, rng: np.random.Generator, degradation: Degradation = "scan", *,
               y_up: bool = True) -> "RenderStyle":
        """A plausible random style: pen type, ink and paper, then the degradation level.

        "clean": a good flatbed scan, no noise; "scan": office scanner (slight
        rotation, blur, noise, JPEG); "camera": kiosk/phone photo (uneven light,
        perspective, washed-out contrast, stronger noise and blur, harsher JPEG).
        """
        if degradation not in ("clean", "scan", "camera"):
            raise InvalidInputError(f"degradation must be 'clean', 'scan' or 'camera', got {degradation!r}")
        pens = list(PEN_WEIGHTS)
        pen = pens[int(rng.choice(len(pens), p=list(PEN_WEIGHTS.values())))]
        ranges = PEN_RANGES[pen]
        pick = {k: float(rng.uniform(*v)) for k, v in ranges.items()}
        base = cls(pen=pen, height_px=float(rng.uniform(95, 150)),
                   width_min_frac=float(rng.uniform(0.35, 0.8) if pen == "ballpoint" else rng.uniform(0.6, 0.95)),
                   pressure_gamma=float(rng.uniform(0.6, 1.4)),
                   paper_level=float(rng.uniform(228, 250)), paper_grain=float(rng.uniform(1.0, 4.0)),
                   paper_blotch=float(rng.uniform(0.0, 6.0)), margin_px=int(rng.integers(8, 24)), y_up=y_up,
                   **pick)
        if degradation == "clean":
            return base
        if degradation == "scan":
            return replace(base, noise_sigma=float(rng.uniform(0.5, 3.0)), blur_sigma=float(rng.uniform(0.0, 0.8)),
                           jpeg_quality=int(rng.integers(70, 96)) if rng.random() < 0.7 else None,
                           rotation_deg=float(rng.normal(0, 2.0)), perspective=float(rng.uniform(0, 0.01)),
                           light_gradient=float(rng.uniform(0, 0.05)))
        return replace(base, noise_sigma=float(rng.uniform(2.0, 7.0)), blur_sigma=float(rng.uniform(0.4, 1.6)),
                       jpeg_quality=int(rng.integers(45, 90)), rotation_deg=float(rng.normal(0, 5.0)),
                       perspective=float(rng.uniform(0.01, 0.06)), light_gradient=float(rng.uniform(0.05, 0.35)),
                       contrast=float(rng.uniform(0.6, 1.0)))


@dataclass(frozen=True)
class InkLayer:
    """Ink coverage of a signature on its canvas, before paper and degradation.

    ``alpha`` is float32 in [0, 1] (1 = full ink), ``box`` the (x0, y0, x1, y1)
    half-open pixel box of the pen-down path including stroke width.
    """

    alpha: np.ndarray
    box: tuple[int, int, int, int]


def render(pen: PenStream, rng: np.random.Generator, *, style: RenderStyle | None = None,
           size: tuple[int, int] | None = None) -> np.ndarray:
    """Draw ``pen`` as a uint8 gray image of ink on paper.

    ``size`` is (height, width) of the canvas; the signature is fitted inside it with
    ``style.margin_px`` and centred. Without ``size`` the canvas is the ink box plus the
    margin at the natural scale (ink height ``style.height_px``). Only pen-down samples
    are drawn. ``rng`` drives the ink texture, paper and noise, so a seeded generator
    gives the same image.
    """
    style = style or RenderStyle()
    layer = ink_layer(pen, rng, style=style, size=size)
    return compose(layer.alpha, rng, style)


def ink_layer(pen: PenStream, rng: np.random.Generator, *, style: RenderStyle | None = None,
              size: tuple[int, int] | None = None) -> InkLayer:
    """Rasterise the pen-down path with the style's pen, geometry and ink texture."""
    style = style or RenderStyle()
    if not isinstance(pen, PenStream):
        raise InvalidInputError(f"render needs a PenStream, got {type(pen).__name__}")
    x, y, radius, density = _stroke_geometry(pen, rng, style)
    down = pen.pen_down.copy()
    pts_x, pts_y = x[down], y[down]
    reach = float(radius.max()) + 1.0
    lo_x, hi_x = float(pts_x.min()) - reach, float(pts_x.max()) + reach
    lo_y, hi_y = float(pts_y.min()) - reach, float(pts_y.max()) + reach
    m = style.margin_px
    if size is None:
        h, w = int(math.ceil(hi_y - lo_y)) + 2 * m, int(math.ceil(hi_x - lo_x)) + 2 * m
        f = 1.0
    else:
        h, w = _check_size(size)
        avail_w, avail_h = max(w - 2 * m, 4), max(h - 2 * m, 4)
        f = min(avail_w / (hi_x - lo_x), avail_h / (hi_y - lo_y))
    off_x = (w - f * (hi_x - lo_x)) / 2 - f * lo_x
    off_y = (h - f * (hi_y - lo_y)) / 2 - f * lo_y
    x, y, radius = x * f + off_x, y * f + off_y, radius * f
    alpha = np.zeros((h, w), np.float32)
    _raster(alpha, x, y, radius, density, down)
    if style.edge_softness > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), style.edge_softness * max(f, 0.3))
        np.minimum(alpha * 1.15, 1.0, out=alpha)
    if style.skips > 0:
        alpha *= _skip_mask(rng, (h, w), style.skips)
    box = (max(int(math.floor(f * lo_x + off_x)), 0), max(int(math.floor(f * lo_y + off_y)), 0),
           min(int(math.ceil(f * hi_x + off_x)), w), min(int(math.ceil(f * hi_y + off_y)), h))
    return InkLayer(alpha=alpha, box=box)


def compose(alpha: np.ndarray, rng: np.random.Generator, style: RenderStyle) -> np.ndarray:
    """Lay ink coverage on textured paper and apply light, blur, noise and JPEG."""
    h, w = alpha.shape
    paper = paper_texture(rng, (h, w), style.paper_level, style.paper_grain, style.paper_blotch)
    img = cv2.subtract(paper, cv2.multiply(alpha, cv2.subtract(paper, style.ink_level)))
    if style.light_gradient > 0:
        img = cv2.multiply(img, light_field(rng, (h, w), style.light_gradient))
    if style.contrast != 1.0:
        img = cv2.addWeighted(img, style.contrast, img, 0.0, (1.0 - style.contrast) * 128.0)
    if style.blur_sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), style.blur_sigma)
    if style.noise_sigma > 0:
        img = cv2.scaleAdd(noise_crop(rng, (h, w), smooth=False), style.noise_sigma, img)
    out = np.clip(img, 0, 255, out=img).astype(np.uint8)
    if style.jpeg_quality is not None:
        out = jpeg(out, style.jpeg_quality)
    return out


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through JPEG at ``quality`` (block artefacts of cheap cameras)."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise InvalidInputError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def paper_texture(rng: np.random.Generator, shape: tuple[int, int], level: float, grain: float,
                  blotch: float) -> np.ndarray:
    """Float32 paper: a level, correlated fibre grain and soft low-frequency shading."""
    h, w = shape
    coarse = rng.standard_normal((max(h // 48, 2), max(w // 48, 2))).astype(np.float32)
    shading = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.addWeighted(noise_crop(rng, shape, smooth=True), grain, shading, blotch, level)


def light_field(rng: np.random.Generator, shape: tuple[int, int], strength: float) -> np.ndarray:
    """Multiplicative illumination in [1 - strength, 1]: a tilted gradient plus vignetting."""
    h, w = shape
    small_h, small_w = max(h // 16, 2), max(w // 16, 2)
    yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    xx, yy = xx / (small_w - 1) - 0.5, yy / (small_h - 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    ramp = xx * np.float32(np.cos(angle)) + yy * np.float32(np.sin(angle))
    cx, cy = rng.uniform(-0.4, 0.4, size=2)
    vignette = (xx - np.float32(cx)) ** 2 + (yy - np.float32(cy)) ** 2
    field = ramp + np.float32(rng.uniform(0.3, 1.2)) * vignette
    field = (field - field.min()) / max(float(field.max() - field.min()), 1e-6)
    small = 1.0 - np.float32(strength) * field
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def noise_crop(rng: np.random.Generator, shape: tuple[int, int], smooth: bool) -> np.ndarray:
    """Unit-variance Gaussian noise of ``shape`` (float32), white or ~1 px correlated.

    A read-only view of a cached tile at a random offset (larger shapes draw fresh
    noise); pass it to cv2 arithmetic, which allocates the result, instead of
    modifying it.
    """
    h, w = shape
    if h > _TILE or w > _TILE:
        fresh = rng.standard_normal((h, w), dtype=np.float32)
        return _smooth_unit(fresh) if smooth else fresh
    tile = _noise_tiles()[1 if smooth else 0]
    y0, x0 = int(rng.integers(0, _TILE - h + 1)), int(rng.integers(0, _TILE - w + 1))
    return tile[y0:y0 + h, x0:x0 + w]


@lru_cache(maxsize=1)
def _noise_tiles() -> tuple[np.ndarray, np.ndarray]:
    white = np.random.default_rng(20240917).standard_normal((_TILE, _TILE), dtype=np.float32)
    smooth = _smooth_unit(white)
    white.setflags(write=False)
    smooth.setflags(write=False)
    return white, smooth


def _smooth_unit(noise: np.ndarray) -> np.ndarray:
    smooth = cv2.GaussianBlur(noise, (0, 0), 0.9)
    return smooth / np.float32(max(float(smooth.std()), 1e-6))


def _skip_mask(rng: np.random.Generator, shape: tuple[int, int], strength: float) -> np.ndarray:
    """Where the ball misses the paper's valleys: 1 = ink laid, lower = skipped.

    Only the deepest valleys of the grain (about the lowest 15-30 %) lose ink, more
    of them and more completely with ``strength``.
    """
    depth = 1.5 * min(strength * 1.6, 1.0)
    valleys = noise_crop(rng, shape, smooth=True)
    # 1 - depth * clip(-v - t, 0, 1/1.5), written as one affine map and two clamps.
    mask = cv2.addWeighted(valleys, depth, valleys, 0.0, 1.0 + depth * (1.1 - 0.6 * strength))
    return cv2.max(cv2.min(mask, 1.0), 1.0 - depth / 1.5)


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InvalidInputError(f"size must be (height, width), got {size!r}") from None
    if not (16 <= h <= 8192 and 16 <= w <= 8192):
        raise InvalidInputError(f"size must be between 16 and 8192 pixels per side, got {size!r}")
    return h, w


def _stroke_geometry(pen: PenStream, rng: np.random.Generator,
                     style: RenderStyle) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel positions (natural scale, rotated and in perspective), radius and ink density."""
    down = pen.pen_down
    x = np.asarray(pen.x, np.float64)
    y = -np.asarray(pen.y, np.float64) if style.y_up else np.asarray(pen.y, np.float64)
    ys = y[down]
    extent = float(np.percentile(ys, 99) - np.percentile(ys, 1))
    if extent <= 1e-9:
        extent = max(float(np.ptp(x[down])) / 3.0, 1e-6)
    scale = style.height_px / extent
    cx, cy = float(np.median(x[down])), float(np.median(ys))
    x, y = (x - cx) * scale, (y - cy) * scale
    if style.rotation_deg or style.perspective:
        x, y = _warp_points(x, y, rng, style.rotation_deg, style.perspective, style.height_px)
    p = np.asarray(pen.pressure, np.float64)
    top = float(np.percentile(p[down], 95))
    rel = np.clip(p / top, 0.0, 1.0) if top > 1e-9 else np.ones_like(p)
    width = style.width_px * (style.width_min_frac + (1 - style.width_min_frac) * rel ** style.pressure_gamma)
    density = 1.0 - style.pressure_darkness * (1.0 - rel)
    return x, y, width / 2.0, density


def _warp_points(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, rotation_deg: float,
                 perspective: float, height: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate about the origin, then a random homography moving the ink-box corners."""
    a = math.radians(rotation_deg)
    xr = x * math.cos(a) - y * math.sin(a)
    yr = x * math.sin(a) + y * math.cos(a)
    if perspective <= 0:
        return xr, yr
    half_w = max(float(np.ptp(xr)) / 2, height / 2)
    half_h = height / 2
    src = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]], np.float32)
    dst = src + rng.uniform(-1, 1, size=(4, 2)).astype(np.float32) * np.float32(perspective) * \
        np.array([2 * half_w, 2 * half_h], np.float32)
    hom = cv2.getPerspectiveTransform(src, dst).astype(np.float64)
    den = hom[2, 0] * xr + hom[2, 1] * yr + hom[2, 2]
    return (hom[0, 0] * xr + hom[0, 1] * yr + hom[0, 2]) / den, (hom[1, 0] * xr + hom[1, 1] * yr + hom[1, 2]) / den


@njit(cache=True)
def _capsule(alpha, x0, y0, r0, d0, x1, y1, r1, d1):  # pragma: no cover - numba
    """Max-blend one anti-aliased tapered capsule (x0,y0,r0) -> (x1,y1,r1) into alpha."""
    h, w = alpha.shape
    reach = max(r0, r1) + 1.0
    c0 = max(int(math.floor(min(x0, x1) - reach)), 0)
    c1 = min(int(math.ceil(max(x0, x1) + reach)), w - 1)
    l0 = max(int(math.floor(min(y0, y1) - reach)), 0)
    l1 = min(int(math.ceil(max(y0, y1) + reach)), h - 1)
    dx, dy = x1 - x0, y1 - y0
    len2 = dx * dx + dy * dy
    for row in range(l0, l1 + 1):
        for col in range(c0, c1 + 1):
            u = 0.0
            if len2 > 1e-12:
                u = ((col - x0) * dx + (row - y0) * dy) / len2
                u = min(max(u, 0.0), 1.0)
            qx, qy = x0 + u * dx - col, y0 + u * dy - row
            dist = math.sqrt(qx * qx + qy * qy)
            rad = r0 + u * (r1 - r0)
            cov = min(max(rad - dist + 0.5, 0.0), 1.0) * min(2.0 * rad, 1.0)
            val = cov * (d0 + u * (d1 - d0))
            if val > alpha[row, col]:
                alpha[row, col] = val


@njit(cache=True)
def _raster(alpha, x, y, r, d, down):  # pragma: no cover - numba
    """Draw every pen-down run as capsules along a Hermite spline through its samples."""
    n = x.size
    i = 0
    while i < n:
        if not down[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and down[j + 1]:
            j += 1
        if j == i:
            _capsule(alpha, x[i], y[i], r[i], d[i], x[i], y[i], r[i], d[i])
        for k in range(i, j):
            seg = math.hypot(x[k + 1] - x[k], y[k + 1] - y[k])
            prev_len = math.hypot(x[k] - x[k - 1], y[k] - y[k - 1]) if k > i else 0.0
            next_len = math.hypot(x[k + 2] - x[k + 1], y[k + 2] - y[k + 1]) if k + 1 < j else 0.0
            if k > i and prev_len + seg > 1e-12:
                m0x = (x[k + 1] - x[k - 1]) * seg / (prev_len + seg)
                m0y = (y[k + 1] - y[k - 1]) * seg / (prev_len + seg)
            else:
                m0x, m0y = x[k + 1] - x[k], y[k + 1] - y[k]
            if k + 1 < j and next_len + seg > 1e-12:
                m1x = (x[k + 2] - x[k]) * seg / (next_len + seg)
                m1y = (y[k + 2] - y[k]) * seg / (next_len + seg)
            else:
                m1x, m1y = x[k + 1] - x[k], y[k + 1] - y[k]
            steps = max(1, int(seg / 1.5))
            px, py, pr, pd = x[k], y[k], r[k], d[k]
            for s in range(1, steps + 1):
                u = s / steps
                u2, u3 = u * u, u * u * u
                h00, h10 = 2 * u3 - 3 * u2 + 1, u3 - 2 * u2 + u
                h01, h11 = -2 * u3 + 3 * u2, u3 - u2
                qx = h00 * x[k] + h10 * m0x + h01 * x[k + 1] + h11 * m1x
                qy = h00 * y[k] + h10 * m0y + h01 * y[k + 1] + h11 * m1y
                qr = r[k] + u * (r[k + 1] - r[k])
                qd = d[k] + u * (d[k + 1] - d[k])
                _capsule(alpha, px, py, pr, pd, qx, qy, qr, qd)
                px, py, pr, pd = qx, qy, qr, qd
        i = j + 1
