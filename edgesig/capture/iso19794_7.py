"""ISO/IEC 19794-7:2007 signature/sign time series data, full format: read and write.

Why: signature pads and biometric middleware export this record, and it is the one
standardised binary container for online signatures.

Implemented (first edition, version " 10"; layout from the ASN.1 module of the
standard as reproduced in GOST R ISO/IEC 19794-7-2009, cross-checked against the public
BioSignIn ``isoiec19794.y2007`` reader; all integers big-endian):

* Header: ``"SDI\\0"``, version ``" 10\\0"``, a 16-bit channel-inclusion field (MSB first:
  X Y Z VX VY AX AY T DT F S TX TY AZ EL R; X and Y are mandatory), one channel
  description per included channel, one reserved byte.
* Channel description: a preamble byte (scaling value, min, max, mean, std included;
  is-constant; linear component removed; reserved) then the included 16-bit fields in
  that order. The scaling value is ``(1 + fraction / 2048) * 2 ** (exponent - 16)`` with a
  5-bit exponent biased by 16 and an 11-bit fraction (as two independent public readers,
  BioSignIn and a Fraunhofer SIT parser, decode it; the ECN example built on this
  record in ISO/IEC 8825-6 uses a two's-complement exponent instead), and counts channel
  units per physical unit: per millimetre for X/Y/Z, per second for T/DT, per degree for
  angles (the last is our reading; pass the angles through unchanged if a device differs).
* Signed channels (X, Y, VX, VY, AX, AY, TX, TY) are stored offset by 32768, as the
  constrained ASN.1 integers they are (the BioSignIn reader agrees); min/max/mean of a
  signed channel likewise.
* Body: an optionality byte (bit 7: extended data present), a 24-bit sample count, the
  samples (16 bits per channel, 8 bits for the S switch channel as the ASN.1 module
  says; BioSignIn uses 16), then the optional extended data as a 16-bit length and bytes.

Mapping to a PenStream: X/Y stay in record units with ``units_per_mm`` from the X
scaling value (Y is rescaled if its own scaling differs); time from T, else the sum of
DT, else ``sample_rate_hz=``; pressure is F over its declared [min, max] (else over the
largest F seen, or ``pressure_max=``); pen-down is S, else F > min. AZ/EL become
azimuth/altitude and TX/TY tilt, in degrees. Z, velocities, accelerations and R are
parsed and checked (see :func:`parse`) but have no place in a PenStream.

Not implemented: the compact format for smart cards (no header to detect it by), and
the 2014 second edition, whose record adds a general header (record length, number of
representations) and representation headers (capture time, device identifiers,
quality blocks) around the same channel data; its exact byte layout was not available
to us, so such records are rejected with a message saying so rather than guessed at.

The writer stores X, Y, T, F, S (plus AZ/EL and TX/TY when the stream has them), with
time relative to the first sample, pressure at 1/65535 and angles at 1/100 degree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgesig.capture.registry import PenFormat, register
from edgesig.errors import FormatError, InvalidInputError
from edgesig.pen import DeviceInfo, PenStream

MAGIC = b"SDI\x00"
VERSION = b" 10\x00"
CHANNELS = ("x", "y", "z", "vx", "vy", "ax", "ay", "t", "dt", "f", "s", "tx", "ty", "az", "el", "r")
SIGNED = frozenset({"x", "y", "vx", "vy", "ax", "ay", "tx", "ty"})
SIGNED_OFFSET = 32768
#: Preamble bits, MSB first, and the 16-bit attribute each one announces.
_ATTRS = ("scaling", "minimum", "maximum", "mean", "std")
_CONSTANT_BIT, _LINEAR_BIT = 0x04, 0x02
_EXTENDED_BIT = 0x80
#: Writer resolutions.
F_FULL_SCALE = 65535
ANGLE_UNITS_PER_DEG = 100.0
MS_SCALING = 1000.0  # T units per second when T is in milliseconds


@dataclass(frozen=True)
class ChannelDescription:
    """What the header says about one channel; absent attributes are None."""

    name: str
    scaling: float | None = None
    minimum: int | None = None
    maximum: int | None = None
    mean: int | None = None
    std: int | None = None
    constant: bool = False
    linear_component_removed: bool = False


@dataclass(frozen=True)
class Record:
    """A decoded record: channel descriptions and integer samples, keyed by channel name."""

    channels: dict[str, ChannelDescription]
    samples: dict[str, np.ndarray]
    extended_data: bytes | None = None
    n_samples: int = 0


def decode_scaling(raw: int) -> float:
    """The value of a 16-bit scaling field: 5-bit exponent (bias 16), 11-bit fraction."""
    return (1.0 + (raw & 0x7FF) / 2048.0) * 2.0 ** ((raw >> 11) - 16)


def encode_scaling(value: float, round_down: bool = False) -> int:
    """The 16-bit field nearest to ``value`` (not above it when ``round_down``)."""
    if not (math.isfinite(value) and 2.0 ** -16 <= value <= (2 - 2 ** -11) * 2.0 ** 15):
        raise InvalidInputError(f"scaling value {value!r} is outside what ISO 19794-7 can store "
                                "(2^-16 to about 65504)")
    exponent = math.floor(math.log2(value))
    fraction = (value / 2.0 ** exponent - 1.0) * 2048.0
    fraction = math.floor(fraction + 1e-9) if round_down else round(fraction)
    if fraction >= 2048:
        exponent, fraction = exponent + 1, 0
    return ((exponent + 16) << 11) | fraction


def sniff(data: bytes, name: str) -> bool:
    return data[:4] == MAGIC


def parse(data: bytes) -> Record:
    """Decode the binary record; FormatError names the byte offset of the first problem."""
    cur = _Cursor(data)
    if cur.take(4, "format identifier") != MAGIC:
        raise FormatError("not an ISO/IEC 19794-7 record: it must start with 'SDI\\0'", offset=0)
    version = cur.take(4, "version")
    if version != VERSION:
        raise FormatError(f"ISO/IEC 19794-7 version {version!r} is not supported; this reader implements "
                          "the 2007 first edition (version ' 10'); convert 2014 records to it", offset=4)
    inclusion = cur.u16("channel inclusion field")
    included = [name for bit, name in enumerate(CHANNELS) if inclusion & (0x8000 >> bit)]
    if "x" not in included or "y" not in included:
        raise FormatError("the channel inclusion field must include X and Y", offset=8)
    channels = {name: _channel_description(cur, name) for name in included}
    cur.take(1, "reserved byte")
    body_flags = cur.take(1, "body optionality byte")[0]
    count = int.from_bytes(cur.take(3, "sample count"), "big")
    samples = _samples(cur, included, count)
    extended = None
    if body_flags & _EXTENDED_BIT:
        extended = cur.take(cur.u16("extended data length"), "extended data")
    if cur.pos != len(data):
        raise FormatError(f"{len(data) - cur.pos} unexpected bytes after the record", offset=cur.pos)
    return Record(channels, samples, extended, count)


def build(record: Record) -> bytes:
    """Encode a :class:`Record` (the inverse of :func:`parse`)."""
    names = [n for n in CHANNELS if n in record.channels]
    inclusion = sum(0x8000 >> CHANNELS.index(n) for n in names)
    out = bytearray(MAGIC + VERSION + inclusion.to_bytes(2, "big"))
    for name in names:
        out += _encode_description(record.channels[name])
    out.append(0)
    out.append(_EXTENDED_BIT if record.extended_data else 0)
    out += record.n_samples.to_bytes(3, "big")
    table = np.zeros(record.n_samples, dtype=_sample_dtype(names))
    for name in names:
        values = np.asarray(record.samples[name], dtype=np.int64)
        stored = values + SIGNED_OFFSET if name in SIGNED else values
        top = 0xFF if name == "s" else 0xFFFF
        if values.size and (stored.min() < 0 or stored.max() > top):
            raise InvalidInputError(f"{name.upper()} channel values [{values.min()}, {values.max()}] do not fit "
                                    f"its {'8' if name == 's' else '16'}-bit field")
        table[name] = stored
    out += table.tobytes()
    if record.extended_data:
        out += len(record.extended_data).to_bytes(2, "big") + record.extended_data
    return bytes(out)


def read(data: bytes, *, pressure_max: float | None = None, sample_rate_hz: float | None = None,
         **_: object) -> PenStream:
    """A PenStream from a 2007 full-format record (see the module docstring for the mapping)."""
    rec = parse(data)
    s, d = rec.samples, rec.channels
    x, y = s["x"].astype(np.float64), s["y"].astype(np.float64)
    sx, sy = d["x"].scaling, d["y"].scaling
    if sx and sy and sx != sy:
        y = y * (sx / sy)
    pressure, pen_down, full_scale = _pressure(rec, pressure_max)
    angles = {key: _angle(rec, ch) for key, ch in (("azimuth", "az"), ("altitude", "el"),
                                                    ("tilt_x", "tx"), ("tilt_y", "ty")) if ch in s}
    device = DeviceInfo(name="ISO/IEC 19794-7", units_per_mm=sx or sy, sample_rate_hz=sample_rate_hz)
    return PenStream.from_arrays(x, y, _time_ms(rec), pressure, pen_down, pressure_max=full_scale,
                                 sample_rate_hz=sample_rate_hz, device=device, **angles)


def write(pen: PenStream) -> bytes:
    """Encode a PenStream as a 2007 full-format record."""
    n = len(pen)
    x_scale, x_desc = _xy_scaling(pen)
    t_rel = pen.t - pen.t[0]
    t_scaling = _time_scaling(t_rel)
    channels = {
        "x": ChannelDescription("x", scaling=x_desc),
        "y": ChannelDescription("y", scaling=x_desc),
        "t": ChannelDescription("t", scaling=t_scaling),
        "f": ChannelDescription("f", minimum=0, maximum=F_FULL_SCALE),
        "s": ChannelDescription("s", minimum=0, maximum=1),
    }
    samples = {
        "x": np.rint(pen.x * x_scale), "y": np.rint(pen.y * x_scale),
        "t": np.rint(t_rel * t_scaling / 1000.0),
        "f": np.rint(pen.pressure * F_FULL_SCALE), "s": pen.pen_down.astype(np.int64),
    }
    if pen.azimuth is not None and pen.altitude is not None:
        samples["az"] = np.rint(np.mod(pen.azimuth, 360.0) * ANGLE_UNITS_PER_DEG)
        samples["el"] = _checked(pen.altitude * ANGLE_UNITS_PER_DEG, 0, 65535, "altitude")
    if pen.tilt_x is not None and pen.tilt_y is not None:
        samples["tx"] = _checked(pen.tilt_x * ANGLE_UNITS_PER_DEG, -32768, 32767, "tilt_x")
        samples["ty"] = _checked(pen.tilt_y * ANGLE_UNITS_PER_DEG, -32768, 32767, "tilt_y")
    for name in ("az", "el", "tx", "ty"):
        if name in samples:
            channels[name] = ChannelDescription(name, scaling=ANGLE_UNITS_PER_DEG)
    if n > 0xFFFFFF:
        raise InvalidInputError(f"{n} samples do not fit the 24-bit sample count")
    return build(Record(channels, {k: v.astype(np.int64) for k, v in samples.items()}, None, n))


class _Cursor:
    """Reads fields in order; running out of bytes is a FormatError at the field's offset."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise FormatError(f"record truncated: {what} needs {n} bytes, {len(self.data) - self.pos} left",
                              offset=self.pos)
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "big")


