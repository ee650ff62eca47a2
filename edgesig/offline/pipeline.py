"""``prepare``: one call from a kiosk snapshot (or a scan) to a model-ready array.

Chains the stages in order — load, exposure check, sheet detection and unwarping, even
lighting, binarisation, removal of printed lines and of the caption printed under a
signature line (or under the signature), signature location, normalisation — and keeps
every intermediate image so a caller (or ``debug_dir``) can see what each stage did.
Failures that a customer can fix ("no signature found", "image too dark") are
ImageErrors with a ``reason`` attribute (see ``edgesig.offline.reasons``); notes that do
not stop the pipeline go to ``PreparedImage.reasons``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from edgesig.offline.capture import Capture, CaptureSignal, capture_signal
from edgesig.offline.clean import PAPER_LEVEL, check_exposure, even_out_light, ink_mask, line_evidence
from edgesig.offline.debug import draw_box, draw_quad, write_steps
from edgesig.offline.lines import LONG, caption_mask, caption_under, remove_lines
from edgesig.offline.load import ImageSource, load_image
from edgesig.offline.locate import Box, locate_signature
from edgesig.offline.normalize import normalize_crosswriter, normalize_sdinet
from edgesig.offline.reasons import image_error
from edgesig.offline.sheet import detect_sheet, sheet_size, unwarp

Target = Literal["sdinet", "crosswriter"]
TARGETS = ("sdinet", "crosswriter")
#: Long side of the unwarped sheet; SDINet sees 220 px, this leaves detail to spare.
MAX_SHEET_SIDE = 900
#: Gray pixels kept around the located ink so anti-aliased stroke edges survive the crop.
CROP_MARGIN = 3
#: How long (fraction of the width, of the height) a straight run must be to count as a
#: printed line when no sheet was found. The image may then be a tight crop of the
#: signature, where one stroke of a character spans a third of the width or half the
#: height (on 120 clean SVC2004 renders the sheet's thresholds erased ink in 33 % of
#: them, up to 63 % of a signature); a ruled or signature line a crop cuts through still
#: spans most of it. On flat form scans the signature box is found as well either way.
CROP_LINE_LONG = (0.6, 0.9)

NOTE_NO_SHEET = "sheet not found: used the whole image"
NOTE_AT_EDGE = "signature touches the edge of the sheet: it may be cut off"


@dataclass(frozen=True)
class PreparedImage:
    """A signature image ready for a model.

    ``array``: float32 model input (155 x 220 for "sdinet", 224 x 224 for "crosswriter"),
    ink bright, paper 0. ``box``: the signature in sheet pixels; ``sheet_size`` the
    unwarped sheet's (width, height); ``sheet_corners`` the sheet's TL, TR, BR, BL
    corners in the input image (None when the whole image was used). ``reasons``:
    non-fatal notes. ``steps``: the intermediate images, in pipeline order.
    ``signal``: how the image was captured, as measured (``edgesig.offline.capture``;
    None for an array built without the pipeline).
    """

    array: np.ndarray
    target: str
    box: Box
    sheet_size: tuple[int, int]
    sheet_corners: np.ndarray | None
    reasons: tuple[str, ...] = ()
    steps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    signal: CaptureSignal | None = None

    @property
    def capture(self) -> Capture | None:
        """"scan" or "camera", as the pipeline judged the image (None: not measured)."""
        return None if self.signal is None else self.signal.capture

    @property
    def box_normalized(self) -> tuple[float, float, float, float]:
        """The box in [0, 1] sheet coordinates (x0, y0, x1, y1)."""
        return self.box.normalized(*self.sheet_size)


def prepare(src: ImageSource, target: Target = "sdinet", *, color: Literal["bgr", "rgb"] = "bgr",
            aspect: float | None = None, debug_dir: str | Path | None = None) -> PreparedImage:
    """Run the whole offline pipeline on ``src`` (path, encoded bytes or array).

    ``aspect`` is the form's long/short side ratio when known (1.414 for A-series
    paper). With ``debug_dir`` every intermediate image is written there as numbered
    PNGs, also when a stage fails.
    """
    if target not in TARGETS:
        raise image_error("unknown target", f"{target!r}; use one of {', '.join(TARGETS)}")
    steps: dict[str, np.ndarray] = {}
    debug = debug_dir is not None
    try:
        return _run(src, target, color, aspect, steps, debug)
    finally:
        if debug:
            write_steps(steps, debug_dir)


def _run(src: ImageSource, target: str, color: Literal["bgr", "rgb"], aspect: float | None,
         steps: dict[str, np.ndarray], debug: bool) -> PreparedImage:
    img = load_image(src, color)
    steps["input"] = img
    gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    check_exposure(gray)
    reasons = []
    corners = detect_sheet(img)
    signal = capture_signal(gray, corners is not None)
    if corners is None:
        reasons.append(NOTE_NO_SHEET)
        sheet = _cap_size(gray)
    else:
        if debug:
            steps["sheet_outline"] = draw_quad(img, corners)
        sheet = unwarp(gray, corners, sheet_size(corners, aspect=aspect, max_side=MAX_SHEET_SIDE))
    steps["sheet"] = sheet
    even = even_out_light(sheet)
    steps["even_light"] = even
    binary = ink_mask(even)
    steps["binary"] = binary
    removal = remove_lines(binary, evidence=line_evidence(even), long=LONG if corners is not None else CROP_LINE_LONG,
                           sheet=corners is not None)
    printed = cv2.bitwise_or(removal.lines, caption_mask(removal.binary, removal.segments))
    steps["lines"] = printed
    signature = cv2.bitwise_and(removal.binary, cv2.bitwise_not(printed))
    steps["without_lines"] = signature
    box = locate_signature(signature)
    trailing = caption_under(signature, box, removal.segments)
    if trailing.any():  # a caption under the signature, found by the signature above it, joined its box
        printed = steps["lines"] = cv2.bitwise_or(printed, trailing)
        signature = steps["without_lines"] = cv2.bitwise_and(signature, cv2.bitwise_not(trailing))
        box = locate_signature(signature)
    if debug:
        steps["box"] = draw_box(even, (box.x0, box.y0, box.x1, box.y1))
    h, w = sheet.shape
    if box.x0 == 0 or box.y0 == 0 or box.x1 == w or box.y1 == h:
        reasons.append(NOTE_AT_EDGE)
    region = box.padded(CROP_MARGIN, sheet.shape)
    crop = even[region.slices].copy()
    crop[printed[region.slices] > 0] = PAPER_LEVEL
    steps["crop"] = crop
    array = normalize_sdinet(crop) if target == "sdinet" else normalize_crosswriter(crop)
    steps["normalized"] = array
    return PreparedImage(array=array, target=target, box=box, sheet_size=(w, h), sheet_corners=corners,
                         reasons=tuple(reasons), steps=steps, signal=signal)


def _cap_size(gray: np.ndarray) -> np.ndarray:
    """Shrink an image without a sheet to the working size; later stages scale with it."""
    h, w = gray.shape
    scale = MAX_SHEET_SIDE / max(h, w)
    if scale >= 1.0:
        return gray
    return cv2.resize(gray, (max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)),
                      interpolation=cv2.INTER_AREA)
