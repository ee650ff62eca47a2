"""sheet: detect_sheet finds the paper's corners in synthetic kiosk photos (tilted up to
30 degrees, shadows, wood/cloth/desk), returns None when there is no sheet to find, and
unwarp maps the quadrilateral onto the requested rectangle, pixel-exactly."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from edgesig.offline.sheet import Sheet, detect_sheet, find_sheet, sheet_size, unwarp
from tests.offline.images import blank_sheet_photo, photo, signature_scan

#: Poses and surroundings, each photographed with two seeds. Corner errors measured over
#: 8 seeds each: at most 0.06 % of the photo diagonal (under 1 px at 1280 x 960).
POSES = {
    "flat-wood": dict(roll_deg=0.0, tilt_deg=0.0, background="wood", shadow=0.0),
    "roll20-cloth-shadow": dict(roll_deg=20.0, tilt_deg=10.0, background="cloth", shadow=0.4),
    "tilt30-desk-shadow": dict(roll_deg=-25.0, tilt_deg=30.0, tilt_axis_deg=45.0, background="desk", shadow=0.3),
    "roll30-tilt25-wood-shadow": dict(roll_deg=30.0, tilt_deg=25.0, tilt_axis_deg=120.0, background="wood",
                                      shadow=0.5),
    "tilt30-cloth-dim-side": dict(roll_deg=-10.0, tilt_deg=30.0, tilt_axis_deg=270.0, background="cloth",
                                  light_gradient=0.5, shadow=0.0),
    "a5-large-desk": dict(roll_deg=5.0, tilt_deg=15.0, sheet="A5", fill=0.85, background="desk", shadow=0.0),
    "roll-30-small-desk-shadow": dict(roll_deg=-30.0, tilt_deg=20.0, tilt_axis_deg=200.0, fill=0.5,
                                      background="desk", shadow=0.5),
}
#: Allowed corner error, as a fraction of the sheet's diagonal in the photo.
CORNER_TOLERANCE = 0.01


def sheet_diagonal(corners: np.ndarray) -> float:
    return float(max(np.linalg.norm(corners[2] - corners[0]), np.linalg.norm(corners[3] - corners[1])))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("pose", list(POSES))
def test_detect_sheet_finds_the_corners(pose: str, seed: int) -> None:
    index = list(POSES).index(pose)
    shot = photo(100 * index + seed, **POSES[pose])
    corners = detect_sheet(shot.photo)
    assert corners is not None, f"{pose}: sheet not found"
    assert corners.shape == (4, 2) and corners.dtype == np.float32
    # Same order as the ground truth: TL, TR, BR, BL.
    error = float(np.abs(corners - shot.corners).max())
    assert error < CORNER_TOLERANCE * sheet_diagonal(shot.corners), f"{pose}: corner error {error:.1f} px"


def test_detect_sheet_works_on_gray_photos_too() -> None:
    shot = photo(7, **POSES["roll20-cloth-shadow"])
    corners = detect_sheet(cv2.cvtColor(shot.photo, cv2.COLOR_BGR2GRAY))
    assert corners is not None
    assert np.abs(corners - shot.corners).max() < CORNER_TOLERANCE * sheet_diagonal(shot.corners)


@pytest.mark.parametrize("seed", [0, 1])
def test_unsigned_form_on_a_table_is_found(seed: int) -> None:
    img, truth = blank_sheet_photo(seed)
    corners = detect_sheet(img)
    assert corners is not None
    assert np.abs(corners - truth).max() < 1.0  # measured 0.25-0.45 px


def test_detection_is_fast() -> None:
    shot = photo(5, **POSES["tilt30-desk-shadow"])
    detect_sheet(shot.photo)
    start = time.process_time()
    for _ in range(5):
        detect_sheet(shot.photo)
    per_call = (time.process_time() - start) / 5
    assert per_call < 0.1  # measured ~5 ms on a 1280 x 960 photo


# --- nothing to find --------------------------------------------------------------------------

def textures(seed: int) -> dict[str, np.ndarray]:
    """Surfaces with no sheet on them: wood-like stripes, a woven cloth, a plain gradient."""
    rng = np.random.default_rng(seed)
    h, w = 480, 640
    rows = np.arange(h, dtype=np.float32)[:, None]
    wave = cv2.resize(rng.standard_normal((6, 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    wood = 110 + 30 * np.sin((rows + 15 * wave) / 9.0) + rng.normal(0, 4, (h, w))
    wood_bgr = np.stack([0.45 * wood, 0.75 * wood, wood], axis=2)
    weave = cv2.resize(rng.standard_normal((h // 2, w // 2)).astype(np.float32), (w, h),
                       interpolation=cv2.INTER_NEAREST)
    cloth = np.stack([60 + 8 * weave, 80 + 8 * weave, 140 + 8 * weave], axis=2)
    gradient = np.tile(np.linspace(40, 200, w, dtype=np.float32), (h, 1))
    return {name: np.clip(img, 0, 255).astype(np.uint8) for name, img in
            (("wood", wood_bgr), ("cloth", cloth), ("gradient", gradient))}


@pytest.mark.parametrize("name", ["wood", "cloth", "gradient"])
def test_no_sheet_on_plain_textures(name: str) -> None:
    for seed in (0, 1):
        assert detect_sheet(textures(seed)[name]) is None


def test_no_sheet_in_a_scan_that_is_all_paper() -> None:
    for seed in (0, 1, 2):
        scan, _ = signature_scan(seed)
        assert detect_sheet(scan) is None
        assert detect_sheet(cv2.cvtColor(scan, cv2.COLOR_GRAY2BGR)) is None


def test_no_sheet_when_the_photo_is_cropped_inside_the_paper() -> None:
    shot = photo(3, roll_deg=0.0, tilt_deg=0.0)
    x0, y0 = np.ceil(shot.corners.min(axis=0)).astype(int) + 15
    x1, y1 = np.floor(shot.corners.max(axis=0)).astype(int) - 15
    crop = np.ascontiguousarray(shot.photo[y0:y1, x0:x1])
    assert detect_sheet(crop) is None
    sheet = find_sheet(crop)
    assert not sheet.found and sheet.corners is None and sheet.image is crop


# --- find_sheet / unwarp ----------------------------------------------------------------------

def test_find_sheet_unwarps_to_the_form_aspect_and_size() -> None:
    shot = photo(11, **POSES["tilt30-desk-shadow"])
    sheet = find_sheet(shot.photo, aspect=148 / 105, max_side=600)
    assert isinstance(sheet, Sheet) and sheet.found
    h, w = sheet.image.shape[:2]
    assert sheet.image.ndim == 3 and max(h, w) == 600
    assert w / h == pytest.approx(148 / 105, rel=0.01)
    # The unwarped sheet is paper all the way to its edges: no table left in it.
    gray = cv2.cvtColor(sheet.image, cv2.COLOR_BGR2GRAY)
    edges = np.concatenate([gray[2, 10:-10], gray[-3, 10:-10], gray[10:-10, 2], gray[10:-10, -3]])
    assert np.percentile(edges, 5) > np.percentile(gray, 50) * 0.6


def test_sheet_size_follows_the_measured_sides() -> None:
    corners = np.array([[0, 0], [300, 0], [300, 200], [0, 200]], np.float32)
    assert sheet_size(corners) == (300, 200)
    assert sheet_size(corners, max_side=150) == (150, 100)
    w, h = sheet_size(corners, aspect=2.0)
    assert w / h == pytest.approx(2.0, rel=0.01) and w * h == pytest.approx(300 * 200, rel=0.02)
    portrait = np.array([[0, 0], [200, 0], [200, 300], [0, 300]], np.float32)
    w, h = sheet_size(portrait, aspect=2.0)
    assert h / w == pytest.approx(2.0, rel=0.01)  # the long side stays the height


def warped_pattern() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pattern 120 x 180, photo 400 x 560 it was warped into, the quadrilateral's corners)."""
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 255, (12, 18)).astype(np.uint8)
    pattern = cv2.GaussianBlur(cv2.resize(blocks, (180, 120), interpolation=cv2.INTER_NEAREST), (0, 0), 1.5)
    corners = np.array([[100.3, 80.7], [420.2, 60.1], [450.9, 300.4], [90.6, 330.2]], np.float32)
    src = np.array([[0, 0], [180, 0], [180, 120], [0, 120]], np.float32) - 0.5  # continuous -> pixel centres
    hom = cv2.getPerspectiveTransform(src, corners - 0.5)
    return pattern, cv2.warpPerspective(pattern, hom, (560, 400), flags=cv2.INTER_CUBIC), corners


