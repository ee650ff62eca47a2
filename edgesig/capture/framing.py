"""Framed pen packets from a pad: decoding with order and freshness checks.

Why: a pad on a serial line, BLE or a vendor USB pipe sends bare samples. To verify a
signature the host must know that it got every sample of *this* signing, in order, and
not a recording of an earlier one. The pad therefore frames its packets (reference
encoder: ``firmware_samples/pad_encoder.py``, layout in ``firmware_samples/README.md``):

* a START frame with a fresh 8-byte session nonce (ideally the host's challenge), a
  per-pad session counter, the tick rate of its clock, its resolution and (version 2)
  the pad's 8-byte id (its serial number, or an id bound to its key);
* one PEN frame per sample with a sequence number, the device timestamp, tip/in-range
  flags, x, y, pressure and tilt;
* an END frame with the number of PEN frames sent;
* every frame: magic, version, kind, length, payload, CRC-16/CCITT-FALSE.

:class:`FrameDecoder` takes bytes in arbitrary chunks, resynchronises on the magic after
garbage, checks the CRC, and enforces the session rules: sequence numbers start at 0
with START and rise by one (a gap is a FormatError, a repeated or late frame a
ReplayError), a nonce may be used once (a reused one, or one that is not the expected
challenge, is a ReplayError), END must count the PEN frames. With ``policy="drop"``
bad frames are skipped and each problem is appended to ``decoder.issues`` instead.
A CRC detects corruption, not forgery: authenticity needs a MAC or a signed END frame
over the session, which this layer leaves to the integrator's transport.

Decoded frames (:class:`SessionStart`, :class:`PenPacket` with ``t_ms`` already
unwrapped and converted, :class:`SessionEnd`) are what a streaming session consumes;
:func:`frames_to_penstream` turns one complete session into a PenStream whose ``nonce``
and ``sequence`` (the session counter) carry the freshness information onward.

Session counters are only comparable within one pad, so the stream's device is named
after the pad id (:func:`pad_device_name`) and the verifier keeps one counter per pad.
A version-1 pad sends no id: its counter is carried only when the integrator names the
pad (``name=``, or a Session's ``device``), otherwise every such pad would share one
counter and a single capture with a high counter would lock all of them out.
"""
from __future__ import annotations

import binascii
import os
import struct
from dataclasses import dataclass
from typing import Iterable, Iterator, MutableSet

import numpy as np

from edgesig.capture.registry import PenFormat, register
from edgesig.capture.units import tilt_from_orientation
from edgesig.errors import EdgesigError, FormatError, InvalidInputError, ReplayError
from edgesig.pen import DeviceInfo, PenStream

MAGIC = b"\xec\x5a"
#: Version 2 adds the pad id to START; version 1 frames are still read.
VERSION = 2
VERSIONS = (1, 2)
KIND_START, KIND_PEN, KIND_END = 1, 2, 3
HEADER_BYTES, CRC_BYTES = 5, 2
_START_V1 = struct.Struct("<I8sIIfH")  # seq, nonce, session counter, tick Hz, units/mm, pressure max
_START = struct.Struct("<I8sIIfH8s")   # the same, then the pad id
_PEN = struct.Struct("<IIBHHHbb")      # seq, ticks, flags, x, y, pressure, tilt x, tilt y (degrees)
_END = struct.Struct("<IIB")           # seq, PEN frame count, reason
#: (version, kind) -> payload bytes
PAYLOAD_BYTES = {(1, KIND_START): _START_V1.size, (2, KIND_START): _START.size,
                 **{(v, KIND_PEN): _PEN.size for v in VERSIONS}, **{(v, KIND_END): _END.size for v in VERSIONS}}
FLAG_TIP, FLAG_IN_RANGE, FLAG_BARREL = 0x01, 0x02, 0x04
END_REASONS = {0: "done", 1: "timeout", 2: "cancelled"}
#: The writer's pressure resolution (12-bit, as most pads).
PRESSURE_MAX = 4095


@dataclass(frozen=True)
class SessionStart:
    seq: int
    nonce: bytes
    session_counter: int
    tick_hz: int
    units_per_mm: float | None
    pressure_max: int
    offset: int
    pad_id: bytes | None = None  # None from a version-1 pad

    def freshness(self, name: str | None = None) -> tuple[str, int | None]:
        """(device name, sequence number) for the stream of this session: the counter is
        per pad, so it is kept only when the pad is identified (its id, else ``name``)."""
        if self.pad_id is not None:
            return pad_device_name(self.pad_id), self.session_counter
        if name is not None:
            return name, self.session_counter
        return "framed pad", None


