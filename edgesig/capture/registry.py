"""Format registry behind ``edgesig.load_pen``: one reader per format, auto-detected.

A format module registers a :class:`PenFormat` with a ``sniff`` (cheap look at the first
bytes and the file name) and a ``read`` (bytes -> PenStream). ``load_pen`` tries the
sniffers in registration order unless a format is named.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edgesig.errors import FormatError, InvalidInputError
from edgesig.pen import PenStream

#: Largest pen file read (a long signature at 1 kHz is well under 5 MB in any format).
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class PenFormat:
    name: str
    sniff: Callable[[bytes, str], bool]
    read: Callable[..., PenStream]
    write: Callable[[PenStream], bytes] | None = None
    suffixes: tuple[str, ...] = ()


_FORMATS: dict[str, PenFormat] = {}


def register(fmt: PenFormat) -> PenFormat:
    _FORMATS[fmt.name] = fmt
    return fmt


def formats() -> list[str]:
    """Names of the registered formats, in detection order."""
    _load_builtin()
    return list(_FORMATS)


def get_format(name: str) -> PenFormat:
    _load_builtin()
    try:
        return _FORMATS[name]
    except KeyError:
        raise InvalidInputError(f"unknown pen format {name!r}; known: {', '.join(_FORMATS)}") from None


def load_pen(source: str | os.PathLike | bytes, format: str | None = None, **options: Any) -> PenStream:
    """Read a pen file (path or bytes) into a PenStream; the format is detected when not given.

    Options are passed to the reader (e.g. ``sample_rate_hz`` for formats without time).
    """
    data, name = _read_source(source)
    if format is not None:
        return get_format(format).read(data, **options)
    _load_builtin()
    for fmt in _FORMATS.values():
        if fmt.sniff(data, name):
            return fmt.read(data, **options)
    raise FormatError(f"could not recognise the pen format of {name or 'the given bytes'}; "
                      f"pass format= one of {', '.join(_FORMATS)}")


def save_pen(pen: PenStream, path: str | os.PathLike, format: str) -> None:
    """Write a PenStream in a format that has a writer."""
    fmt = get_format(format)
    if fmt.write is None:
        raise InvalidInputError(f"format {format!r} is read-only")
    Path(path).write_bytes(fmt.write(pen))


def _read_source(source: Any) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), ""
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidInputError(f"load_pen takes a path or bytes, got {type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise InvalidInputError(f"no such pen file: {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise FormatError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MiB; not a pen recording")
    return path.read_bytes(), path.name


def _load_builtin() -> None:
    """Import the built-in format modules once; each registers itself on import."""
    from edgesig.capture import svc2004  # noqa: F401