def test_unwarp_inverts_the_perspective_pixel_exactly() -> None:
    pattern, img, corners = warped_pattern()
    back = unwarp(img, corners, (180, 120))
    assert back.shape == (120, 180) and back.dtype == np.uint8
    inner = (slice(5, -5), slice(5, -5))
    error = np.abs(back.astype(int) - pattern)[inner].mean()
    assert error < 1.5  # measured 0.77
    shifted = unwarp(img, corners + np.float32([1.0, 0.0]), (180, 120))
    assert np.abs(shifted.astype(int) - pattern)[inner].mean() > 2 * error  # a 1 px error would show


@pytest.mark.parametrize("size", [(180, 120), (45, 30), (400, 100), (17, 300)])
def test_unwarp_gives_the_requested_size(size: tuple[int, int]) -> None:
    _, img, corners = warped_pattern()
    out = unwarp(img, corners, size)
    assert out.shape == (size[1], size[0])
    colour = unwarp(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), corners, size)
    assert colour.shape == (size[1], size[0], 3)


def test_unwarp_of_a_photo_puts_the_signature_where_the_ground_truth_says() -> None:
    shot = photo(21, **POSES["roll30-tilt25-wood-shadow"])
    h, w = shot.sheet.shape[:2]
    flat = cv2.cvtColor(unwarp(shot.photo, shot.corners, (w, h)), cv2.COLOR_BGR2GRAY)
    x0, y0, x1, y1 = (int(round(v)) for v in np.array(shot.box) * [w, h, w, h])
    inside, paper = flat[y0:y1, x0:x1], np.median(flat)
    assert inside.min() < paper - 60  # the signature's ink is in its box
