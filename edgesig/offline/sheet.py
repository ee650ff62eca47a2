"""Find the sheet of paper in a kiosk snapshot and unwarp it to a flat rectangle.

The camera sees the sheet at an angle, on whatever lies under it. Paper is the largest
bright, unsaturated region; its outline is a quadrilateral whose sides we fit as
straight lines for sub-pixel corners, then a perspective transform maps it to an
upright rectangle. Detection runs on a ~400 px thumbnail (the outline needs no more)
and only the final warp touches the full image, which keeps this stage at a few ms.

When no convincing quadrilateral is found (a flat scan, a cropped signature, a sheet
filling the frame) the whole image is used: ``Sheet.found`` says which happened.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Side of the thumbnail the outline is searched on.
DETECT_SIDE = 400
#: A sheet must cover at least this fraction of the frame...
MIN_AREA_FRACTION = 0.05
#: ...and a quadrilateral covering more than this is the frame itself, not a sheet.
MAX_AREA_FRACTION = 0.92
#: The paper's outline must fill its quadrilateral at least this well (area ratio).
QUAD_FIT = 0.9
#: A sheet's side steps down by at least this many gray levels into the background...
EDGE_MIN_STEP = 12
#: ...along at least this fraction of its length (its weakest side), see edge_support.
MIN_EDGE_SUPPORT = 0.5
#: A candidate this well supported is taken without trying the others.
CLEAR_EDGE_SUPPORT = 0.8


@dataclass(frozen=True)
class Sheet:
    """The unwarped sheet.

    ``image`` is the sheet as an upright rectangle (gray or BGR like the input);
    ``corners`` the sheet's top-left, top-right, bottom-right and bottom-left corners
    in input pixel coordinates (float32 (4, 2)), None when the whole image was used.
    Sheet coordinates run from (0, 0) at the top-left corner to ``image`` width and
    height at the bottom-right one.
    """

    image: np.ndarray
    corners: np.ndarray | None

    @property
    def found(self) -> bool:
        return self.corners is not None


def find_sheet(img: np.ndarray, *, aspect: float | None = None, max_side: int = 1000) -> Sheet:
    """Detect the sheet in ``img`` (uint8 gray or BGR) and unwarp it.

    ``aspect`` (long side / short side, e.g. 1.414 for A-series paper) fixes the output
    shape when the form size is known; otherwise it follows the measured side lengths.
    The output's long side is at most ``max_side`` pixels.
    """
    corners = detect_sheet(img)
    if corners is None:
        return Sheet(image=img, corners=None)
    return Sheet(image=unwarp(img, corners, sheet_size(corners, aspect=aspect, max_side=max_side)),
                 corners=corners)


def detect_sheet(img: np.ndarray) -> np.ndarray | None:
    """Corners (TL, TR, BR, BL; float32 (4, 2), input pixels) of the sheet, or None.

    A shadow can push part of the paper below any global threshold (a shadowed sheet can
    be darker than the lit table) and the lit part alone is a fine quadrilateral too. So
    candidates come from the outline of the sharp edges and from several thresholds,
    and each candidate quadrilateral is judged by its sides: a sheet's edge is a sharp
    step from bright to dark all along, a shadow's edge a soft ramp. The candidate
    whose weakest side is most sheet-like wins, the larger on ties; its sides are then
    located to sub-pixel precision on the full-resolution image.
    """
    h, w = img.shape[:2]
    scale = min(DETECT_SIDE / max(h, w), 1.0)
    # Bilinear, not area, shrinking: 10x faster, and the whiteness is blurred anyway.
    small = cv2.resize(img, (max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)),
                       interpolation=cv2.INTER_LINEAR)
    white = whiteness(small)
    best, best_key = None, (0.0, 0.0)
    seen: list[np.ndarray] = []
    for make_mask in [lambda: edge_mask(white)] + [lambda t=t: paper_mask(white, t) for t in _thresholds(white)]:
        corners = _candidate(make_mask(), white.shape)
        if corners is None or any(np.abs(corners - other).max() < 1.0 for other in seen):
            continue
        seen.append(corners)
        key = (round(edge_support(white, corners), 1), abs(cv2.contourArea(corners)))
        if key > best_key:
            best, best_key = corners, key
        if best_key[0] >= CLEAR_EDGE_SUPPORT:  # every side a crisp edge: no need to look further
            break
    if best is None or best_key[0] < MIN_EDGE_SUPPORT:
        return None
    sx, sy = w / white.shape[1], h / white.shape[0]
    corners = _order_corners(best * np.array([sx, sy], np.float32))
    return snap_to_edges(img, corners, reach=3.0 * max(sx, sy))


def _candidate(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """Corners of the quadrilateral the mask's largest region fills, or None."""
    frame_area = float(shape[0] * shape[1])
    outline = _largest_outline(mask)
    if outline is None:
        return None
    area = cv2.contourArea(outline)
    if area < MIN_AREA_FRACTION * frame_area:
        return None
    quad = _hull_quad(outline)
    if quad is None:
        return None
    quad_area = abs(cv2.contourArea(quad))
    if not MIN_AREA_FRACTION * frame_area <= quad_area <= MAX_AREA_FRACTION * frame_area:
        return None
    if min(area, quad_area) / max(area, quad_area) < QUAD_FIT:
        return None
    return _refine_corners(outline.reshape(-1, 2).astype(np.float64), quad, shape)


