"""Was this image a flat scan or a camera photo? The pipeline decides from what it measured.

A flatbed scan (or a clean image) and a kiosk or phone photo of the same signature give
an image engine different distances, so an operating point per capture is the obvious
cure for one global threshold that serves neither well. ``PreparedImage.capture`` reports
the capture so that a threshold (or an integrator's own handling) can key on it;
``benchmarks/capture_thresholds.py`` judged per-capture thresholds for the ``auto``
ensemble on validation writers, and they did not win (benchmarks/RESULTS_offline_pool.md),
so no engine applies one yet.

The signal uses only what the pipeline already has, never where an image came from:

* a sheet found against its surroundings: a photo (a flatbed scan is the page);
* otherwise the paper's gray levels: a scanner lights the page evenly and brightly, a
  camera sees gray, unevenly lit, noisy paper. The image is a camera photo when the
  paper's median gray level is below ``GRAY_PAPER``, or its 90th percentile lies
  ``PAPER_SPREAD`` or more levels above the median (ink covers under 10 % of a signature
  image, so both percentiles are paper).

The two thresholds were chosen on fold 0's training writers (every CEDAR scan of theirs,
and four genuine signatures of each online writer rendered clean, scanned and photographed
by ``edgesig.synth.render``) by the fewest misread images (``benchmarks/capture_thresholds.py
signal 0 --part train --choose``); ``signal`` measures the confusion on validation and test
writers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgesig.offline.clean import histogram

Capture = Literal["scan", "camera"]
CAPTURES: tuple[Capture, ...] = ("scan", "camera")
#: Paper whose median gray level is below this was photographed (a scanner's is brighter).
GRAY_PAPER = 223
#: Paper whose 90th percentile is this many levels above its median was photographed
#: (uneven light and sensor noise; a scanner's paper varies by a few levels).
PAPER_SPREAD = 12


@dataclass(frozen=True)
class CaptureSignal:
    """What the pipeline measured, and the capture it implies (``capture``)."""

    sheet_found: bool
    paper_level: int     # median gray level of the image
    paper_spread: int    # 90th percentile minus the median

    @property
    def capture(self) -> Capture:
        return self.judged()

    def judged(self, gray_paper: int = GRAY_PAPER, paper_spread: int = PAPER_SPREAD) -> Capture:
        """The capture under the given thresholds (the shipped ones by default; the benchmark
        that chose them tries others)."""
        photo = self.sheet_found or self.paper_level < gray_paper or self.paper_spread >= paper_spread
        return "camera" if photo else "scan"


def capture_signal(gray: np.ndarray, sheet_found: bool) -> CaptureSignal:
    """The signal of a gray input image (before unwarping) whose sheet was or was not found."""
    cdf = np.cumsum(histogram(gray))
    cdf /= max(float(cdf[-1]), 1.0)
    median, p90 = (int(np.searchsorted(cdf, q)) for q in (0.5, 0.9))
    return CaptureSignal(sheet_found, median, p90 - median)

