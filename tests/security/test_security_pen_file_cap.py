"""Issue 20 point 5: an oversized pen file stops at the MAX_POINTS cap while it is parsed.

A 1e6-line SVC2004 file used to be parsed in full before the cap applied (4.7 s and
+630 MB). The readers of the line formats now read line by line and stop at the cap;
these tests count the bytes a reader pulled from a generated million-line file rather
than timing it.
"""
from __future__ import annotations

import io
import tracemalloc

import pytest

from edgesig.capture import load_pen
from edgesig.errors import PenStreamError
from edgesig.pen import MAX_POINTS

LINES = 1_000_000


class MillionLines(io.RawIOBase):
    """A pen file of ``header`` and a million generated rows, made as it is read; counts bytes served."""

    def __init__(self, header: str, row: str):
        self._header = header.encode()
        self._row = row
        self._line = 0
        self._pending = b""
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunks, size = [self._pending], len(self._pending)
        while size < len(buffer) and self._line < LINES:
            row = self._header + self._row.format(i=self._line, t=10 * self._line).encode()
            self._header = b""
            chunks.append(row)
            size += len(row)
            self._line += 1
        pending = b"".join(chunks)
        n = min(len(buffer), len(pending))
        buffer[:n] = pending[:n]
        self._pending = pending[n:]
        self.served += n
        return n


FORMATS = {
    "svc2004 (header lies: 500 points)": ("500\r\n", "{i} 2000 {t} 1 1200 600 512\r\n"),
    "mcyt": ("", "{i}.0000 18.01 15.92 119.0 0.0 123.0 61.0\n"),
    "hwr": ("", "{i} 2000 300\n"),
    "susig": ("X, Y, TStamp, Pres., EndPts\nDataSize: 59999\n", "{i} 2000 {t} 100 0\n"),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_million_line_file_stops_at_the_cap_without_being_read(name):
    header, row = FORMATS[name]
    source = MillionLines(header, row)
    with pytest.raises(PenStreamError, match=f"more than the {MAX_POINTS}"):
        load_pen(io.BufferedReader(source))
    row_bytes = len(row.format(i=LINES, t=10 * LINES))
    read_bound = (MAX_POINTS + 10) * row_bytes + 2 * 64 * 1024  # the capped rows, the sniffed head, buffers
    assert source.served <= read_bound < LINES * row_bytes / 10  # a small fraction of the file


def test_memory_follows_the_cap_not_the_file():
    tracemalloc.start()
    try:
        with pytest.raises(PenStreamError):
            load_pen(io.BufferedReader(MillionLines(*FORMATS["mcyt"])))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # 60,000 rows of 7 values (3.4 MB as float64); the file is 43 MB


def test_a_header_announcing_too_many_points_is_refused_before_the_rows(tmp_path):
    path = tmp_path / "big.TXT"
    path.write_bytes(b"1000000\r\n" + b"1 2 3 1 1200 600 512\r\n" * 20)
    with pytest.raises(PenStreamError, match="announces 1000000 points"):
        load_pen(path)


def test_the_cap_itself_still_loads():
    rows = "".join(f"{i % 500} {i % 300} {10 * i} 1\n" for i in range(MAX_POINTS))
    pen = load_pen(f"{MAX_POINTS}\n{rows}".encode())
    assert len(pen) == MAX_POINTS and not pen.has_pressure


@pytest.mark.parametrize("fmt, head", [("inkml", b"<ink xmlns='http://www.w3.org/2003/InkML'><trace>"),
                                       ("hid", b"R: 1 05\nE: 000000.000000 1 02\n")])
def test_a_whole_input_reader_is_refused_more_than_the_cap_takes_before_parsing(fmt, head):
    """Readers that parse the whole input (markup, JSON, logs) get at most MAX_POINTS samples'
    worth of bytes in their format; the bytes are refused before any parsing."""
    from edgesig.capture import get_format
    limit = get_format(fmt).byte_limit
    source = MillionLines(head.decode(), " " * 63 + "\n")  # 64 MB of filler after a valid head
    with pytest.raises(PenStreamError, match=f"more than the {MAX_POINTS} points"):
        load_pen(io.BufferedReader(source))
    assert source.served <= limit + 2 * 64 * 1024 < LINES * 64


def test_every_writer_stays_well_inside_its_formats_byte_budget():
    """A full-length capture written by edgesig itself must never meet the byte limit."""
    import numpy as np

    from edgesig.capture import formats, get_format
    from edgesig.synth import make_writer
    synth_pen = make_writer(3).genuine(np.random.default_rng(11))  # every optional channel, pen-up hover
    for name in formats():
        fmt = get_format(name)
        if fmt.write is None or fmt.bytes_per_point is None:
            continue
        per_point = len(fmt.write(synth_pen)) / len(synth_pen)
        assert per_point * 2 <= fmt.bytes_per_point, f"{name}: {per_point:.0f} bytes a point"