def _channel_description(cur: _Cursor, name: str) -> ChannelDescription:
    preamble = cur.take(1, f"{name.upper()} channel preamble")[0]
    values: dict[str, float | int] = {}
    for bit, attr in enumerate(_ATTRS):
        if preamble & (0x80 >> bit):
            raw = cur.u16(f"{name.upper()} {attr}")
            if attr == "scaling":
                values[attr] = decode_scaling(raw)
            elif name in SIGNED and attr != "std":
                values[attr] = raw - SIGNED_OFFSET
            else:
                values[attr] = raw
    return ChannelDescription(name, constant=bool(preamble & _CONSTANT_BIT),
                              linear_component_removed=bool(preamble & _LINEAR_BIT), **values)


def _encode_description(desc: ChannelDescription) -> bytes:
    preamble = (_CONSTANT_BIT if desc.constant else 0) | (_LINEAR_BIT if desc.linear_component_removed else 0)
    fields = bytearray()
    for bit, attr in enumerate(_ATTRS):
        value = getattr(desc, attr)
        if value is None:
            continue
        preamble |= 0x80 >> bit
        if attr == "scaling":
            raw = encode_scaling(float(value))
        else:
            raw = int(value) + (SIGNED_OFFSET if desc.name in SIGNED and attr != "std" else 0)
        if not 0 <= raw <= 0xFFFF:
            raise InvalidInputError(f"{desc.name.upper()} {attr} {value} does not fit 16 bits")
        fields += raw.to_bytes(2, "big")
    return bytes([preamble]) + bytes(fields)


