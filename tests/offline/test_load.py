"""load_image / decode_image: every accepted input becomes the same uint8 image, and every
bad one an ImageError with a reason, never a cv2 traceback or a huge allocation."""
from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesig.errors import ImageError
from edgesig.offline import load
from edgesig.offline.load import declared_size, decode_image, load_image
from edgesig.offline.reasons import TOO_LARGE, TOO_SMALL, UNREADABLE, reason_of


def bgr_image(h: int = 48, w: int = 64) -> np.ndarray:
    """Distinct channels, a gradient and a block: any channel swap or flip shows."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]   # blue: left to right
    img[:, :, 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]   # green: top to bottom
    img[: h // 2, : w // 3, 2] = 200                                  # red: a top-left block
    return img


def encode(img: np.ndarray, ext: str = ".png", *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok
    return buf.tobytes()


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert an APP1 EXIF segment holding only the orientation tag after the SOI marker."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + b"MM\x00\x2a\x00\x00\x00\x08" + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def raises_reason(reason: str, fn, *args, **kwargs) -> ImageError:
    with pytest.raises(ImageError) as info:
        fn(*args, **kwargs)
    assert reason_of(info.value) == reason
    assert str(info.value).startswith(reason + ": ")
    return info.value


# --- accepted inputs ------------------------------------------------------------------------

def test_path_str_and_pathlike_give_the_png_pixels(tmp_path: Path) -> None:
    img = bgr_image()
    path = tmp_path / "sig.png"
    assert cv2.imwrite(str(path), img)
    for src in (path, str(path)):
        out = load_image(src)
        assert out.dtype == np.uint8 and out.flags.c_contiguous
        np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_png_bytes_decode_losslessly(wrap) -> None:
    img = bgr_image()
    np.testing.assert_array_equal(load_image(wrap(encode(img))), img)


def test_gray_png_stays_gray() -> None:
    gray = bgr_image()[:, :, 0]
    out = decode_image(encode(gray))
    assert out.shape == gray.shape
    np.testing.assert_array_equal(out, gray)


def test_jpeg_bytes_decode_close_to_the_original() -> None:
    img = bgr_image()
    out = load_image(encode(img, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - img).mean() < 4.0


def test_jpeg_follows_exif_orientation() -> None:
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, :40] = 255  # left half white
    rotated = load_image(with_exif_orientation(encode(img, ".jpg"), 6))  # 6: rotate 90 degrees clockwise
    assert rotated.shape == (80, 40, 3)
    assert rotated[:30].mean() > 240 and rotated[-30:].mean() < 15  # the white half is now on top


def test_sixteen_bit_png_is_scaled_to_eight_bits() -> None:
    img16 = (np.arange(32 * 32, dtype=np.uint32).reshape(32, 32) * 64).astype(np.uint16)
    out = decode_image(encode(img16))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, ((img16.astype(np.uint32) + 128) // 257).astype(np.uint8))


def test_png_with_alpha_is_laid_on_white_paper() -> None:
    bgra = np.zeros((32, 32, 4), np.uint8)
    bgra[:, :16, 3] = 255  # left half: opaque black ink; right half: transparent
    out = decode_image(encode(bgra))
    assert out.shape == (32, 32, 3)
    assert out[:, :16].max() == 0 and out[:, 16:].min() == 255


@pytest.mark.parametrize("shape", [(48, 64), (48, 64, 1)])
def test_gray_arrays(shape: tuple[int, ...]) -> None:
    gray = bgr_image()[:, :, 1].reshape(shape)
    out = load_image(gray)
    assert out.shape == (48, 64)
    np.testing.assert_array_equal(out, gray.reshape(48, 64))


def test_bgr_array_is_kept_and_rgb_array_is_swapped() -> None:
    bgr = bgr_image()
    np.testing.assert_array_equal(load_image(bgr), bgr)
    rgb = bgr[:, :, ::-1]
    np.testing.assert_array_equal(load_image(rgb, color="rgb"), bgr)
    # A non-contiguous view (every other column) comes back contiguous and equal.
    view = bgr[:, ::2]
    out = load_image(view)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, view)


def test_bgra_and_rgba_arrays_blend_alpha_on_white() -> None:
    bgra = np.zeros((20, 30, 4), np.uint8)
    bgra[:, :, 0] = 200                 # blue ink
    bgra[:, :10, 3] = 255               # opaque
    bgra[:, 10:20, 3] = 128             # half transparent
    out = load_image(bgra)              # [:, 20:] fully transparent
    assert out.shape == (20, 30, 3)
    np.testing.assert_array_equal(out[0, 0], [200, 0, 0])
    np.testing.assert_allclose(out[0, 15].astype(float), [200 * 128 / 255 + 255 * 127 / 255,
                                                          255 * 127 / 255, 255 * 127 / 255], atol=1.0)
    np.testing.assert_array_equal(out[0, 25], [255, 255, 255])
    rgba = np.concatenate([bgra[:, :, 2::-1], bgra[:, :, 3:]], axis=2)
    np.testing.assert_array_equal(load_image(rgba, color="rgb"), out)


def test_float_arrays_in_unit_range_are_scaled() -> None:
    f = np.linspace(0.0, 1.0, 48 * 64, dtype=np.float64).reshape(48, 64)
    out = load_image(f)
    assert out.dtype == np.uint8 and out[0, 0] == 0 and out[-1, -1] == 255
    np.testing.assert_array_equal(out, np.round(f * 255).astype(np.uint8))
    rgb = np.stack([f, np.zeros_like(f), np.ones_like(f)], axis=2).astype(np.float32)
    out3 = load_image(rgb, color="rgb")
    assert out3.shape == (48, 64, 3)
    assert out3[:, :, 0].min() == 255 and out3[:, :, 1].max() == 0  # blue (rgb[..., 2]) is first in BGR


def test_uint16_array_is_scaled() -> None:
    a = np.array([[0, 257, 65535] * 6] * 18, np.uint16)
    out = load_image(a)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, :3], [0, 1, 255])


# --- refused inputs -------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"not an image at all" * 10, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
                                  b"\xff\xd8\xff\xe0" + b"\x13" * 100])
def test_garbage_bytes_are_unreadable(data: bytes) -> None:
    raises_reason(UNREADABLE, load_image, data)


def test_truncated_png_is_unreadable() -> None:
    data = encode(bgr_image(200, 200))
    raises_reason(UNREADABLE, decode_image, data[: len(data) // 3])


@pytest.mark.parametrize("data", [encode(bgr_image(200, 200))[:40], encode(bgr_image(200, 200))[:11000],
                                  b"BM" + b"\x00" * 60, encode(bgr_image(), ".tiff")[:100]],
                         ids=["png-header", "png-half", "bmp", "tiff"])
def test_a_torn_image_gives_edgesigs_error_and_no_opencv_output(data: bytes, capfd) -> None:
    """OpenCV printed '[ WARN ] ... PNG input buffer is incomplete' (libpng its own error
    line, for a PNG cut in its data) on stderr beside edgesig's ImageError."""
    level = cv2.utils.logging.getLogLevel()
    capfd.readouterr()
    raises_reason(UNREADABLE, decode_image, data)
    assert capfd.readouterr().err == ""
    assert cv2.utils.logging.getLogLevel() == level  # OpenCV's logging as the caller had it


