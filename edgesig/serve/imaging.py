"""Kiosk images: data URLs in, the detected sheet and signature box out, and the
explanation heatmap of a decision drawn from the stored template.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np

from edgesig.engines.base import Engine
from edgesig.engines.pair_image import PairImageEngine
from edgesig.errors import ImageError
from edgesig.offline import PreparedImage, load_image, prepare
from edgesig.offline.flow import explain_arrays

DATA_URL_PREFIX = "data:image/"
#: The normalisation whose images the optical-flow explanation reads.
EXPLAINED_TARGET = "sdinet"


def decode_data_url(value: Any, what: str = "image") -> bytes:
    """The bytes of a ``data:image/...;base64,...`` URL (what a canvas or file reader gives)."""
    if not isinstance(value, str) or not value.startswith(DATA_URL_PREFIX) or ";base64," not in value[:64]:
        raise ImageError(f"the {what} must be a data:image/...;base64,... URL (canvas.toDataURL or "
                         "FileReader.readAsDataURL), got " + type(value).__name__)
    try:
        return base64.b64decode(value.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(f"the {what}'s base64 data is corrupt; send the data URL as the browser made it") from None


def data_url(encoded: bytes, kind: str) -> str:
    """``encoded`` (a PNG or JPEG file's bytes) as a data URL an <img> shows."""
    return f"data:image/{kind};base64," + base64.b64encode(encoded).decode("ascii")


@dataclass(frozen=True)
class Overlay:
    """Where the pipeline found the sheet and the signature, in photo pixels.

    ``sheet`` is the sheet's TL, TR, BR, BL corners (None when no sheet was found and
    the whole photo was used); ``box`` the signature box's four corners, mapped back
    through the sheet's perspective so it can be drawn over the photo.
    """

    width: int
    height: int
    sheet: list[list[float]] | None
    box: list[list[float]]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "sheet": self.sheet, "box": self.box,
                "notes": list(self.notes)}


def locate(image: bytes) -> Overlay:
    """Run the offline pipeline on a photo and say what it found (ImageError if nothing)."""
    height, width = load_image(image).shape[:2]
    found = prepare(image)
    return Overlay(width, height, _sheet(found), _box_in_photo(found, width, height), found.reasons)


def _sheet(found: PreparedImage) -> list[list[float]] | None:
    return None if found.sheet_corners is None else np.asarray(found.sheet_corners, float).tolist()


def _box_in_photo(found: PreparedImage, width: int, height: int) -> list[list[float]]:
    """The box's corners in the photo: its [0, 1] sheet coordinates (see ``unwarp``) sent
    through the homography from the unit square to the sheet's corners."""
    x0, y0, x1, y1 = found.box_normalized
    unit = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    if found.sheet_corners is None:
        return (unit * np.float32([width, height])).tolist()
    square = np.float32([[0, 0], [1, 0], [1, 1], [0, 1]])
    hom = cv2.getPerspectiveTransform(square, np.asarray(found.sheet_corners, np.float32))
    return cv2.perspectiveTransform(unit[None], hom)[0].tolist()


def explained_arrays(engine: Engine, samples: Sequence[np.ndarray]) -> list[np.ndarray] | None:
    """The SDINet-normalised images inside ``engine``'s prepared samples (those of an engine
    that stores them, SDINet or SigEmbed; an ensemble's such member's part), or None when it
    holds none."""
    if _stores_explained_images(engine):
        return list(samples)
    for i, member in enumerate(getattr(engine, "members", ())):
        if _stores_explained_images(member.engine):
            return [engine.split(s)[i] for s in samples]
    return None


def _stores_explained_images(engine: Engine) -> bool:
    return isinstance(engine, PairImageEngine) and engine.target == EXPLAINED_TARGET


def heatmap(engine: Engine, references: Sequence[np.ndarray], query: np.ndarray) -> str | None:
    """The optical-flow explanation of ``query`` against the stored references as a PNG
    data URL; None when the image engine keeps no SDINet image to explain with."""
    arrays = explained_arrays(engine, [*references, query])
    if arrays is None:
        return None
    image, _ = explain_arrays(arrays[:-1], arrays[-1])
    _, png = cv2.imencode(".png", image)  # uint8 BGR: never fails
    return data_url(png.tobytes(), "png")
