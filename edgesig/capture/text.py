"""Line-based numeric pen files (SVC2004, SUSig, MCYT, .hwr): lazy lines, capped rows.

Every such format is a few header lines and then one sample per line. The rows are read
one line at a time and reading stops at the first row past ``MAX_POINTS``, so a huge or
hostile file costs time and memory in proportion to the cap, not to its size.
"""
from __future__ import annotations

import io
from typing import BinaryIO, Iterator

import numpy as np

from edgesig.errors import FormatError, PenStreamError
from edgesig.pen import MAX_POINTS

#: Largest magnitude accepted in a column (no tablet reports more than 32 bits).
MAX_VALUE = 2**31


def lines(source: bytes | BinaryIO, fmt: str) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each non-blank line, decoded as ASCII, read lazily."""
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    offset = 0
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise FormatError(f"{fmt} files are ASCII text", offset=offset + exc.start) from None
        offset += len(raw)
        if text.strip():
            yield number, text


def rows(numbered: Iterator[tuple[int, str]], fmt: str, widths: tuple[int, ...], *,
         integers: bool = False, expected: int | None = None) -> np.ndarray:
    """The remaining lines as a float table, one row per line, every row the same width.

    ``widths`` are the accepted column counts; ``integers`` rejects decimals and values
    beyond ``MAX_VALUE``; ``expected``
    is a header's point count, checked against the rows found. More than ``MAX_POINTS``
    rows stop the reading with a PenStreamError (as PenStream would give, only sooner).
    """
    if expected is not None and expected > MAX_POINTS:
        raise PenStreamError(f"the {fmt} header announces {expected} points, more than the {MAX_POINTS} "
                             "accepted; split the capture or lower the sample rate")
    table: list[list[float]] = []
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
        if len(table) == MAX_POINTS:
            raise PenStreamError(f"the {fmt} file has more than the {MAX_POINTS} points accepted (reading "
                                 f"stopped at line {number}); split the capture or lower the sample rate")
        width = len(fields)
        table.append(values)
    if not table:
        raise FormatError(f"no point follows in the {fmt} file; a signature needs its samples, one per line",
                          offset=0)
    if expected is not None and expected != len(table):
        raise FormatError(f"the {fmt} header says {expected} points but the file has {len(table)}", offset=0)
    return np.asarray(table, dtype=np.float64)


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
