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

from edgesig.errors import EdgesigError, FormatError, InvalidInputError
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
        return _read_with(get_format(format), data, options)
    _load_builtin()
    for fmt in _FORMATS.values():
        if _sniffs(fmt, data, name):
            return _read_with(fmt, data, options)
    what = f"could not recognise the pen format of {name or 'the given bytes'}"
    raise FormatError(f"{what}; pass format= one of {', '.join(_FORMATS)}",
                      cli_message=f"{what}; pass --format, one of {', '.join(_FORMATS)}")


def save_pen(pen: PenStream, path: str | os.PathLike, format: str) -> None:
    """Write a PenStream in a format that has a writer."""
    fmt = get_format(format)
    if fmt.write is None:
        raise InvalidInputError(f"format {format!r} is read-only")
    Path(path).write_bytes(fmt.write(pen))


def _read_with(fmt: PenFormat, data: bytes, options: dict[str, Any]) -> PenStream:
    """Run a reader; a reader that trips over malformed data still yields a FormatError."""
    try:
        return fmt.read(data, **options)
    except EdgesigError:
        raise
    except Exception as exc:  # readers parse untrusted bytes: every failure is one error kind
        raise FormatError(f"malformed {fmt.name} data ({type(exc).__name__}: {exc})") from None


def _sniffs(fmt: PenFormat, data: bytes, name: str) -> bool:
    try:
        return bool(fmt.sniff(data, name))
    except Exception:  # a sniffer that cannot read the bytes does not recognise them
        return False


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
    """Import the built-in format modules once; each registers itself on import.

    Detection order is most specific first, whatever order modules were imported in:
    magic numbers (ISO 19794-7, framed packets), then markup and JSON, then line-based
    text (hid-recorder, evtest, SVC2004, .hwr, SUSig, MCYT), and last the binary evdev heuristic,
    which only checks record sizes and field ranges. Formats registered by users follow.
    """
    from edgesig.capture import (evdev, framing, hid, hwr, inkml, iso19794_7, mcyt,  # noqa: F401
                                 pointer_events, susig, svc2004)
    order = ("iso19794_7", "frames", "inkml", "pointer_events", "hid", "evtest", "svc2004", "hwr",
             "susig", "mcyt", "evdev")
    ordered = {name: _FORMATS[name] for name in order if name in _FORMATS}
    ordered.update(_FORMATS)
    _FORMATS.clear()
    _FORMATS.update(ordered)