def test_empty_bytes_and_empty_arrays_are_unreadable() -> None:
    err = raises_reason(UNREADABLE, load_image, b"")
    assert "empty" in str(err)
    for arr in (np.zeros((0, 10), np.uint8), np.zeros((10, 0, 3), np.uint8), np.zeros(0, np.uint8)):
        raises_reason(UNREADABLE, load_image, arr)


@pytest.mark.parametrize("shape", [(64,), (32, 32, 2), (32, 32, 5), (2, 32, 32, 3)])
def test_arrays_of_the_wrong_shape_are_refused(shape: tuple[int, ...]) -> None:
    err = raises_reason(UNREADABLE, load_image, np.zeros(shape, np.uint8))
    assert "(H, W)" in str(err)


@pytest.mark.parametrize("arr", [np.ones((32, 32), bool), np.ones((32, 32), np.int64), np.ones((32, 32), np.complex64)])
def test_unsupported_pixel_types_are_refused(arr: np.ndarray) -> None:
    err = raises_reason(UNREADABLE, load_image, arr)
    assert "uint8" in str(err)


@pytest.mark.parametrize("bad", [np.full((32, 32), 2.0), np.full((32, 32), -0.5), np.full((32, 32), np.nan),
                                 np.full((32, 32), np.inf)])
def test_float_arrays_outside_unit_range_are_refused(bad: np.ndarray) -> None:
    raises_reason(UNREADABLE, load_image, bad)


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    err = raises_reason(UNREADABLE, load_image, tmp_path / "nope.png")
    assert "nope.png" in str(err)


def test_directory_is_unreadable(tmp_path: Path) -> None:
    raises_reason(UNREADABLE, load_image, tmp_path)


def test_other_source_types_and_colour_orders_are_refused() -> None:
    raises_reason(UNREADABLE, load_image, 42)
    raises_reason(UNREADABLE, load_image, [[0, 1], [2, 3]])
    raises_reason(UNREADABLE, load_image, bgr_image(), color="hsv")


def test_png_header_declaring_a_huge_image_is_refused_before_decoding() -> None:
    data = bytearray(encode(bgr_image()))
    data[16:24] = struct.pack(">II", 100_000, 100_000)  # IHDR width, height: 10 Gpx
    assert declared_size(bytes(data)) == (100_000, 100_000)
    err = raises_reason(TOO_LARGE, decode_image, bytes(data))
    assert "100000x100000" in str(err)


def test_jpeg_header_declaring_a_huge_image_is_refused_before_decoding() -> None:
    data = bytearray(encode(bgr_image(), ".jpg"))
    assert declared_size(bytes(data)) == (48, 64)
    sof = bytes(data).find(b"\xff\xc0")
    assert sof > 0
    data[sof + 5:sof + 9] = struct.pack(">HH", 60_000, 60_000)
    assert declared_size(bytes(data)) == (60_000, 60_000)
    raises_reason(TOO_LARGE, load_image, bytes(data))


def test_declared_size_is_none_for_other_formats() -> None:
    assert declared_size(encode(bgr_image(), ".bmp")) is None
    assert declared_size(b"\xff\xd8\x00") is None


def test_huge_arrays_are_refused_without_touching_their_pixels() -> None:
    huge = np.broadcast_to(np.uint8(255), (8000, 6000))  # 48 Mpx, no memory behind it
    raises_reason(TOO_LARGE, load_image, huge)


def test_too_small_images_are_refused() -> None:
    raises_reason(TOO_SMALL, load_image, np.zeros((8, 100), np.uint8))
    raises_reason(TOO_SMALL, load_image, encode(np.zeros((100, 8), np.uint8)))


def test_files_and_data_larger_than_the_limit_are_refused(tmp_path: Path, monkeypatch) -> None:
    data = encode(bgr_image())
    path = tmp_path / "big.png"
    path.write_bytes(data)
    monkeypatch.setattr(load, "MAX_BYTES", len(data) - 1)
    raises_reason(TOO_LARGE, load_image, path)
    raises_reason(TOO_LARGE, load_image, data)
