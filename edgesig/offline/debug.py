"""Write the pipeline's intermediate images so a failure can be seen, not guessed.

When a kiosk rejects a signature in the field, the first question is which stage went
wrong: the sheet outline, the lighting, the lines, the box. ``prepare(debug_dir=...)``
writes every stage as a numbered PNG in order, with the detected sheet outline and
signature box drawn on the images they were found in.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgesig.errors import ImageError

_GREEN, _RED = (0, 200, 0), (0, 0, 255)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """A displayable uint8 image: floats in [0, 1] are scaled to 0..255."""
    if img.dtype == np.uint8:
        return img
    return np.clip(img.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def draw_quad(img: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """``img`` in colour with the quadrilateral ``corners`` (continuous coordinates) drawn."""
    out = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img.copy()
    pts = np.round((corners - 0.5) * 4).astype(np.int32).reshape(-1, 1, 2)
    thickness = max(2, max(img.shape[:2]) // 400)
    cv2.polylines(out, [pts], True, _GREEN, thickness, cv2.LINE_AA, shift=2)
    cv2.circle(out, tuple(int(v) for v in np.round(corners[0] - 0.5)), 3 * thickness, _RED, -1, cv2.LINE_AA)
    return out


def draw_box(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``img`` in colour with the half-open pixel box (x0, y0, x1, y1) outlined."""
    out = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img.copy()
    x0, y0, x1, y1 = box
    cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), _RED, max(1, max(img.shape[:2]) // 500))
    return out


def write_steps(steps: dict[str, np.ndarray], debug_dir: str | Path) -> list[Path]:
    """Write ``steps`` in order as ``NN_name.png`` under ``debug_dir``; the paths written."""
    folder = Path(debug_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(f"cannot create the debug folder {folder}: {exc.strerror or exc}") from None
    written = []
    for i, (name, img) in enumerate(steps.items(), start=1):
        path = folder / f"{i:02d}_{name}.png"
        ok, buf = cv2.imencode(".png", to_uint8(img))
        try:
            if not ok:
                raise OSError("PNG encoding failed")
            path.write_bytes(buf.tobytes())
        except OSError as exc:
            raise ImageError(f"cannot write debug image {path}: {exc}") from None
        written.append(path)
    return written
