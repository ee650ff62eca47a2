"""Format registry behind ``edgesig.load_pen``: one reader per format, auto-detected.

A format module registers a :class:`PenFormat` with a ``sniff`` (cheap look at the first
bytes and the file name) and a ``read`` (bytes -> PenStream). ``load_pen`` tries the
sniffers in registration order unless a format is named.

A file is read no further than needed: sniffers that look at the head get its first
``SNIFF_BYTES``, and a streaming reader (the line-based formats) gets the open file and
stops at the ``MAX_POINTS``-th sample, so an oversized file costs time and memory in
proportion to that cap, not to its size. Other readers get the whole input, refused
unparsed beyond what ``MAX_POINTS`` samples take in their format (``bytes_per_point``)
and beyond ``MAX_FILE_BYTES``.
"""
from __future__ import annotations

import io
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable

from edgesig.capture.text import byte_order_mark_advice
from edgesig.errors import EdgesigError, FormatError, InvalidInputError, PenStreamError
from edgesig.pen import MAX_POINTS, PenStream

#: Largest pen file read (a long signature at 1 kHz is well under 5 MB in any format).
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Leading bytes given to sniffers that only look at a file's head.
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class PenFormat:
    name: str
    sniff: Callable[[bytes, str], bool]
    read: Callable[..., PenStream]
    write: Callable[[PenStream], bytes] | None = None
    suffixes: tuple[str, ...] = ()
    #: ``sniff`` decides from the first SNIFF_BYTES (False: it is given the whole input).
    sniffs_head: bool = False
    #: ``read`` also takes a binary stream and stops reading at MAX_POINTS samples.
    streams: bool = False
    #: Most bytes one sample takes in this format, generously (a few times what the
    #: writer emits): a whole-input reader is refused more than MAX_POINTS samples'
    #: worth before it parses anything. None: only MAX_FILE_BYTES applies.
    bytes_per_point: int | None = None

    @property
    def byte_limit(self) -> int:
        """Largest input ``read`` is given."""
        return MAX_FILE_BYTES if self.bytes_per_point is None else min(MAX_FILE_BYTES,
                                                                       MAX_POINTS * self.bytes_per_point)


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


def load_pen(source: str | os.PathLike | bytes | BinaryIO, format: str | None = None,
             **options: Any) -> PenStream:
    """Read a pen file (path, bytes or binary stream) into a PenStream; the format is detected
    when not given.

    Options are passed to the reader (e.g. ``sample_rate_hz`` for formats without time).
    """
    with ExitStack() as stack:
        src = _Source.of(source, stack)
        if format is not None:
            fmt = get_format(format)
            return _read_with(fmt, src.for_reader(fmt), options)
        _load_builtin()
        for fmt in _FORMATS.values():
            if _sniffs(fmt, src.head if fmt.sniffs_head else src.whole(), src.name):
                return _read_with(fmt, src.for_reader(fmt), options)
    what = f"could not recognise the pen format of {src.name or 'the given bytes'}{byte_order_mark_advice(src.head)}"
    raise FormatError(f"{what}; pass format= one of {', '.join(_FORMATS)}",
                      cli_message=f"{what}; pass --format, one of {', '.join(_FORMATS)}")


def save_pen(pen: PenStream, path: str | os.PathLike, format: str) -> None:
    """Write a PenStream in a format that has a writer."""
    fmt = get_format(format)
    if fmt.write is None:
        raise InvalidInputError(f"format {format!r} is read-only")
    Path(path).write_bytes(fmt.write(pen))


def _read_with(fmt: PenFormat, data: bytes | BinaryIO, options: dict[str, Any]) -> PenStream:
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


class _Source:
    """A pen input read lazily: its head for sniffing, then a stream or all of it for a reader."""

    def __init__(self, name: str, data: bytes | None = None, stream: BinaryIO | None = None):
        self.name = name
        self._data = data
        self._stream = stream
        self.head = data[:SNIFF_BYTES] if data is not None else stream.read(SNIFF_BYTES)

    @classmethod
    def of(cls, source: Any, stack: ExitStack) -> "_Source":
        if isinstance(source, (bytes, bytearray, memoryview)):
            return cls("", data=bytes(source))
        if hasattr(source, "read"):
            return cls(str(getattr(source, "name", "")), stream=source)
        if not isinstance(source, (str, os.PathLike)):
            raise InvalidInputError(f"load_pen takes a path, bytes or a binary stream, got {type(source).__name__}")
        path = Path(source)
        if not path.is_file():
            raise InvalidInputError(f"no such pen file: {path}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise FormatError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MiB; not a pen recording")
        return cls(path.name, stream=stack.enter_context(path.open("rb")))

    def whole(self, limit: int = MAX_FILE_BYTES) -> bytes:
        """Every byte (read once, no further than ``limit``), refused beyond MAX_FILE_BYTES."""
        data = self._data
        if data is None:
            data = self.head + self._stream.read(limit + 1 - len(self.head))
        if len(data) > MAX_FILE_BYTES:
            raise FormatError(f"{self.name or 'the input'} is larger than {MAX_FILE_BYTES // 2**20} MiB; "
                              "not a pen recording")
        if len(data) <= limit:
            self._data = data
        return data

    def for_reader(self, fmt: PenFormat) -> bytes | BinaryIO:
        """The open stream (head first) for a streaming reader that has it; else every byte,
        refused unparsed when it is more than MAX_POINTS samples take in ``fmt``."""
        if self._data is None and fmt.streams:
            return io.BufferedReader(_Prefixed(self.head, self._stream))
        data = self.whole(fmt.byte_limit)
        if len(data) > fmt.byte_limit:
            raise PenStreamError(f"{self.name or 'the input'} holds more than the {fmt.byte_limit // 1024} KiB "
                                 f"that {MAX_POINTS} points take in {fmt.name} format, so more than the "
                                 f"{MAX_POINTS} points accepted; split the capture or lower the sample rate")
        return data


class _Prefixed(io.RawIOBase):
    """``head`` (already read for sniffing) followed by the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        chunk = self._stream.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)


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
