"""prepare(): kiosk photo to model input, end to end on synthetic photos with known
ground truth; debug images for every stage, also when one fails; clear refusals."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesig.errors import ImageError
from edgesig.offline.clean import PAPER_LEVEL
from edgesig.offline.locate import iou
from edgesig.offline.pipeline import (CROP_MARGIN, MAX_SHEET_SIDE, NOTE_AT_EDGE, NOTE_NO_SHEET, PreparedImage,
                                      prepare)
from edgesig.offline.reasons import NO_SIGNATURE, TOO_DARK, reason_of
from edgesig.synth.sheet_photo import SheetPhoto
from tests.offline.images import blank_sheet_photo, random_photo, signature_scan

#: Photos with random SheetStyle (layout, pose up to 30 degrees, light, shadow, background).
SEEDS = range(12)
#: Measured on SEEDS (PYTHONPATH=. python -m pytest tests/offline/test_pipeline.py):
#: mean IoU 0.974, worst 0.943; sheet corners within 0.11 % of the sheet diagonal.
MIN_MEAN_IOU, MIN_IOU = 0.95, 0.92
#: A wider survey, seeds 0-39: 38 of 40 photos boxed with IoU >= 0.8, mean 0.940 (seed 13:
#: a shadowed sheet is not found; seed 36: a ruled line through the signature is kept).
SURVEY, SURVEY_MIN_GOOD, SURVEY_MIN_MEAN = range(40), 37, 0.92


@lru_cache(maxsize=None)
def shot(seed: int) -> SheetPhoto:
    return random_photo(seed)


@lru_cache(maxsize=None)
def prepared(seed: int) -> PreparedImage:
    return prepare(shot(seed).photo)


def sheet_diagonal(corners: np.ndarray) -> float:
    return float(np.linalg.norm(corners[2] - corners[0]))


def test_prepare_boxes_the_signature_on_synthetic_photos() -> None:
    ious = []
    for seed in SEEDS:
        truth, result = shot(seed), prepared(seed)
        assert result.sheet_corners is not None, f"seed {seed}: sheet not found"
        error = np.abs(result.sheet_corners - truth.corners).max()
        assert error < 0.01 * sheet_diagonal(truth.corners), f"seed {seed}: corners off by {error:.1f} px"
        assert result.reasons == ()
        ious.append(iou(result.box_normalized, truth.box))
    assert np.mean(ious) >= MIN_MEAN_IOU, f"IoUs {np.round(ious, 3)}"
    assert min(ious) >= MIN_IOU, f"IoUs {np.round(ious, 3)}"


def test_prepare_survey_of_forty_photos() -> None:
    ious = []
    for seed in SURVEY:
        try:
            ious.append(iou(prepared(seed).box_normalized, shot(seed).box))
        except ImageError:
            ious.append(0.0)
    ious = np.array(ious)
    assert (ious >= 0.8).sum() >= SURVEY_MIN_GOOD, f"IoUs {np.round(ious, 3)}"
    assert ious.mean() >= SURVEY_MIN_MEAN


def test_both_targets_give_their_shapes_from_the_same_box() -> None:
    photo = shot(4).photo
    sdinet, cross = prepare(photo, "sdinet"), prepare(photo, target="crosswriter")
    assert sdinet.target == "sdinet" and sdinet.array.shape == (155, 220)
    assert cross.target == "crosswriter" and cross.array.shape == (224, 224)
    for result in (sdinet, cross):
        assert result.array.dtype == np.float32
        assert result.array.min() >= 0.0 and result.array.max() <= 1.0
        assert result.array[0, 0] == 0.0 and result.array.max() > 0.8  # paper 0, ink bright
    assert sdinet.box == cross.box and sdinet.sheet_size == cross.sheet_size


def test_prepared_image_fields_are_consistent() -> None:
    result = prepared(2)
    w, h = result.sheet_size
    assert max(w, h) <= MAX_SHEET_SIDE
    assert result.steps["sheet"].shape == (h, w)
    assert 0 <= result.box.x0 < result.box.x1 <= w and 0 <= result.box.y0 < result.box.y1 <= h
    assert result.box_normalized == (result.box.x0 / w, result.box.y0 / h, result.box.x1 / w, result.box.y1 / h)
    assert list(result.steps) == ["input", "sheet", "even_light", "binary", "lines", "without_lines", "crop",
                                  "normalized"]  # without debug_dir no drawings are made
    np.testing.assert_array_equal(result.steps["normalized"], result.array)


def test_printed_lines_are_blanked_out_of_the_crop() -> None:
    seed = next(s for s in SURVEY if np.count_nonzero(prepared(s).steps["lines"][prepared(s).box.slices]))
    result = prepared(seed)
    region = result.box.padded(CROP_MARGIN, result.steps["sheet"].shape)
    lines = result.steps["lines"][region.slices] > 0
    assert lines.any()
    assert np.all(result.steps["crop"][lines] == PAPER_LEVEL)


def test_sheet_aspect_can_be_given() -> None:
    truth = shot(5)
    result = prepare(truth.photo, aspect=148 / 105)
    w, h = result.sheet_size
    assert max(w, h) / min(w, h) == pytest.approx(148 / 105, rel=0.01)
    assert iou(result.box_normalized, truth.box) >= 0.9


def test_input_forms_give_the_same_result(tmp_path: Path) -> None:
    photo = shot(6).photo
    expected = prepared(6)
    ok, png = cv2.imencode(".png", photo)
    path = tmp_path / "snapshot.png"
    path.write_bytes(png.tobytes())
    for result in (prepare(png.tobytes()), prepare(path), prepare(str(path)),
                   prepare(np.ascontiguousarray(photo[:, :, ::-1]), color="rgb")):
        assert result.box == expected.box
        np.testing.assert_array_equal(result.array, expected.array)


def test_gray_photo_works_too() -> None:
    truth = shot(7)
    result = prepare(cv2.cvtColor(truth.photo, cv2.COLOR_BGR2GRAY))
    assert result.sheet_corners is not None
    assert iou(result.box_normalized, truth.box) >= 0.9


def test_scan_without_a_sheet_uses_the_whole_image() -> None:
    scan, ink = signature_scan(3)
    big = cv2.resize(scan, None, fx=10, fy=10, interpolation=cv2.INTER_LINEAR)  # a high-resolution flatbed scan
    result = prepare(big)
    assert result.sheet_corners is None and NOTE_NO_SHEET in result.reasons
    assert max(result.sheet_size) == MAX_SHEET_SIDE  # shrunk to the working size
    ys, xs = np.nonzero(ink)
    h, w = ink.shape
    truth = (xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h)
    assert iou(result.box_normalized, truth) >= 0.85


def test_signature_at_the_edge_is_noted() -> None:
    scan, ink = signature_scan(2)
    ys, xs = np.nonzero(ink)
    cut = np.ascontiguousarray(scan[:, xs.min() + 15:])  # the signature runs off the left edge
    result = prepare(cut)
    assert NOTE_AT_EDGE in result.reasons and result.box.x0 == 0


# --- refusals ---------------------------------------------------------------------------------

def test_unknown_target_raises() -> None:
    with pytest.raises(ImageError) as info:
        prepare(shot(0).photo, target="resnet")  # type: ignore[arg-type]
    assert reason_of(info.value) == "unknown target"
    assert "sdinet" in str(info.value) and "crosswriter" in str(info.value)


def test_blank_sheet_has_no_signature() -> None:
    photo, _ = blank_sheet_photo(0)
    with pytest.raises(ImageError) as info:
        prepare(photo)
    assert reason_of(info.value) == NO_SIGNATURE


def test_black_frame_is_too_dark() -> None:
    with pytest.raises(ImageError) as info:
        prepare(np.zeros((480, 640, 3), np.uint8))
    assert reason_of(info.value) == TOO_DARK


def test_garbage_input_is_refused_cleanly() -> None:
    with pytest.raises(ImageError):
        prepare(b"definitely not a photo")
    with pytest.raises(ImageError):
        prepare(np.zeros((10, 10, 2), np.uint8))


# --- debug_dir --------------------------------------------------------------------------------

def written(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_debug_dir_gets_a_numbered_png_for_every_step(tmp_path: Path) -> None:
    folder = tmp_path / "debug" / "run1"  # created as needed
    result = prepare(shot(8).photo, debug_dir=folder)
    names = ["input", "sheet_outline", "sheet", "even_light", "binary", "lines", "without_lines", "box", "crop",
             "normalized"]
    assert list(result.steps) == names
    assert written(folder) == [f"{i:02d}_{name}.png" for i, name in enumerate(names, start=1)]
    for i, name in enumerate(names, start=1):
        img = cv2.imread(str(folder / f"{i:02d}_{name}.png"), cv2.IMREAD_UNCHANGED)
        step = result.steps[name]
        assert img is not None and img.shape == step.shape
    normalized = cv2.imread(str(folder / "10_normalized.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_allclose(normalized / 255.0, result.array, atol=0.5 / 255 + 1e-6)  # floats scaled to 0..255
    outline = result.steps["sheet_outline"]
    assert outline.shape == shot(8).photo.shape and not np.array_equal(outline, shot(8).photo)  # quad drawn on it
    box = result.steps["box"]
    assert box.ndim == 3 and np.any(box[:, :, 2] != box[:, :, 1])  # red box drawn on the gray sheet


def test_debug_dir_is_written_when_a_stage_fails(tmp_path: Path) -> None:
    photo, _ = blank_sheet_photo(1)
    with pytest.raises(ImageError) as info:
        prepare(photo, debug_dir=tmp_path / "blank")
    assert reason_of(info.value) == NO_SIGNATURE
    assert written(tmp_path / "blank") == ["01_input.png", "02_sheet_outline.png", "03_sheet.png",
                                           "04_even_light.png", "05_binary.png", "06_lines.png",
                                           "07_without_lines.png"]
    with pytest.raises(ImageError):
        prepare(np.zeros((480, 640), np.uint8), debug_dir=tmp_path / "dark")
    assert written(tmp_path / "dark") == ["01_input.png"]


def test_debug_dir_that_cannot_be_created_is_an_image_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ImageError) as info:
        prepare(shot(1).photo, debug_dir=blocker / "sub")
    assert "debug" in str(info.value)


def character_crop(ruled: bool) -> np.ndarray:
    """A tight crop of a two-character signature drawn with straight strokes (as Chinese
    signatures are): one bar spans 40 % of the width, one stem 70 % of the height."""
    img = np.full((200, 400), 238, np.uint8)
    cv2.ellipse(img, (90, 100), (45, 60), 0, 30, 330, 40, 4)
    cv2.line(img, (180, 110), (340, 110), 40, 4)   # the bar: 160 px of 400
    cv2.line(img, (250, 30), (250, 170), 40, 4)    # the stem: 140 px of 200
    cv2.line(img, (300, 60), (330, 160), 40, 4)
    if ruled:
        cv2.line(img, (0, 185), (399, 185), 90, 2)  # a ruled line the crop cut through
    return img


def test_straight_strokes_of_a_cropped_signature_are_not_taken_for_printed_lines() -> None:
    result = prepare(character_crop(ruled=False))
    assert result.sheet_corners is None
    assert result.steps["lines"].max() == 0
    np.testing.assert_array_equal(result.steps["without_lines"], result.steps["binary"])


def test_a_ruled_line_across_a_cropped_signature_is_still_removed() -> None:
    result = prepare(character_crop(ruled=True))
    removed = result.steps["lines"] > 0
    assert removed[183:188].any(axis=0).mean() > 0.9     # the ruled line goes...
    assert not removed[:170].any()                       # ...the strokes above it stay


def printed_form_scan(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(plain scan, the same scan on more paper with a signature line at the ink's baseline
    and a "Signature" caption under it): a flat scan, so no sheet is found."""
    scan, ink = signature_scan(seed, height=90.0)
    ys = np.nonzero(ink)[0]
    form = np.vstack([scan, np.full((60, scan.shape[1]), int(np.median(scan)), np.uint8)])
    y = int(ys.min() + 0.8 * (ys.max() - ys.min()))
    cv2.line(form, (0, y), (form.shape[1] - 1, y), 90, 2)
    cv2.putText(form, "Signature", (10, ys.max() + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 60, 1, cv2.LINE_AA)
    return scan, form


@pytest.mark.parametrize("seed", range(3))
def test_caption_under_the_line_of_a_flat_scan_is_removed(seed: int) -> None:
    scan, form = printed_form_scan(seed)
    plain, printed = prepare(scan), prepare(form)
    assert NOTE_NO_SHEET in printed.reasons
    a, b = plain.box, printed.box
    assert iou((a.x0, a.y0, a.x1, a.y1), (b.x0, b.y0, b.x1, b.y1)) >= 0.95   # caption left out of the box
    assert printed.steps["lines"][plain.box.y1 + 10:].any()                  # caption pixels removed


def captioned_photo_hits(rules: str, seeds: range) -> int:
    """How many seeded photos of forms with ``rules`` and a printed caption get a box with
    IoU >= 0.9 (the caption left out)."""
    from dataclasses import replace

    from edgesig.synth.sheet_photo import SheetStyle, sheet_photo
    from tests.offline.pens import scribble
    good = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        style = replace(SheetStyle.random(rng, max_angle=20), rules=rules, caption=True)
        photo = sheet_photo(scribble(rng), rng, style=style)
        good += iou(prepare(photo.photo).box_normalized, photo.box) >= 0.9
    return good


def test_caption_on_a_photographed_form_is_left_out_of_the_box() -> None:
    assert captioned_photo_hits("line", range(6)) >= 5


def test_caption_on_a_photographed_form_without_a_signature_line_is_left_out_of_the_box() -> None:
    """No line over the caption (a bare form, or ruled lines): the signature anchors it.
    Before caption_under, 11 of these 16 photos boxed the signature alone; 13 after (the
    rest: a caption that blurred into one blob, and a form whose lines were not removed)."""
    assert captioned_photo_hits("none", range(8)) + captioned_photo_hits("lines", range(8)) >= 13
