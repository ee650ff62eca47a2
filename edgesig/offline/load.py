"""Accept an image in whatever form the caller has it and return one canonical form.

Kiosk code hands us file paths, encoded bytes straight from a camera API, or numpy
arrays from another vision library (RGB, 16-bit, float, with alpha). Every later
stage assumes a C-contiguous uint8 image, gray (H, W) or BGR (H, W, 3), so the
conversion and all input checks happen once, here; bad input becomes an ImageError
that says what to send instead, never a cv2 traceback. Huge images are refused
before decoding when the header declares their size, so a crafted file cannot make
the device allocate gigabytes.
"""
from __future__ import annotations

import os
import struct
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Literal, Union

import cv2
import numpy as np

from edgesig.offline.reasons import TOO_LARGE, TOO_SMALL, UNREADABLE, image_error

#: Largest image accepted, in pixels (a 40 Mpx phone photo); the pipeline needs ~1 Mpx.
MAX_PIXELS = 40_000_000
#: Largest encoded file accepted, in bytes.
MAX_BYTES = 200 * 1024 * 1024
#: Smallest side accepted: below this no signature detail survives.
MIN_SIDE = 16

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray]


def load_image(src: ImageSource, color: Literal["bgr", "rgb"] = "bgr") -> np.ndarray:
    """A uint8 gray (H, W) or BGR (H, W, 3) image from a path, encoded bytes or an array.

    Arrays may be gray (H, W) or (H, W, 1), colour (H, W, 3) or with alpha (H, W, 4),
    of dtype uint8, uint16 or float in [0, 1]; ``color`` says whether their channels are
    in BGR (OpenCV) or RGB (most other libraries) order. Transparent pixels are laid on
    white paper. Encoded images follow their EXIF orientation.
    """
    if color not in ("bgr", "rgb"):
        raise image_error(UNREADABLE, f"color must be 'bgr' or 'rgb', got {color!r}")
    if isinstance(src, np.ndarray):
        return _from_array(src, rgb=color == "rgb")
    if isinstance(src, (bytes, bytearray, memoryview)):
        return decode_image(bytes(src))
    if isinstance(src, (str, os.PathLike)):
        return decode_image(_read_file(Path(src)))
    raise image_error(UNREADABLE, f"expected a path, encoded bytes or a numpy array, got {type(src).__name__}")


def decode_image(data: bytes) -> np.ndarray:
    """Decode PNG/JPEG/BMP/TIFF/WebP bytes into a uint8 gray or BGR image."""
    if not data:
        raise image_error(UNREADABLE, "the image data is empty; send the encoded file content")
    if len(data) > MAX_BYTES:
        raise image_error(TOO_LARGE, f"{len(data)} bytes exceed the {MAX_BYTES} accepted")
    declared = declared_size(data)
    if declared is not None:
        _check_pixels(*declared)
    # a PNG cut short: libpng prints "libpng error: ..." itself, which no OpenCV log level silences
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data:
        raise image_error(UNREADABLE, "the PNG data is cut short (no end chunk): the file was not completely "
                                      "written or sent; send the whole file")
    is_jpeg = data[:2] == b"\xff\xd8"
    # JPEG: honour EXIF rotation (phones); others: keep alpha and 16-bit depth.
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if is_jpeg else cv2.IMREAD_UNCHANGED
    try:
        with _opencv_quiet():
            img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        img = None
    if img is None or img.size == 0:
        raise image_error(UNREADABLE, "the data is not an image OpenCV can decode or it is corrupt; "
                                      "send a PNG or JPEG file")
    return _from_array(img, rgb=False)


class _QuietOpenCV:
    """OpenCV's log level (process-wide) and how many decodes asked for it to be silent."""

    lock = threading.Lock()
    users = 0
    saved: int | None = None


@contextmanager
def _opencv_quiet() -> Iterator[None]:
    """OpenCV's own log lines off while edgesig decodes: a bad upload printed ``[ WARN ] ...
    input buffer is incomplete`` or ``[ERROR] ...`` on stderr beside the ImageError edgesig
    raises, an untyped second account a service's log filled with. The level is
    process-wide: the first decode in saves it, the last out puts it back (another
    thread's OpenCV lines are silent meanwhile). Left alone where cv2 has no logging API."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    with _QuietOpenCV.lock:
        if _QuietOpenCV.users == 0:
            _QuietOpenCV.saved = logging.getLogLevel()
            logging.setLogLevel(logging.LOG_LEVEL_SILENT)
        _QuietOpenCV.users += 1
    try:
        yield
    finally:
        with _QuietOpenCV.lock:
            _QuietOpenCV.users -= 1
            if _QuietOpenCV.users == 0:
                logging.setLogLevel(_QuietOpenCV.saved)


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) from a PNG or JPEG header without decoding, None if not found."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return height, width
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            pos += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > n:
                return None
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return height, width
        pos += 2 + length
    return None


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise image_error(TOO_LARGE, f"{path} has {size} bytes, more than the {MAX_BYTES} accepted")
        return path.read_bytes()
    except OSError as exc:
        raise image_error(UNREADABLE, f"cannot read {path}: {exc.strerror or exc}; check the path") from None


def _check_pixels(height: int, width: int) -> None:
    if height * width > MAX_PIXELS:
        raise image_error(TOO_LARGE, f"{width}x{height} is more than {MAX_PIXELS // 1_000_000} Mpx; "
                                     "downscale the photo (about 1-2 Mpx is plenty)")
    if min(height, width) < MIN_SIDE:
        raise image_error(TOO_SMALL, f"{width}x{height}; each side needs at least {MIN_SIDE} pixels")


def _from_array(arr: np.ndarray, rgb: bool) -> np.ndarray:
    if arr.size == 0:
        raise image_error(UNREADABLE, f"the image array is empty (shape {arr.shape})")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise image_error(UNREADABLE, f"shape {arr.shape} is not an image; use (H, W), (H, W, 3) or (H, W, 4)")
    _check_pixels(arr.shape[0], arr.shape[1])
    img = _to_uint8(arr)
    if img.ndim == 2:
        return np.ascontiguousarray(img)
    if img.shape[2] == 4:
        return _flatten_alpha(img, rgb)
    return cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if rgb else np.ascontiguousarray(img)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    kind = arr.dtype
    if kind == np.uint8:
        return arr
    if kind == np.uint16:
        return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if np.issubdtype(kind, np.floating):
        if not np.all(np.isfinite(arr)):
            raise image_error(UNREADABLE, "the float image contains NaN or infinity")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise image_error(UNREADABLE, f"float images must hold values in [0, 1], got [{lo:g}, {hi:g}]; "
                                          "divide by 255 or convert to uint8")
        return np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)
    raise image_error(UNREADABLE, f"unsupported pixel type {kind}; use uint8, uint16 or float in [0, 1]")


def _flatten_alpha(img: np.ndarray, rgb: bool) -> np.ndarray:
    """Lay a BGRA/RGBA image on white: signature PNGs often have transparent paper."""
    color = img[:, :, :3].astype(np.float32)
    alpha = img[:, :, 3:4].astype(np.float32) / 255.0
    out = (color * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_RGB2BGR) if rgb else out
