"""The pipeline's capture signal: flat scans and clean images are "scan", photos "camera"."""
from __future__ import annotations

import numpy as np

from edgesig.offline import prepare
from edgesig.offline.capture import GRAY_PAPER, PAPER_SPREAD, CaptureSignal, capture_signal
from edgesig.synth.render import RenderStyle, render
from tests.offline.images import random_photo, signature_mask
from tests.offline.pens import scribble


def _render(seed: int, **style: object) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return render(scribble(rng), rng, style=RenderStyle(**style))


def test_a_binarised_flat_scan_is_a_scan() -> None:
    """CEDAR's scans: black ink on paper the scanner made pure white."""
    page = np.full((300, 500), 255, np.uint8)
    ink = signature_mask(3)
    page[40:40 + ink.shape[0], 30:30 + ink.shape[1]][ink > 0] = 20
    assert prepare(page).capture == "scan"


def test_a_clean_render_is_a_scan_and_a_photographed_one_a_camera() -> None:
    clean = _render(1)  # the renderer's default: a clean ballpoint scan, grainy paper
    photo = _render(1, contrast=0.7, light_gradient=0.3, noise_sigma=5.0, blur_sigma=1.0, jpeg_quality=60)
    assert capture_signal(clean, False).capture == "scan"
    assert capture_signal(photo, False).capture == "camera"
    assert prepare(photo).signal == capture_signal(photo, False)


def test_a_form_photographed_on_a_counter_is_a_camera_photo() -> None:
    prepared = prepare(random_photo(0).photo)
    assert prepared.signal.sheet_found and prepared.capture == "camera"


def test_either_gray_or_uneven_paper_makes_a_photo() -> None:
    assert CaptureSignal(False, GRAY_PAPER, PAPER_SPREAD - 1).capture == "scan"
    assert CaptureSignal(False, GRAY_PAPER - 1, 0).capture == "camera"
    assert CaptureSignal(False, 250, PAPER_SPREAD).capture == "camera"
    assert CaptureSignal(True, 250, 0).capture == "camera"
