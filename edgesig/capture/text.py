"""Line-based numeric pen files (SVC2004, SUSig, MCYT, .hwr): lazy lines, capped rows.

Every such format is a few header lines and then one sample per line. The rows are read
one line at a time and reading stops at the first row past ``MAX_POINTS``, so a huge or
hostile file costs time and memory in proportion to the cap, not to its size.
"""
from __future__ import annotations

import io
from array import array
from typing import BinaryIO, Iterator

import numpy as np

from edgesig.errors import FormatError, PenStreamError
from edgesig.pen import MAX_POINTS

#: Largest magnitude accepted in a column (no tablet reports more than 32 bits).
MAX_VALUE = 2**31
#: Longest line read; a sample row is a few dozen bytes.
MAX_LINE_BYTES = 4096


#: Byte-order marks Windows tools put before text (PowerShell 5's ``>`` writes UTF-16).
_BYTE_ORDER_MARKS = {b"\xef\xbb\xbf": "UTF-8", b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


def byte_order_mark_advice(head: bytes) -> str:
    """What to do about a file that starts with a byte-order mark ("" when it does not):
    the line formats are plain ASCII, and the mark alone makes them unreadable."""
    for mark, encoding in _BYTE_ORDER_MARKS.items():
        if head.startswith(mark):
            return (f"; it starts with a {encoding} byte-order mark: save it as plain ASCII "
                    "(or UTF-8 without a signature)")
    return ""


def lines(source: bytes | BinaryIO, fmt: str) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each non-blank line, decoded as ASCII, read lazily."""
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    offset = 0
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise FormatError(f"{fmt} line {number} is longer than {MAX_LINE_BYTES} bytes; not a sample row",
                              offset=offset)
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            advice = byte_order_mark_advice(raw) if number == 1 else ""
            raise FormatError(f"{fmt} files are ASCII text{advice}", offset=offset + exc.start) from None
        offset += len(raw)
        if text.strip():
            yield number, text


def rows(numbered: Iterator[tuple[int, str]], fmt: str, widths: tuple[int, ...], *,
         integers: bool = False, expected: int | None = None) -> np.ndarray:
    """The remaining lines as a float table, one row per line, every row the same width.

    ``widths`` are the accepted column counts; ``integers`` rejects decimals and values
    beyond ``MAX_VALUE``; ``expected`` is a header's point count, checked against the rows
    found. More than ``MAX_POINTS`` rows stop the reading with a PenStreamError (as
    PenStream would give, only sooner).
    """
    if expected is not None and expected > MAX_POINTS:
        raise PenStreamError(f"the {fmt} header announces {expected} points, more than the {MAX_POINTS} "
                             "accepted; split the capture or lower the sample rate")
    flat = array("d")  # 8 bytes a value, where a list of floats costs about 40
    count = 0
    width = None
    parse = int if integers else float
    for number, text in numbered:
        fields = text.split()
        if len(fields) not in widths or (width is not None and len(fields) != width):
            need = " or ".join(map(str, widths))
            raise FormatError(f"{fmt} line {number} has {len(fields)} numbers; every line needs the same "
                              f"{need}", offset=number)
        try:
            values = [parse(v) for v in fields]
        except ValueError:
            kind = "integer" if integers else "numeric"
            raise FormatError(f"{fmt} line {number} is not {kind}: {text.strip()!r:.60}", offset=number) from None
        if integers and max(abs(v) for v in values) > MAX_VALUE:
            raise FormatError(f"{fmt} line {number} has a value beyond ±{MAX_VALUE}; not tablet data",
                              offset=number)
        if count == MAX_POINTS:
            raise PenStreamError(f"the {fmt} file has more than the {MAX_POINTS} points accepted (reading "
                                 f"stopped at line {number}); split the capture or lower the sample rate")
        width = len(fields)
        flat.extend(values)
        count += 1
    if not count:
        raise FormatError(f"no point follows in the {fmt} file; a signature needs its samples, one per line",
                          offset=0)
    if expected is not None and expected != count:
        raise FormatError(f"the {fmt} header says {expected} points but the file has {count}", offset=0)
    return np.frombuffer(flat, dtype=np.float64).reshape(count, width).copy()


def header_count(numbered: Iterator[tuple[int, str]], fmt: str, prefix: str = "") -> int:
    """The point count on the next line (after ``prefix``, e.g. ``DataSize:``)."""
    number, text = next(numbered, (0, ""))
    value = text.strip()
    if not value:
        raise FormatError(f"empty {fmt} file: expected a point count line", offset=0)
    if prefix and value.lower().startswith(prefix.lower()):
        value = value[len(prefix):].strip()
    if not value.isdigit():
        raise FormatError(f"{fmt} line {number} must be the point count{' after ' + prefix if prefix else ''}, "
                          f"got {text.strip()!r:.40}", offset=number)
    return int(value)