def _sample_dtype(names: list[str]) -> np.dtype:
    return np.dtype([(n, "u1" if n == "s" else ">u2") for n in names])


def _samples(cur: _Cursor, names: list[str], count: int) -> dict[str, np.ndarray]:
    dtype = _sample_dtype(names)
    complete = (len(cur.data) - cur.pos) // dtype.itemsize
    if complete < count:
        raise FormatError(f"record truncated: sample {complete} of {count} is incomplete",
                          offset=cur.pos + complete * dtype.itemsize)
    raw = cur.take(count * dtype.itemsize, f"{count} samples of {dtype.itemsize} bytes")
    table = np.frombuffer(raw, dtype=dtype, count=count)
    return {n: table[n].astype(np.int64) - (SIGNED_OFFSET if n in SIGNED else 0) for n in names}


def _time_ms(rec: Record) -> np.ndarray | None:
    if "t" in rec.samples:
        return rec.samples["t"] * (1000.0 / (rec.channels["t"].scaling or MS_SCALING))
    if "dt" in rec.samples:
        dt = rec.samples["dt"] * (1000.0 / (rec.channels["dt"].scaling or MS_SCALING))
        return np.cumsum(dt) - dt[0] if dt.size else dt
    return None


def _pressure(rec: Record, pressure_max: float | None) -> tuple[np.ndarray | None, np.ndarray | None, float]:
    s, d = rec.samples, rec.channels
    switch = s["s"] > 0 if "s" in s else None
    if "f" not in s:
        return None, switch, 1.0
    low = d["f"].minimum or 0
    force = s["f"].astype(np.float64) - low
    full = pressure_max if pressure_max is not None else (
        d["f"].maximum - low if d["f"].maximum is not None and d["f"].maximum > low
        else float(force.max()) if force.size and force.max() > 0 else 1.0)
    return force, switch if switch is not None else force > 0, float(full)