def edge_support(white: np.ndarray, corners: np.ndarray, samples: int = 40) -> float:
    """How sheet-like the quadrilateral's weakest side is, from 0 to 1.

    Along each side (corners in continuous coordinates, in order around the quad) the
    brightness is read from 8 pixels inside to 8 outside. A point supports the side when
    the step from the brightest reading 4-8 px inside to the darkest 4-8 px outside is
    at least ``EDGE_MIN_STEP`` levels and half of it happens within 4 pixels somewhere
    near the line (a sharp edge, not a shadow's ramp; the coarse outline may be a pixel
    or two off). Taking the brightest and darkest readings keeps a printed line running
    along the sheet's edge from hiding the step. Returns the smallest fraction of
    supporting points over the sides.
    """
    h, w = white.shape
    a = corners.astype(np.float64)
    b = np.roll(a, -1, axis=0)
    direction = (b - a) / np.maximum(np.linalg.norm(b - a, axis=1, keepdims=True), 1e-9)
    normal = np.column_stack([-direction[:, 1], direction[:, 0]])
    outward = np.sign(np.sum(normal * ((a + b) / 2 - a.mean(axis=0)), axis=1, keepdims=True))
    normal *= np.where(outward == 0, 1.0, outward)
    u = np.linspace(0.15, 0.85, samples)
    pts = a[:, None, :] + u[None, :, None] * (b - a)[:, None, :] - 0.5  # (4, samples, 2), pixel centres
    offsets = np.arange(-8.0, 9.0)
    q = np.rint(pts[:, :, None, :] + offsets[None, None, :, None] * normal[:, None, None, :]).astype(np.int64)
    values = white[np.clip(q[..., 1], 0, h - 1), np.clip(q[..., 0], 0, w - 1)].astype(np.float64)
    step = values[..., :5].max(axis=2) - values[..., 12:].min(axis=2)
    near = (values[..., 4:9] - values[..., 8:13]).max(axis=2)  # v(k - 2) - v(k + 2), k in -2..2
    ok = (step >= EDGE_MIN_STEP) & (near >= 0.5 * step)
    return float(ok.mean(axis=1).min())


