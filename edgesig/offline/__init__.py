"""Offline mode: from a photo or scan of a signed sheet to a model-ready signature array.

Stages, one module each, each usable alone: ``load`` (any input to uint8 gray/BGR),
``sheet`` (find and unwarp the paper), ``clean`` (exposure, lighting, binarisation),
``lines`` (printed lines and boxes), ``locate`` (the signature's box), ``normalize`` (SDINet and cross-writer
inputs), ``debug`` (intermediate PNGs); ``pipeline.prepare`` chains them. Only OpenCV
and numpy: this runs on the kiosk.
"""
from edgesig.offline.clean import binarize_otsu, check_exposure, even_out_light, ink_mask, line_evidence
from edgesig.offline.lines import LineRemoval, remove_lines
from edgesig.offline.load import decode_image, load_image
from edgesig.offline.locate import Box, ink_box, iou, locate_signature
from edgesig.offline.normalize import (CROSSWRITER_SHAPE, SDINET_SHAPE, moment_normalize, normalize_crosswriter,
                                       normalize_sdinet)
from edgesig.offline.pipeline import PreparedImage, prepare
from edgesig.offline.reasons import NO_SIGNATURE, TOO_DARK, reason_of
from edgesig.offline.sheet import Sheet, detect_sheet, find_sheet, unwarp

__all__ = [
    "Box", "CROSSWRITER_SHAPE", "LineRemoval", "NO_SIGNATURE", "PreparedImage", "SDINET_SHAPE", "Sheet",
    "TOO_DARK", "binarize_otsu", "check_exposure", "decode_image", "detect_sheet", "even_out_light",
    "find_sheet", "ink_box", "ink_mask", "line_evidence", "iou", "load_image", "locate_signature", "moment_normalize",
    "normalize_crosswriter", "normalize_sdinet", "prepare", "reason_of", "remove_lines", "unwarp",
]
