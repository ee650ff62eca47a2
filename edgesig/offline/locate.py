"""Find the signature on the cleaned sheet and return its bounding box.

After binarisation the sheet holds the signature, and possibly specks of noise,
slivers of the background at the sheet's edge, and printed text. A signature is a few
large connected strokes with its dots and separate parts close by, so: drop specks and
edge slivers, group components whose boxes lie within a gap scaled to the strokes'
size, and keep the group whose components' boxes cover the most area. Printed text is a group
of small characters; a group whose tallest part is shorter than a handwritten stroke
is not a signature, so a blank form gives "no signature found" instead of a box.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgesig.offline.reasons import NO_SIGNATURE, image_error

#: Components whose longer box side is below this fraction of the image diagonal (and
#: 2 px) are specks; an i-dot in a kiosk photo can be as small as 2-3 px.
SPECK_FRACTION = 0.0025
#: The tallest stroke of a signature spans at least this fraction of the image diagonal;
#: printed text is smaller.
MIN_STROKE_FRACTION = 0.025
#: Two components are grouped when their boxes are closer than GAP_FACTOR x the smaller
#: one's height, bounded to [GAP_MIN, GAP_MAX] x the image diagonal: the parts of a
#: signature sit about a letter's height apart, while a printed word (long but low)
#: joins only what is nearly touching it. The upper bound only binds for parts that are
#: tall against the image, as in a scan or crop of the signature alone; at 0.12 the
#: separate characters of 9 % of 720 SVC2004 renders were cut off (box IoU < 0.8), at
#: 0.3 0.1 %, while boxes on sheet photos and flat form scans stayed the same.
GAP_FACTOR, GAP_MIN, GAP_MAX = 1.5, 0.03, 0.3
#: Groups smaller than this fraction of the diagonal are specks: they join each other
#: only when nearly touching (an i-dot still joins its word at the normal gap).
SPECK_CHAIN = 0.01
#: At most this many components (the largest) are grouped; the rest is noise.
MAX_COMPONENTS = 400
#: A component touching the image's edge and spanning this fraction of its width or
#: height is a frame artefact (background left by the unwarp, a table edge, a frame
#: line) when it is solid (ink covers at least FRAME_FILL of its box) or lines the edge
#: (ink on FRAME_FILL of the edge pixels it touches). A signature in a
#: tight crop or a scan of the signature alone (CEDAR) spans the frame too, but its
#: strokes cover at most 18 % of their box (57 of 2,640 CEDAR scans were refused as
#: "no signature" when every frame-wide component was dropped).
FRAME_SPAN, FRAME_FILL = 0.9, 0.5


@dataclass(frozen=True)
class Box:
    """Half-open pixel box: columns x0..x1-1, rows y0..y1-1."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return max(self.width, 0) * max(self.height, 0)

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, columns) to index an image with: ``img[box.slices]``."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def padded(self, margin: int, shape: tuple[int, ...]) -> "Box":
        """The box grown by ``margin`` pixels on each side, clipped to an image of ``shape``."""
        h, w = shape[:2]
        return Box(max(self.x0 - margin, 0), max(self.y0 - margin, 0),
                   min(self.x1 + margin, w), min(self.y1 + margin, h))

    def normalized(self, width: int, height: int) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) divided by the image size: [0, 1] sheet coordinates."""
        return self.x0 / width, self.y0 / height, self.x1 / width, self.y1 / height


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ink_box(binary: np.ndarray) -> Box | None:
    """Bounding box of all ink (255) pixels, None when there is none."""
    pts = cv2.findNonZero(binary)
    if pts is None:
        return None
    x, y, w, h = cv2.boundingRect(pts)
    return Box(x, y, x + w, y + h)


def locate_signature(binary: np.ndarray) -> Box:
    """Box of the signature in a binary image (ink = 255); ImageError "no signature found" if none."""
    h, w = binary.shape
    diag = float(np.hypot(h, w))
    boxes = _plausible_components(binary, component_boxes(binary), diag)
    if len(boxes) == 0:
        raise image_error(NO_SIGNATURE, "the sheet is blank; sign inside the marked area and try again")
    heights = boxes[:, 3] - boxes[:, 1]
    if heights.max() < MIN_STROKE_FRACTION * diag:
        raise image_error(NO_SIGNATURE, "only specks or printed text on the sheet; sign and try again")
    groups = _group(boxes, diag)
    areas = (boxes[:, 2] - boxes[:, 0]).astype(np.float64) * heights
    best, best_score = -1, -1.0
    for label in np.unique(groups):
        member = groups == label
        if heights[member].max() < MIN_STROKE_FRACTION * diag:
            continue
        score = float(areas[member].sum())
        if score > best_score:
            best, best_score = label, score
    g = boxes[groups == best]
    return Box(int(g[:, 0].min()), int(g[:, 1].min()), int(g[:, 2].max()), int(g[:, 3].max()))


def component_boxes(binary: np.ndarray) -> np.ndarray:
    """(n, 4) int array of the (x0, y0, x1, y1) boxes of the connected ink components.

    Outer contours give the same boxes as labelling the components (a part lying in
    another's hole lies in its box too) at a tenth of the cost.
    """
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((0, 4), np.int64)
    rects = np.array([cv2.boundingRect(c) for c in contours], np.int64)
    rects[:, 2:] += rects[:, :2]
    return rects


def _plausible_components(binary: np.ndarray, boxes: np.ndarray, diag: float) -> np.ndarray:
    """Boxes without specks, slivers along the sheet's edge and frame artefacts touching it."""
    h, w = binary.shape
    x0, y0, x1, y1 = (boxes[:, i] for i in range(4))
    bw, bh = x1 - x0, y1 - y0
    keep = np.maximum(bw, bh) >= max(2.0, SPECK_FRACTION * diag)
    touches_lr = (x0 == 0) | (x1 == w)
    touches_tb = (y0 == 0) | (y1 == h)
    keep &= ~(touches_lr & (bw < 0.05 * w)) & ~(touches_tb & (bh < 0.05 * h))
    frame_wide = (touches_lr | touches_tb) & ((bw >= FRAME_SPAN * w) | (bh >= FRAME_SPAN * h))
    for i in np.flatnonzero(keep & frame_wide):
        keep[i] = not _is_frame_artefact(binary, boxes[i])
    kept = boxes[keep]
    if len(kept) > MAX_COMPONENTS:
        size = (kept[:, 2] - kept[:, 0]) * (kept[:, 3] - kept[:, 1])
        kept = kept[np.argsort(size)[::-1][:MAX_COMPONENTS]]
    return kept


def _is_frame_artefact(binary: np.ndarray, box: np.ndarray) -> bool:
    """Whether a frame-wide component is background or a frame, not a signature.

    Background strips and frame lines are solid in their box, and background left
    around a sheet that was not found lines the image's edge; handwriting touches the
    edge at a few strokes' ends (a signature cropped tight touches all four edges so).
    """
    h, w = binary.shape
    x0, y0, x1, y1 = (int(v) for v in box)
    part = binary[y0:y1, x0:x1]
    if cv2.countNonZero(part) >= FRAME_FILL * part.size:
        return True
    edges = [part[:, 0]] if x0 == 0 else []
    edges += [part[:, -1]] if x1 == w else []
    edges += [part[0, :]] if y0 == 0 else []
    edges += [part[-1, :]] if y1 == h else []
    edge = np.concatenate(edges)
    return np.count_nonzero(edge) >= FRAME_FILL * edge.size


def _group(boxes: np.ndarray, diag: float) -> np.ndarray:
    """Group label of each box, merging groups until none lies within another's reach.

    A group's scale is its tallest member's height; two groups merge when their boxes
    are closer than GAP_FACTOR x the smaller scale (within [GAP_MIN, GAP_MAX] x diag).
    Merging in rounds lets a small piece (the tail of a letter) extend its word's box
    towards the next word, which then joins at the word's scale, while printed text
    keeps the small scale of its characters. A speck (an i-dot, noise) joins a group
    without extending its box, so noise cannot lead a group across the sheet.
    """
    labels = np.arange(len(boxes))
    current = boxes.astype(np.float64)
    scale = current[:, 3] - current[:, 1]
    while True:
        x0, y0, x1, y1 = current.T
        smaller = np.minimum(scale[:, None], scale[None, :])
        allowed = np.clip(GAP_FACTOR * smaller, GAP_MIN * diag, GAP_MAX * diag)
        # Two specks join only when nearly touching: scattered noise must not chain up.
        both_specks = np.maximum(scale[:, None], scale[None, :]) < SPECK_CHAIN * diag
        allowed = np.where(both_specks, GAP_FACTOR * smaller, allowed)
        dx = np.maximum(x0[:, None], x0[None, :]) - np.minimum(x1[:, None], x1[None, :])
        dy = np.maximum(y0[:, None], y0[None, :]) - np.minimum(y1[:, None], y1[None, :])
        merged = _connected(np.maximum(dx, dy) <= allowed)
        n = int(merged.max()) + 1
        if n == len(current):
            return labels
        labels = merged[labels]
        # A group's box spans its members that are not specks (all of them if none is).
        big = scale >= SPECK_CHAIN * diag
        has_big = np.zeros(n, bool)
        np.logical_or.at(has_big, merged, big)
        use = big | ~has_big[merged]
        grouped = np.empty((n, 4))
        grouped[:, :2], grouped[:, 2:] = np.inf, -np.inf
        np.minimum.at(grouped[:, 0], merged[use], x0[use])
        np.minimum.at(grouped[:, 1], merged[use], y0[use])
        np.maximum.at(grouped[:, 2], merged[use], x1[use])
        np.maximum.at(grouped[:, 3], merged[use], y1[use])
        tallest = np.zeros(n)
        np.maximum.at(tallest, merged, scale)
        current, scale = grouped, tallest


def _connected(near: np.ndarray) -> np.ndarray:
    """Connected components of a symmetric adjacency matrix, labelled 0..k-1."""
    labels = np.arange(len(near))
    while True:
        merged = np.where(near, labels[None, :], len(near)).min(axis=1)
        if np.array_equal(merged, labels):
            break
        labels = merged[merged]  # pointer jumping: converge in O(log n) rounds
    return np.unique(labels, return_inverse=True)[1]