def pad_device_name(pad_id: bytes) -> str:
    """The device name under which a framed pad's counter and nonces are kept."""
    return f"framed pad {pad_id.hex()}"


@dataclass(frozen=True)
class PenPacket:
    seq: int
    ticks: int
    t_ms: float
    tip: bool
    in_range: bool
    barrel: bool
    x: int
    y: int
    pressure: int
    tilt_x: int
    tilt_y: int
    offset: int


@dataclass(frozen=True)
class SessionEnd:
    seq: int
    pen_count: int
    reason: str
    offset: int


Frame = SessionStart | PenPacket | SessionEnd


@dataclass(frozen=True)
class Issue:
    """A problem met with ``policy="drop"``: what, where in the byte stream, and the message."""

    kind: str
    offset: int
    message: str


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): ``crc16(b"123456789") == 0x29B1``."""
    return binascii.crc_hqx(data, 0xFFFF)


class FrameDecoder:
    """Stateful decoder: ``feed`` bytes as they come, iterate :meth:`frames` for what is complete.

    Errors are raised from :meth:`frames` at the offending frame, after its bytes are
    consumed, so iterating again continues with the next frame.
    """

    def __init__(self, *, policy: str = "raise", seen_nonces: MutableSet[bytes] | None = None,
                 expected_nonce: bytes | None = None):
        if policy not in ("raise", "drop"):
            raise InvalidInputError(f"policy must be 'raise' or 'drop', got {policy!r}")
        self.policy = policy
        self.seen_nonces = seen_nonces if seen_nonces is not None else set()
        self.expected_nonce = expected_nonce
        self.issues: list[Issue] = []
        self.session: SessionStart | None = None
        self._buffer = bytearray()
        self._base = 0  # stream offset of _buffer[0]
        self._next_seq = 0
        self._pen_count = 0
        self._last_ticks: int | None = None
        self._elapsed_ticks = 0
        self._held: Frame | None = None

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk

    @property
    def buffered(self) -> int:
        """Bytes waiting for the rest of a frame."""
        return len(self._buffer)

    def frames(self) -> Iterator[Frame]:
        """Complete, checked frames in order; raises (policy "raise") at the first bad one."""
        while True:
            if self._held is not None:
                frame, self._held = self._held, None
                yield frame
            raw = self._next_raw()
            if raw is None:
                return
            frame = self._check(*raw)
            if frame is not None:
                yield frame

    def _next_raw(self) -> tuple[int, int, bytes] | None:
        """(offset, kind, payload) of the next CRC-valid frame, or None when more bytes are needed."""
        while True:
            start = self._buffer.find(MAGIC)
            if start < 0:
                keep = 1 if self._buffer.endswith(MAGIC[:1]) else 0
                self._skip(len(self._buffer) - keep, "garbage", "bytes without a frame magic")
                return None
            self._skip(start, "garbage", "bytes before a frame magic")
            if len(self._buffer) < HEADER_BYTES:
                return None
            version, kind, length = self._buffer[2], self._buffer[3], self._buffer[4]
            if PAYLOAD_BYTES.get((version, kind)) != length:
                self._skip(1, "garbage", f"bad frame header (version {version}, kind {kind}, length {length})")
                continue
            total = HEADER_BYTES + length + CRC_BYTES
            if len(self._buffer) < total:
                return None
            body = bytes(self._buffer[2:HEADER_BYTES + length])
            crc = int.from_bytes(self._buffer[HEADER_BYTES + length:total], "little")
            if crc != crc16(body):
                self._skip(1, "crc", f"CRC mismatch in a kind-{kind} frame")
                continue
            offset = self._base
            self._consume(total)
            return offset, kind, body[3:]

    def _skip(self, n: int, kind: str, message: str) -> None:
        if n <= 0:
            return
        offset = self._base
        self._consume(n)
        self._problem(FormatError, kind, offset, f"{message}: {n} byte(s) skipped")

    def _consume(self, n: int) -> None:
        del self._buffer[:n]
        self._base += n

    def _problem(self, error: type[EdgesigError], kind: str, offset: int, message: str) -> None:
        if self.policy == "drop":
            self.issues.append(Issue(kind, offset, message))
            return
        raise error(message, offset=offset) if error is FormatError else error(f"{message} (at offset {offset})")

    def _check(self, offset: int, kind: int, payload: bytes) -> Frame | None:
        if kind == KIND_START:
            return self._start(offset, payload)
        if self.session is None:
            self._problem(FormatError, "orphan", offset, "frame outside a session (no START frame before it)")
            return None
        seq = int.from_bytes(payload[:4], "little")
        if seq < self._next_seq:
            self._problem(ReplayError, "replay", offset,
                          f"frame seq {seq} arrived again or late (expected {self._next_seq}); dropped")
            return None
        frame = self._pen(offset, payload) if kind == KIND_PEN else self._end(offset, payload)
        if seq > self._next_seq:
            missing = seq - self._next_seq
            self._next_seq = seq + 1
            self._held = frame
            self._problem(FormatError, "gap", offset, f"{missing} frame(s) lost before seq {seq}")
            self._held = None
            return frame
        self._next_seq = seq + 1
        return frame

    def _start(self, offset: int, payload: bytes) -> SessionStart | None:
        if len(payload) == _START.size:
            seq, nonce, counter, tick_hz, upm, pmax, pad_id = _START.unpack(payload)
        else:
            (seq, nonce, counter, tick_hz, upm, pmax), pad_id = _START_V1.unpack(payload), None
        if nonce in self.seen_nonces:
            self._problem(ReplayError, "replay", offset, f"session nonce {nonce.hex()} was already used")
            return None
        if self.expected_nonce is not None and nonce != self.expected_nonce:
            self._problem(ReplayError, "nonce", offset, f"stale session nonce {nonce.hex()}: expected the "
                          f"host's challenge {self.expected_nonce.hex()}")
            return None
        if seq != 0 or tick_hz == 0:
            self._problem(FormatError, "start", offset, f"START frame with seq {seq} and tick rate {tick_hz} Hz; "
                          "seq must be 0 and the rate positive")
            return None
        self.seen_nonces.add(nonce)
        previous = self.session
        self.session = SessionStart(seq, nonce, counter, tick_hz, upm if upm > 0 and np.isfinite(upm) else None,
                                    pmax, offset, pad_id)
        self._next_seq, self._pen_count, self._last_ticks, self._elapsed_ticks = 1, 0, None, 0
        if previous is not None:
            self._held = self.session
            self._problem(FormatError, "unterminated", offset,
                          f"session {previous.nonce.hex()} ended without an END frame")
            self._held = None
        return self.session

    def _pen(self, offset: int, payload: bytes) -> PenPacket:
        seq, ticks, flags, x, y, pressure, tilt_x, tilt_y = _PEN.unpack(payload)
        if self._last_ticks is not None:
            self._elapsed_ticks += (ticks - self._last_ticks) & 0xFFFFFFFF
        self._last_ticks = ticks
        self._pen_count += 1
        t_ms = self._elapsed_ticks * 1000.0 / self.session.tick_hz
        return PenPacket(seq, ticks, t_ms, bool(flags & FLAG_TIP), bool(flags & FLAG_IN_RANGE),
                         bool(flags & FLAG_BARREL), x, y, pressure, tilt_x, tilt_y, offset)

    def _end(self, offset: int, payload: bytes) -> SessionEnd:
        seq, count, reason = _END.unpack(payload)
        end = SessionEnd(seq, count, END_REASONS.get(reason, f"reason {reason}"), offset)
        received = self._pen_count
        self.session = None
        if count != received:
            self._held = end
            self._problem(FormatError, "count", offset, f"END says {count} PEN frames, {received} arrived")
            self._held = None
        return end


def decode(data: bytes, *, issues: list[Issue] | None = None, **options) -> list[Frame]:
    """All frames of a byte string (see :class:`FrameDecoder` for the options); with
    ``policy="drop"`` the problems met are appended to ``issues`` when given."""
    decoder = FrameDecoder(**options)
    decoder.feed(data)
    frames = list(decoder.frames())
    if decoder.buffered:
        decoder._problem(FormatError, "truncated", decoder._base, f"{decoder.buffered} byte(s) of an "
                         "incomplete frame at the end")
    if issues is not None:
        issues.extend(decoder.issues)
    return frames


def frames_to_penstream(source: bytes | Iterable[Frame], *, policy: str = "raise",
                        seen_nonces: MutableSet[bytes] | None = None, expected_nonce: bytes | None = None,
                        name: str | None = None) -> PenStream:
    """One complete session (START, PEN..., END) as a PenStream carrying its nonce and counter.

    The device is named after the pad id (or ``name``, which identifies a version-1 pad
    whose frames carry none; without it such a stream carries no counter, see the module
    docstring). With ``policy="drop"``, a session that lost or garbled frames carries no
    counter either: only an intact capture may move the pad's counter.
    """
    issues: list[Issue] = []
    frames = decode(bytes(source), policy=policy, seen_nonces=seen_nonces, expected_nonce=expected_nonce,
                    issues=issues) if isinstance(source, (bytes, bytearray, memoryview)) else list(source)
    starts = [f for f in frames if isinstance(f, SessionStart)]
    if len(starts) != 1:
        raise FormatError(f"expected exactly one session, found {len(starts)} START frames; split the capture")
    if policy == "raise" and not any(isinstance(f, SessionEnd) for f in frames):
        raise FormatError("the session has no END frame: the capture was cut off before the pen finished")
    start = starts[0]
    pens = [f for f in frames if isinstance(f, PenPacket) and (f.in_range or f.tip)]
    if not pens:
        raise FormatError("the session holds no pen sample in range")
    table = np.array([(p.t_ms, p.x, p.y, p.pressure, p.tip, p.tilt_x, p.tilt_y) for p in pens], dtype=np.float64)
    device_name, sequence = start.freshness(name)
    device = DeviceInfo(name=device_name, units_per_mm=start.units_per_mm, timing_jitter=False)
    return PenStream.from_arrays(table[:, 1], table[:, 2], table[:, 0], table[:, 3], table[:, 4] > 0,
                                 tilt_x=table[:, 5], tilt_y=table[:, 6], pressure_max=max(start.pressure_max, 1),
                                 device=device, sequence=None if issues else sequence, nonce=start.nonce)


def encode_frame(kind: int, payload: bytes, version: int = VERSION) -> bytes:
    body = bytes([version, kind, len(payload)]) + payload
    return MAGIC + body + crc16(body).to_bytes(2, "little")


def encode_session(pen: PenStream, *, nonce: bytes | None = None, session_counter: int = 0,
                   tick_hz: int = 1000, pad_id: bytes | None = None) -> bytes:
    """The frames a pad would send for ``pen`` (host-side twin of the reference pad encoder);
    version 2 with ``pad_id`` (8 bytes), version 1 without."""
    nonce = os.urandom(8) if nonce is None else bytes(nonce)
    if len(nonce) != 8:
        raise InvalidInputError(f"the session nonce must be 8 bytes, got {len(nonce)}")
    if pad_id is not None and len(pad_id) != 8:
        raise InvalidInputError(f"the pad id must be 8 bytes, got {len(pad_id)}")
    version = 1 if pad_id is None else 2
    x, y = np.rint(pen.x).astype(np.int64), np.rint(pen.y).astype(np.int64)
    if min(x.min(), y.min()) < 0 or max(x.max(), y.max()) > 0xFFFF:
        raise InvalidInputError("x/y must be device units in 0..65535 for framed packets")
    ticks = np.rint((pen.t - pen.t[0]) * tick_hz / 1000.0).astype(np.int64) & 0xFFFFFFFF
    pressure = np.rint(pen.pressure * PRESSURE_MAX).astype(np.int64)
    tilt = _tilt_degrees(pen)
    start = (0, nonce, session_counter, tick_hz, pen.device.units_per_mm or 0.0, PRESSURE_MAX)
    out = [encode_frame(KIND_START, _START_V1.pack(*start) if pad_id is None else _START.pack(*start, pad_id),
                        version)]
    for i in range(len(pen)):
        flags = FLAG_IN_RANGE | (FLAG_TIP if pen.pen_down[i] else 0)
        out.append(encode_frame(KIND_PEN, _PEN.pack(i + 1, int(ticks[i]), flags, int(x[i]), int(y[i]),
                                                     int(pressure[i]), int(tilt[0][i]), int(tilt[1][i])), version))
    out.append(encode_frame(KIND_END, _END.pack(len(pen) + 1, len(pen), 0), version))
    return b"".join(out)


def _tilt_degrees(pen: PenStream) -> tuple[np.ndarray, np.ndarray]:
    if pen.tilt_x is not None and pen.tilt_y is not None:
        tx, ty = pen.tilt_x, pen.tilt_y
    elif pen.azimuth is not None and pen.altitude is not None:
        tx, ty = tilt_from_orientation(pen.azimuth, pen.altitude)
    else:
        tx = ty = np.zeros(len(pen))
    return (np.clip(np.rint(tx), -127, 127).astype(np.int64), np.clip(np.rint(ty), -127, 127).astype(np.int64))


def sniff(data: bytes, name: str) -> bool:
    return data[:2] == MAGIC and len(data) > HEADER_BYTES and data[2] in VERSIONS and data[3] == KIND_START


def read(data: bytes, *, policy: str = "raise", **_: object) -> PenStream:
    return frames_to_penstream(data, policy=policy)


def write(pen: PenStream) -> bytes:
    return encode_session(pen)


FORMAT = register(PenFormat("frames", sniff, read, write, suffixes=(".esf",), sniffs_head=True,
                            bytes_per_point=128))
