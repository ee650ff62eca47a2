"""A handcrafted descriptor of the normalised signature: no training, a few milliseconds.

The image engines are CNNs trained on about 200 writers and learn those writers' habits;
gradient-direction and local-binary-pattern histograms (the HOG / LBP descriptors of the
offline-verification literature, reaching 7-10 % on CEDAR with writer-dependent
classifiers) describe stroke direction and local shape the same way for every writer,
so they fail differently and fuse well with a small CNN.

Computed on the ink's box inside SDINet's 155x220 image (ink = 1), so the padding that
keeps the aspect ratio does not move the grid:

* gradient directions: Sobel of the lightly blurred crop, unsigned direction in ``bins``
  bins (linear vote between the two nearest), magnitude-weighted, per cell of each grid
  of a spatial pyramid;
* uniform LBP (8 neighbours, 59 codes) of the pixels on or next to ink, per cell of each
  grid;
* concavity codes (GSC's, from the CEDAR group): for every pixel of the box, on which of its
  four sides ink lies, per cell of each grid. It describes the paper the strokes enclose,
  so it fails differently again; it is the ``concavity`` entry's only family (the
  ``descriptor`` entry has none), a fourth member of ``ensemble`` 2.6.0.

Each grid level's histograms are L1-normalised, square-rooted (Hellinger: the rare
directions count, not just the dominant one), L2-normalised, and the levels concatenated
and L2-normalised again, so two descriptors compare by 1 - cosine.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edgesig.errors import InvalidInputError

Grid = tuple[int, int]
#: an ink pixel of the normalised image (SDINet's are 0 on paper, up to 1 on ink)
INK = 0.1
#: LBP neighbours in bit order, clockwise from the top left
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
#: a neighbour counts as brighter only by this margin (anti-aliased edges are not noise)
LBP_MARGIN = 0.02


def _uniform_codes() -> np.ndarray:
    """8-bit LBP code -> uniform pattern index: 58 codes with at most two 0/1 transitions
    around the circle get their own index, every other code shares index 58."""
    table = np.full(256, 58, np.int64)
    k = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            table[code] = k
            k += 1
    return table


UNIFORM = _uniform_codes()
LBP_CODES = 59
#: ink above, below, left and right of a paper pixel as 4 bits; ink pixels get a 17th code
CONCAVITY_CODES = 17


@dataclass(frozen=True)
class DescriptorConfig:
    """What the manifest entry's ``params.descriptor`` holds. The defaults are the shipped
    1.1.0's layout (``python -m export offline pool descriptor``'s defaults): no LBP grids,
    which validated better as an ensemble member on 3 of 4 folds than 1.0.0's ``((1, 1), (2, 3))``."""

    bins: int = 12
    hog_grids: tuple[Grid, ...] = ((1, 1), (2, 3), (4, 6))
    lbp_grids: tuple[Grid, ...] = ()
    power: float = 0.5
    #: concavity grids (the ``concavity`` entry's; none in ``descriptor``'s)
    concavity_grids: tuple[Grid, ...] = ()

    @property
    def size(self) -> int:
        return (sum(h * w for h, w in self.hog_grids) * self.bins
                + sum(h * w for h, w in self.lbp_grids) * LBP_CODES
                + sum(h * w for h, w in self.concavity_grids) * CONCAVITY_CODES)

    def to_params(self) -> dict[str, Any]:
        """The entry's parameters; ``concavity_grids`` only where there are some, so that an entry
        made before concavity existed keeps its parameters and the fingerprint that pins it."""
        params: dict[str, Any] = {"bins": self.bins, "hog_grids": _listed(self.hog_grids),
                                  "lbp_grids": _listed(self.lbp_grids), "power": self.power}
        return params | ({"concavity_grids": _listed(self.concavity_grids)} if self.concavity_grids else {})

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "DescriptorConfig":
        return cls(int(params["bins"]), _grids(params["hog_grids"]), _grids(params["lbp_grids"]),
                   float(params["power"]), _grids(params.get("concavity_grids", ())))


def _listed(grids: tuple[Grid, ...]) -> list[list[int]]:
    return [list(g) for g in grids]


def _grids(spec: Any) -> tuple[Grid, ...]:
    return tuple((int(h), int(w)) for h, w in spec)