def _angle(rec: Record, name: str) -> np.ndarray:
    scaling = rec.channels[name].scaling
    values = rec.samples[name].astype(np.float64)
    return values / scaling if scaling else values


def _xy_scaling(pen: PenStream) -> tuple[float, float | None]:
    """(stored units per stream unit, scaling value to declare) so X/Y fit signed 16 bits."""
    span = float(max(np.abs(pen.x).max(), np.abs(pen.y).max(), 1.0))
    upm = pen.device.units_per_mm
    if not upm:
        if span > 32767:
            raise InvalidInputError("coordinates exceed ±32767 and the device resolution is unknown, so they "
                                    "cannot be rescaled; set device.units_per_mm on the stream")
        return 1.0, None
    declared = decode_scaling(encode_scaling(upm * min(1.0, 32767.0 / span), round_down=True))
    return declared / upm, declared


def _time_scaling(t_rel: np.ndarray) -> float:
    """T units per second: exact milliseconds when they fit, else the finest that fits 16 bits."""
    longest = float(t_rel.max()) if t_rel.size else 0.0
    if longest <= 65535 and np.allclose(t_rel, np.rint(t_rel), atol=1e-9):
        return MS_SCALING
    return decode_scaling(encode_scaling(min(65535.0 * 1000.0 / max(longest, 1e-3), 65504.0), round_down=True))


def _checked(values: np.ndarray, low: int, high: int, name: str) -> np.ndarray:
    out = np.rint(values)
    if out.min() < low or out.max() > high:
        raise InvalidInputError(f"{name} values are outside what ISO 19794-7 stores at 1/100 degree")
    return out


FORMAT = register(PenFormat("iso19794_7", sniff, read, write, suffixes=(".sdi", ".iso", ".bin"),
                                  sniffs_head=True, bytes_per_point=64))
