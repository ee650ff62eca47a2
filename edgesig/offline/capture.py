"""Was this image a flat scan or a camera photo? The pipeline decides from what it measured.

An image engine's operating point depends on the capture: a flatbed scan (or a clean
image) and a kiosk or phone photo of the same signature give different distances, and
one global threshold, fitted on both pooled, rejected a quarter of genuine CEDAR scans
(``benchmarks/capture_thresholds.py``). Engines whose manifest entry holds one calibration
per capture (``params.captures``) apply the one this signal names, unless the integrator
says which capture it is (``Verifier.verify_image(..., capture=...)``).

The signal uses only what the pipeline already has, never where an image came from:

* a sheet found against its surroundings: a photo (a flatbed scan is the page);
* otherwise the paper's gray levels: a scanner lights the page evenly and brightly, a
  camera sees gray, unevenly lit, noisy paper. The image is a camera photo when the
  paper's median gray level is below ``GRAY_PAPER``, or its 90th percentile lies
  ``PAPER_SPREAD`` or more levels above the median (ink covers under 10 % of a signature
  image, so both percentiles are paper).

The two thresholds were chosen on fold 0's training writers (CEDAR scans, and online
signatures rendered clean, scanned and photographed by ``edgesig.synth.render``) by the
fewest misread images; ``benchmarks/capture_thresholds.py signal`` measures the confusion
on validation and test writers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgesig.errors import InvalidInputError
from edgesig.offline.clean import histogram

Capture = Literal["scan", "camera"]
CAPTURES: tuple[Capture, ...] = ("scan", "camera")
#: Paper whose median gray level is below this was photographed (a scanner's is brighter).
GRAY_PAPER = 222
#: Paper whose 90th percentile is this many levels above its median was photographed
#: (uneven light and sensor noise; a scanner's paper varies by a few levels).
PAPER_SPREAD = 11


@dataclass(frozen=True)
class CaptureSignal:
    """What the pipeline measured, and the capture it implies (``capture``)."""

    sheet_found: bool
    paper_level: int     # median gray level of the image
    paper_spread: int    # 90th percentile minus the median

    @property
    def capture(self) -> Capture:
        photo = self.sheet_found or self.paper_level < GRAY_PAPER or self.paper_spread >= PAPER_SPREAD
        return "camera" if photo else "scan"


def capture_signal(gray: np.ndarray, sheet_found: bool) -> CaptureSignal:
    """The signal of a gray input image (before unwarping) whose sheet was or was not found."""
    cdf = np.cumsum(histogram(gray))
    cdf /= max(float(cdf[-1]), 1.0)
    median, p90 = (int(np.searchsorted(cdf, q)) for q in (0.5, 0.9))
    return CaptureSignal(sheet_found, median, p90 - median)


def check_capture(capture: str | None) -> Capture | None:
    """``capture`` if it names one of ``CAPTURES`` (or is None: let the pipeline decide)."""
    if capture is not None and capture not in CAPTURES:
        raise InvalidInputError(f"capture must be one of {', '.join(CAPTURES)} (or None to let the image "
                                f"pipeline decide), got {capture!r}")
    return capture