def snap_to_edges(img: np.ndarray, corners: np.ndarray, reach: float, samples: int = 32) -> np.ndarray:
    """Corners re-fitted to where each side's brightness profile crosses half its step.

    The thumbnail locates the sides to a few full-resolution pixels; reading profiles
    across each side (``reach`` pixels each way) on the full image and fitting a line
    through the half-step crossings gives sub-pixel corners. A side with too few
    clear crossings keeps its coarse position.
    """
    h, w = img.shape[:2]
    centre = corners.mean(axis=0)
    offsets = np.linspace(-reach, reach, int(4 * reach) + 1)
    u = np.linspace(0.12, 0.88, samples)
    lines = []
    for k in range(4):
        a, b = corners[k].astype(np.float64), corners[(k + 1) % 4].astype(np.float64)
        direction = (b - a) / max(np.linalg.norm(b - a), 1e-9)
        normal = np.array([-direction[1], direction[0]])
        if np.dot(normal, (a + b) / 2 - centre) < 0:
            normal = -normal
        base = a + u[:, None] * (b - a)
        grid = base[:, None, :] + offsets[None, :, None] * normal  # (samples, steps, 2), continuous
        maps = (grid - 0.5).astype(np.float32)
        profiles = cv2.remap(img, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if profiles.ndim == 3:
            profiles = profiles.min(axis=2)
        found = _half_step(profiles.astype(np.float64), offsets)
        good = ~np.isnan(found)
        if good.sum() >= samples // 3:
            pts = (base[good] + found[good, None] * normal).astype(np.float32)
            vx, vy, x0, y0 = (float(v) for v in cv2.fitLine(pts, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel())
            # Points more than 1.5 px off: the edge of something lying across the side.
            off = np.abs((pts[:, 0] - x0) * vy - (pts[:, 1] - y0) * vx)
            if (off <= 1.5).sum() >= samples // 3:
                vx, vy, x0, y0 = (float(v) for v in cv2.fitLine(pts[off <= 1.5], cv2.DIST_L2, 0, 0.01, 0.01).ravel())
            lines.append((vx, vy, x0, y0))
        else:
            lines.append((float(direction[0]), float(direction[1]), float(a[0]), float(a[1])))
    snapped = [_intersect(lines[k - 1], lines[k]) for k in range(4)]
    if any(p is None for p in snapped):
        return corners
    out = np.array(snapped, np.float32)
    if np.abs(out - corners).max() > 2 * reach:
        return corners
    return out


def _half_step(profiles: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Offset where each profile (bright inside -> dark outside) first drops below half its step."""
    n = profiles.shape[1]
    inside = profiles[:, : n // 4].mean(axis=1)
    outside = profiles[:, -(n // 4):].mean(axis=1)
    half = (inside + outside) / 2
    below = profiles < half[:, None]
    first = np.argmax(below, axis=1)
    ok = (inside - outside >= EDGE_MIN_STEP) & below.any(axis=1) & (first > 0)
    idx = np.clip(first, 1, n - 1)
    rows = np.arange(len(profiles))
    v0, v1 = profiles[rows, idx - 1], profiles[rows, idx]
    frac = np.where(v0 != v1, (v0 - half) / np.where(v0 != v1, v0 - v1, 1.0), 0.5)
    pos = offsets[idx - 1] + frac * (offsets[1] - offsets[0])
    return np.where(ok, pos, np.nan)


def edge_mask(white: np.ndarray) -> np.ndarray:
    """The region inside the outermost sharp edges (shadow ramps are too soft for them).

    Canny thresholds are for the thumbnail's 5x5-blurred whiteness: a step of ~30 gray
    levels over a pixel or two passes, a shadow's ramp over ten pixels does not.
    """
    edges = cv2.dilate(cv2.Canny(white, 40, 80, L2gradient=True), np.ones((3, 3), np.uint8))
    outline = _largest_outline(edges)
    mask = np.zeros_like(white)
    if outline is not None:
        cv2.drawContours(mask, [outline], -1, 255, cv2.FILLED)
    return _detach(mask)


def _detach(mask: np.ndarray) -> np.ndarray:
    """Open the mask with a kernel of 1/25 of the frame: a pen or strip lying against the
    sheet comes off, while the sheet, far larger, only loses the tips of its corners."""
    k = max(5, (min(mask.shape) // 25) | 1)
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))


def whiteness(small: np.ndarray) -> np.ndarray:
    """How paper-like each pixel is: the darkest channel, lightly blurred.

    Paper is white: all three channels high. Taking the darkest channel makes wood,
    coloured cloth or a blue tray dark even when they are as bright as the paper.
    """
    white = small if small.ndim == 2 else cv2.min(cv2.min(small[:, :, 0], small[:, :, 1]), small[:, :, 2])
    return cv2.GaussianBlur(white, (5, 5), 0)


def paper_mask(white: np.ndarray, threshold: float) -> np.ndarray:
    """Binary mask (255 = paper) of pixels above ``threshold``, ink holes and specks closed."""
    _, mask = cv2.threshold(white, threshold, 255, cv2.THRESH_BINARY)
    k = max(3, (min(mask.shape) // 60) | 1)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    return _detach(mask)


def _thresholds(white: np.ndarray) -> list[float]:
    """Otsu's threshold and four between the dark class's and the bright class's means."""
    otsu, _ = cv2.threshold(white, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    hist = cv2.calcHist([white], [0], None, [256], [0, 256]).ravel()
    levels = np.arange(256, dtype=np.float64)
    t = int(otsu)
    dark = float((hist[:t + 1] * levels[:t + 1]).sum() / max(hist[:t + 1].sum(), 1))
    bright = float((hist[t + 1:] * levels[t + 1:]).sum() / max(hist[t + 1:].sum(), 1))
    return [float(otsu)] + [dark + f * (bright - dark) for f in (0.15, 0.3, 0.5, 0.7)]


def _largest_outline(mask: np.ndarray) -> np.ndarray | None:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return max(contours, key=cv2.contourArea) if contours else None


def sheet_size(corners: np.ndarray, *, aspect: float | None = None, max_side: int = 1000) -> tuple[int, int]:
    """(width, height) of the unwarped sheet from its corners (TL, TR, BR, BL)."""
    tl, tr, br, bl = corners.astype(np.float64)
    width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    if aspect is not None:
        area = width * height
        long_side, short_side = np.sqrt(area * aspect), np.sqrt(area / aspect)
        width, height = (long_side, short_side) if width >= height else (short_side, long_side)
    shrink = min(1.0, max_side / max(width, height))
    return max(int(round(width * shrink)), 1), max(int(round(height * shrink)), 1)


def unwarp(img: np.ndarray, corners: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Map the quadrilateral ``corners`` (TL, TR, BR, BL) of ``img`` onto a (w, h) rectangle.

    Sheet pixel (0, 0) is the centre of the first pixel, so corner TL maps to (-0.5, -0.5)
    and BR to (w - 0.5, h - 0.5): a box in sheet pixels divided by (w, h) is then in
    the same [0, 1] coordinates as the corners' quadrilateral.
    """
    w, h = size
    dst = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], np.float32)
    src = _pixel_centres(corners)
    hom = cv2.getPerspectiveTransform(src, dst)
    # Shrinking a lot with bilinear sampling aliases thin strokes: pre-smooth instead.
    shrink = min(w, h) / max(min(np.ptp(src[:, 0]), np.ptp(src[:, 1])), 1.0)
    if shrink < 0.6:
        img = cv2.GaussianBlur(img, (0, 0), 0.4 / shrink)
    return cv2.warpPerspective(img, hom, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _pixel_centres(corners: np.ndarray) -> np.ndarray:
    """Corners are given in continuous coordinates (pixel i spans [i, i+1]); cv2 uses centres."""
    return (corners - 0.5).astype(np.float32)


def _hull_quad(outline: np.ndarray) -> np.ndarray | None:
    """Four corners from the outline's convex hull: its four longest sides, extended.

    Something lying across the sheet's edge (a pen, a phone) adds short sides to the
    hull; the sheet's own four sides stay the longest.
    """
    hull = cv2.convexHull(outline)
    poly = cv2.approxPolyDP(hull, 0.01 * cv2.arcLength(hull, True), True).reshape(-1, 2).astype(np.float64)
    if len(poly) < 4:
        return None
    lengths = np.linalg.norm(np.roll(poly, -1, axis=0) - poly, axis=1)
    sides = np.sort(np.argsort(lengths)[-4:])  # the four longest, in order around the hull
    lines = []
    for k in sides:
        a, b = poly[k], poly[(k + 1) % len(poly)]
        d = (b - a) / max(np.linalg.norm(b - a), 1e-9)
        lines.append((float(d[0]), float(d[1]), float(a[0]), float(a[1])))
    corners = [_intersect(lines[k - 1], lines[k]) for k in range(4)]
    if any(c is None for c in corners):
        return None
    quad = np.array(corners, np.float32)
    return quad if cv2.isContourConvex(quad.reshape(-1, 1, 2)) else None


def _refine_corners(points: np.ndarray, quad: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """Fit each side to the outline points lying along it; corners are the intersections.

    Points within 2 px of a side and away from its ends (where mask rounding bends the
    outline) belong to it; a bump where something crosses the edge does not. Contour
    points are the outermost paper pixels; in continuous coordinates (pixel i spans
    [i, i + 1]) their centres lie half a pixel inside the paper's edge, so each fitted
    line is moved out by half a pixel.
    """
    pts = points + 0.5
    centre = quad.mean(axis=0)
    lines = []
    for k in range(4):
        a, b = quad[k].astype(np.float64), quad[(k + 1) % 4].astype(np.float64)
        length = max(np.linalg.norm(b - a), 1e-9)
        d = (b - a) / length
        rel = pts - a
        along = rel @ d / length
        dist = np.abs(rel @ np.array([-d[1], d[0]]))
        side = pts[(dist <= 2.0) & (along > 0.1) & (along < 0.9)]
        if len(side) < 5:
            return None
        vx, vy, x0, y0 = (float(v) for v in cv2.fitLine(side.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel())
        nx, ny = -vy, vx
        if nx * (x0 - centre[0]) + ny * (y0 - centre[1]) < 0:
            nx, ny = -nx, -ny
        lines.append((vx, vy, x0 + 0.5 * nx, y0 + 0.5 * ny))
    corners = [_intersect(lines[k - 1], lines[k]) for k in range(4)]
    if any(c is None for c in corners):
        return None
    out = np.array(corners, np.float32)
    h, w = shape
    if not np.all((out > -0.1 * np.array([w, h])) & (out < 1.1 * np.array([w, h]))):
        return None
    return out


def _intersect(l1: tuple[float, float, float, float], l2: tuple[float, float, float, float]) -> tuple[float, float] | None:
    vx1, vy1, x1, y1 = l1
    vx2, vy2, x2, y2 = l2
    det = vx1 * (-vy2) - vy1 * (-vx2)
    if abs(det) < 1e-6:
        return None
    s = ((x2 - x1) * (-vy2) - (y2 - y1) * (-vx2)) / det
    return x1 + s * vx1, y1 + s * vy1


def _order_corners(quad: np.ndarray) -> np.ndarray:
    """TL, TR, BR, BL: clockwise on screen, starting where the next side is most horizontal.

    Correct for sheets rotated less than 45 degrees in the photo, whatever their aspect.
    """
    centre = quad.mean(axis=0)
    angles = np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0])
    quad = quad[np.argsort(angles)]  # clockwise on screen (y down)
    best, best_score = 0, -np.inf
    for k in range(4):
        d = quad[(k + 1) % 4] - quad[k]
        score = d[0] / (np.hypot(*d) + 1e-9)  # cos of the side's angle to +x
        if score > best_score:
            best, best_score = k, score
    return np.roll(quad, -best, axis=0).astype(np.float32)