def ink_crop(image: np.ndarray) -> np.ndarray:
    """The normalised image cut to its ink's box (InvalidInputError when it holds no ink)."""
    ys, xs = np.nonzero(image > INK)
    if not len(ys):
        raise InvalidInputError("the normalised signature image holds no ink; pass the array that "
                                "edgesig.offline.prepare returns for a signature")
    return image[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _cells(ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int], grid: Grid) -> np.ndarray:
    """The grid cell index of each pixel, row-major."""
    gh, gw = grid
    return (ys * gh // shape[0]) * gw + xs * gw // shape[1]


def direction_histograms(crop: np.ndarray, bins: int, grids: tuple[Grid, ...]) -> list[np.ndarray]:
    """Per grid: magnitude-weighted unsigned gradient-direction histograms of its cells."""
    smooth = cv2.GaussianBlur(crop, (0, 0), 1.0)
    mag, ang = cv2.cartToPolar(cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3),
                               cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3))
    ys, xs = np.nonzero(mag > 1e-3)
    m = mag[ys, xs].astype(np.float64)
    pos = (ang[ys, xs] % np.pi) * (bins / np.pi)
    lo = np.floor(pos).astype(np.int64) % bins
    frac = pos - np.floor(pos)
    out = []
    for grid in grids:
        cell = _cells(ys, xs, crop.shape, grid) * bins
        n = grid[0] * grid[1] * bins
        out.append(np.bincount(cell + lo, m * (1 - frac), n) + np.bincount(cell + (lo + 1) % bins, m * frac, n))
    return out


def lbp_histograms(crop: np.ndarray, grids: tuple[Grid, ...]) -> list[np.ndarray]:
    """Per grid: uniform LBP histograms of its cells' pixels on or next to ink."""
    h, w = crop.shape
    pad = np.pad(cv2.GaussianBlur(crop, (3, 3), 0), 1)
    centre = pad[1:h + 1, 1:w + 1] + LBP_MARGIN
    code = np.zeros((h, w), np.uint8)
    for bit, (dy, dx) in enumerate(NEIGHBOURS):
        code |= (pad[1 + dy:h + 1 + dy, 1 + dx:w + 1 + dx] >= centre).view(np.uint8) << np.uint8(bit)
    near = cv2.dilate((crop > INK).astype(np.uint8), np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(near)
    u = UNIFORM[code[ys, xs]]
    return [np.bincount(_cells(ys, xs, crop.shape, g) * LBP_CODES + u, minlength=g[0] * g[1] * LBP_CODES)
            .astype(np.float64) for g in grids]


def concavity_histograms(crop: np.ndarray, grids: tuple[Grid, ...]) -> list[np.ndarray]:
    """Per grid: how many of its cells' pixels have each concavity code (GSC's concavity
    features, from the CEDAR group): for a paper pixel, whether ink lies above, below, left and
    right of it (enclosed loops, open bowls and the gaps between letters); ink pixels count
    as a 17th code, the cell's ink density. It describes the paper the strokes enclose,
    not the strokes."""
    if not grids:
        return []
    ink = crop > INK
    seen = [np.maximum.accumulate(ink, 0), np.maximum.accumulate(ink[::-1], 0)[::-1],
            np.maximum.accumulate(ink, 1), np.maximum.accumulate(ink[:, ::-1], 1)[:, ::-1]]
    code = np.where(ink, CONCAVITY_CODES - 1, sum(s.astype(np.int64) << i for i, s in enumerate(seen))).ravel()
    ys, xs = (a.ravel() for a in np.indices(crop.shape))
    return [np.bincount(_cells(ys, xs, crop.shape, g) * CONCAVITY_CODES + code,
                        minlength=g[0] * g[1] * CONCAVITY_CODES).astype(np.float64) for g in grids]


def unit_row(histograms: list[np.ndarray], power: float) -> np.ndarray:
    """The histograms as one unit-length row: each L1-normalised, raised to ``power`` and
    L2-normalised (so every grid level counts alike), then the whole L2-normalised."""
    parts = []
    for v in histograms:
        v = (v / max(float(v.sum()), 1e-12)) ** power
        parts.append(v / max(float(np.linalg.norm(v)), 1e-12))
    out = np.concatenate(parts)
    return out / np.linalg.norm(out)


def describe(image: np.ndarray, config: DescriptorConfig = DescriptorConfig()) -> np.ndarray:
    """The unit-length descriptor (float32, ``config.size``) of one normalised image (ink = 1)."""
    crop = ink_crop(np.asarray(image, np.float32))
    return unit_row(direction_histograms(crop, config.bins, config.hog_grids) + lbp_histograms(crop, config.lbp_grids)
                    + concavity_histograms(crop, config.concavity_grids), config.power).astype(np.float32)
