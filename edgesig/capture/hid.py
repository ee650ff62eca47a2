"""USB HID digitizers: parse the report descriptor, decode pen input reports.

Why: a signature pad on a point-of-sale terminal is, to the host, a HID digitizer. Its
report descriptor says where in each input report the pen's fields are and in which
units; decoding from the descriptor instead of a vendor table makes any class-compliant
pad work without a driver.

What is read from the descriptor (HID 1.11, sections 6.2.2.4-6.2.2.8): Usage Page,
Usage (16- and 32-bit), Usage Minimum/Maximum, Logical and Physical Minimum/Maximum,
Unit and Unit Exponent, Report Size/Count/ID, Push/Pop, Collection, and Input items
(Output and Feature items are skipped, constant fields are padding). The pen is the
report holding Generic Desktop X and Y with a Digitizer Tip Switch or Tip Pressure,
preferring a Digitizer "Pen" application collection; its In Range, Tip Switch, Tip
Pressure, X Tilt and Y Tilt fields are decoded (barrel and eraser buttons are ignored). Units: X/Y units per mm from
the logical range over the physical range scaled by the unit (SI linear: cm, English
linear: inch) and unit exponent; tilt in degrees (SI rotation: radians, English
rotation: degrees; no unit: logical values are taken as degrees).

Input: report bytes with a timestamp per report (``timestamps_ms``) or a fixed report
rate (``rate_hz``). Reports from other collections (touch, buttons) are skipped; reports
while the pen is out of range are dropped; a report repeated exactly (same time, same
bytes) is dropped.

File form: the text format of ``hid-recorder`` (Linux ``hid-tools``), which records a
hidraw node as ``R:`` (descriptor), ``N:``/``I:``/``P:`` (name, ids, path) and
``E: seconds.micros length bytes`` (one input report) lines. The writer produces that
format from a PenStream and a descriptor (by default :data:`EXAMPLE_PEN_DESCRIPTOR`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from edgesig.capture.registry import PenFormat, register
from edgesig.capture.units import MM_PER_INCH, drop_exact_duplicates, tilt_from_orientation
from edgesig.errors import FormatError, InvalidInputError
from edgesig.pen import DeviceInfo, PenStream

X, Y = 0x010030, 0x010031
PEN_COLLECTION = 0x0D0002
TIP_PRESSURE, IN_RANGE, X_TILT, Y_TILT = 0x0D0030, 0x0D0032, 0x0D003D, 0x0D003E
TIP_SWITCH = 0x0D0042
#: Longest input report accepted (the HID maximum for full-speed interrupt reports is far less).
MAX_REPORT_BYTES = 4096

#: A reference pen descriptor, modelled on a Wacom-style pad: report 2 = tip, barrel,
#: eraser, in-range bits; X 0..21600 and Y 0..13500 over 216 x 135 mm (100 units/mm);
#: 12-bit pressure; tilt -60..60 degrees. Report 3 is a 2-button "express key" report
#: that the pen decoder must skip. Annotated in firmware_samples/README.md.
EXAMPLE_PEN_DESCRIPTOR = bytes.fromhex(
    "050d 0902 a101 8502 0920 a100"            # Digitizer / Pen / App collection, report 2, Stylus
    "0942 0944 0945 0932 1500 2501 7501 9504 8102"  # tip, barrel, eraser, in range: 4 x 1 bit
    "9504 8103"                                 # 4 bits padding
    "0501 0930 7510 9501 a4 5500 6511 1500 266054 3500 466054 550d 8102"  # X, 0.001 cm, 21600
    "0931 26bc34 46bc34 8102 b4"                  # Y 13500, pop
    "050d 0930 1500 26ff0f 7510 9501 8102"      # tip pressure 0..4095
    "093d 093e 15c4 253c 35c4 453c 6514 5500 7508 9502 8102"  # tilt x/y -60..60 degrees
    "c0 c0"
    "0501 0907 a101 8503 0509 1901 2902 1500 2501 7501 9502 8102 9506 8103 c0")  # keys, report 3


@dataclass(frozen=True)
class Field:
    """One variable Input field: where it is in its report and how to scale it."""

    report_id: int
    usage: int
    bit_offset: int
    bit_size: int
    logical_min: int
    logical_max: int
    physical_min: int
    physical_max: int
    unit: int
    unit_exponent: int
    application: int = 0

    @property
    def physical_range(self) -> tuple[float, float]:
        if self.physical_min == self.physical_max == 0:
            return float(self.logical_min), float(self.logical_max)
        return float(self.physical_min), float(self.physical_max)

    def units_per_mm(self) -> float | None:
        """Logical units per millimetre, or None when the field has no length unit."""
        system, length = self.unit & 0xF, (self.unit >> 4) & 0xF
        low, high = self.physical_range
        if system not in (1, 3) or length != 1 or high <= low or self.logical_max <= self.logical_min:
            return None
        mm = (high - low) * 10.0 ** self.unit_exponent * (10.0 if system == 1 else MM_PER_INCH)
        return (self.logical_max - self.logical_min) / mm

    def degrees(self, raw: np.ndarray) -> np.ndarray:
        """Logical values of an angle field in degrees."""
        low, high = self.physical_range
        span = self.logical_max - self.logical_min
        scale = (high - low) / span if span else 1.0
        value = (low + (raw - self.logical_min) * scale) * 10.0 ** self.unit_exponent
        return np.degrees(value) if self.unit & 0xF == 2 else value

    def logical_from_degrees(self, deg: np.ndarray) -> np.ndarray:
        low, high = self.physical_range
        value = deg / 10.0 ** self.unit_exponent
        value = np.radians(value) if self.unit & 0xF == 2 else value
        span = high - low
        return self.logical_min + (value - low) * ((self.logical_max - self.logical_min) / span if span else 1.0)


@dataclass(frozen=True)
class Descriptor:
    """The parsed report descriptor: Input fields and the length of each input report."""

    fields: tuple[Field, ...]
    report_bytes: dict[int, int]
    uses_report_ids: bool

    def pen(self, report_id: int | None = None) -> "PenLayout":
        """The pen report's fields (the best candidate, or the given report ID)."""
        candidates = []
        for rid in sorted(self.report_bytes):
            found = {f.usage: f for f in reversed(self.fields) if f.report_id == rid}
            if X in found and Y in found and (TIP_SWITCH in found or TIP_PRESSURE in found):
                is_pen = any(f.application == PEN_COLLECTION for f in found.values())
                candidates.append((not is_pen, TIP_PRESSURE not in found, rid, found))
        if report_id is not None:
            candidates = [c for c in candidates if c[2] == report_id]
        if not candidates:
            raise FormatError("the report descriptor has no pen report (X, Y and a tip switch or tip "
                              "pressure in one input report)" + (f" with ID {report_id}" if report_id else ""))
        _, _, rid, found = min(candidates, key=lambda c: c[:3])
        return PenLayout(rid, self.report_bytes[rid], found)


@dataclass(frozen=True)
class PenLayout:
    report_id: int
    report_bytes: int
    fields: dict[int, Field] = field(repr=False)

    def get(self, usage: int) -> Field | None:
        return self.fields.get(usage)


@dataclass
class _Globals:
    usage_page: int = 0
    logical_min: int = 0
    logical_max: int = 0
    physical_min: int = 0
    physical_max: int = 0
    unit: int = 0
    unit_exponent: int = 0
    report_size: int = 0
    report_count: int = 0
    report_id: int = 0


def parse_descriptor(data: bytes) -> Descriptor:
    """Parse a HID report descriptor; FormatError names the offset of a bad item."""
    g, stack = _Globals(), []
    usages: list[tuple[int | None, int]] = []
    usage_min: tuple[int | None, int] | None = None
    bits: dict[int, int] = {}
    fields: list[Field] = []
    collections: list[int] = []
    application = 0
    uses_ids = False
    pos = 0
    while pos < len(data):
        prefix = data[pos]
        if prefix == 0xFE:  # long item: size, tag, data
            if pos + 3 > len(data):
                raise FormatError("truncated long item in the report descriptor", offset=pos)
            pos += 3 + data[pos + 1]
            continue
        size = (0, 1, 2, 4)[prefix & 3]
        kind, tag = (prefix >> 2) & 3, prefix >> 4
        if pos + 1 + size > len(data):
            raise FormatError(f"report descriptor item 0x{prefix:02x} is truncated", offset=pos)
        raw = data[pos + 1:pos + 1 + size]
        unsigned = int.from_bytes(raw, "little")
        signed = int.from_bytes(raw, "little", signed=True)
        if kind == 1:
            if tag == 10:
                stack.append(_Globals(**vars(g)))
            elif tag == 11:
                if not stack:
                    raise FormatError("Pop without Push in the report descriptor", offset=pos)
                g = stack.pop()
            else:
                uses_ids |= _set_global(g, tag, unsigned, signed, size, pos)
        elif kind == 2:
            usage = (unsigned >> 16, unsigned & 0xFFFF) if size == 4 else (None, unsigned)
            if tag == 0:
                usages.append(usage)
            elif tag == 1:
                usage_min = usage
            elif tag == 2 and usage_min is not None:
                if usage[1] - usage_min[1] > 0xFFFF or usage[1] < usage_min[1]:
                    raise FormatError("invalid Usage Minimum/Maximum range", offset=pos)
                usages += [(usage_min[0], u) for u in range(usage_min[1], usage[1] + 1)]
        elif kind == 0:
            resolved = [((page if page is not None else g.usage_page) << 16) | uid for page, uid in usages]
            if tag not in (8, 9, 10, 11, 12):
                pos += 1 + size  # undefined main item (often zero padding): ignored, locals kept
                continue
            if tag == 8:
                _add_input(g, unsigned, resolved, bits, fields, application, pos)
            elif tag == 10:
                collections.append(application)
                if unsigned == 1 and resolved:  # an Application collection names the device kind
                    application = resolved[0]
            elif tag == 12:
                if not collections:
                    raise FormatError("End Collection without Collection in the report descriptor", offset=pos)
                application = collections.pop()
            usages, usage_min = [], None
        else:
            raise FormatError(f"reserved item type in report descriptor byte 0x{prefix:02x}", offset=pos)
        pos += 1 + size
    if not bits:
        raise FormatError("the report descriptor declares no input report")
    return Descriptor(tuple(fields), {rid: (n + 7) // 8 for rid, n in bits.items()}, uses_ids)


def _set_global(g: _Globals, tag: int, unsigned: int, signed: int, size: int, pos: int) -> bool:
    """Apply a global item; True when it is a Report ID."""
    if tag == 0:
        g.usage_page = unsigned
    elif tag == 1:
        g.logical_min = signed
    elif tag == 2:
        g.logical_max = signed if signed >= g.logical_min else unsigned
    elif tag == 3:
        g.physical_min = signed
    elif tag == 4:
        g.physical_max = signed if signed >= g.physical_min else unsigned
    elif tag == 5:  # a 4-bit signed nibble per HID 1.11; some descriptors use a whole signed byte
        g.unit_exponent = (unsigned - 16 if unsigned >= 8 else unsigned) if unsigned < 16 else signed
    elif tag == 6:
        g.unit = unsigned
    elif tag == 7:
        g.report_size = unsigned
    elif tag == 9:
        g.report_count = unsigned
    elif tag == 8:
        if not 1 <= unsigned <= 255:
            raise FormatError(f"Report ID {unsigned} is outside 1..255", offset=pos)
        g.report_id = unsigned
        return True
    return False


def _add_input(g: _Globals, flags: int, usages: list[int], bits: dict, fields: list, application: int,
               pos: int) -> None:
    start = bits.get(g.report_id, 0)
    total = start + g.report_size * g.report_count
    if total > MAX_REPORT_BYTES * 8:
        raise FormatError(f"input report {g.report_id} would exceed {MAX_REPORT_BYTES} bytes", offset=pos)
    bits[g.report_id] = total
    constant, variable = flags & 1, flags & 2
    if constant or not variable or not usages or not 1 <= g.report_size <= 32:
        return
    for i in range(min(g.report_count, len(usages))):
        fields.append(Field(g.report_id, usages[i], start + i * g.report_size, g.report_size, g.logical_min,
                            g.logical_max, g.physical_min, g.physical_max, g.unit, g.unit_exponent, application))


def split_reports(descriptor: Descriptor, stream: bytes) -> list[bytes]:
    """Cut a byte stream of back-to-back input reports into reports (ID byte included)."""
    reports, pos = [], 0
    while pos < len(stream):
        rid = stream[pos] if descriptor.uses_report_ids else 0
        if rid not in descriptor.report_bytes:
            raise FormatError(f"report ID {rid} is not in the report descriptor", offset=pos)
        length = descriptor.report_bytes[rid] + (1 if descriptor.uses_report_ids else 0)
        if pos + length > len(stream):
            raise FormatError(f"report {rid} truncated: needs {length} bytes", offset=pos)
        reports.append(stream[pos:pos + length])
        pos += length
    return reports


def decode_reports(descriptor: bytes | Descriptor, reports: bytes | Sequence[bytes], *,
                   timestamps_ms: Sequence[float] | None = None, rate_hz: float | None = None,
                   report_id: int | None = None, name: str = "HID digitizer") -> PenStream:
    """A PenStream from input reports: one timestamp per report, or a fixed ``rate_hz``."""
    desc = descriptor if isinstance(descriptor, Descriptor) else parse_descriptor(bytes(descriptor))
    items = split_reports(desc, bytes(reports)) if isinstance(reports, (bytes, bytearray)) else list(reports)
    for i, r in enumerate(items):
        if not isinstance(r, (bytes, bytearray)):
            raise InvalidInputError(f"report {i} is {type(r).__name__}, not bytes")
    times = _report_times(len(items), timestamps_ms, rate_hz)
    layout = desc.pen(report_id)
    size = layout.report_bytes + (1 if desc.uses_report_ids else 0)
    keep = [i for i, r in enumerate(items) if len(r) == size and (not desc.uses_report_ids
                                                                   or r[0] == layout.report_id)]
    if not keep:
        raise FormatError(f"no pen reports (ID {layout.report_id}, {size} bytes) among {len(items)} reports")
    body = np.frombuffer(b"".join(items[i] for i in keep), dtype=np.uint8).reshape(len(keep), size)
    body = body[:, 1:] if desc.uses_report_ids else body
    return _to_pen(layout, body, times[keep], name, host_clock=timestamps_ms is not None)


def _report_times(n: int, timestamps_ms: Sequence[float] | None, rate_hz: float | None) -> np.ndarray:
    if timestamps_ms is not None:
        times = np.asarray(timestamps_ms, dtype=np.float64)
        if times.shape != (n,) or not np.isfinite(times).all():
            raise InvalidInputError(f"need one finite timestamp per report: {n} reports, "
                                    f"{times.size} timestamps")
        return times
    if not rate_hz or rate_hz <= 0:
        raise InvalidInputError("HID reports carry no time: pass timestamps_ms= (one per report) or rate_hz=")
    return np.arange(n) * (1000.0 / rate_hz)


def _extract(body: np.ndarray, f: Field) -> np.ndarray:
    first, shift = divmod(f.bit_offset, 8)
    n_bytes = (shift + f.bit_size + 7) // 8
    value = np.zeros(body.shape[0], dtype=np.uint64)
    for k in range(n_bytes):
        value |= body[:, first + k].astype(np.uint64) << np.uint64(8 * k)
    value = (value >> np.uint64(shift)) & np.uint64((1 << f.bit_size) - 1)
    out = value.astype(np.int64)
    if f.logical_min < 0:
        out = np.where(out >= 1 << (f.bit_size - 1), out - (1 << f.bit_size), out)
    return out


def _to_pen(layout: PenLayout, body: np.ndarray, times: np.ndarray, name: str,
            host_clock: bool) -> PenStream:
    """``host_clock``: the times are real arrival times (they jitter), not a synthesised grid."""
    raw = {usage: _extract(body, f) for usage, f in layout.fields.items()}
    fx, fy = layout.fields[X], layout.fields[Y]
    upm_x, upm_y = fx.units_per_mm(), fy.units_per_mm()
    y = raw[Y] * (upm_x / upm_y) if upm_x and upm_y and upm_x != upm_y else raw[Y]
    fp = layout.get(TIP_PRESSURE)
    pressure = np.clip(raw[TIP_PRESSURE] - fp.logical_min, 0, None) if fp else np.ones(len(times))
    down = raw[TIP_SWITCH] > 0 if TIP_SWITCH in raw else pressure > 0
    has_tilt = X_TILT in raw and Y_TILT in raw
    tilt = ([layout.fields[X_TILT].degrees(raw[X_TILT]), layout.fields[Y_TILT].degrees(raw[Y_TILT])]
            if has_tilt else [])
    in_range = (raw[IN_RANGE] > 0 if IN_RANGE in raw else np.ones(len(times), dtype=bool)) | down
    table = np.column_stack([times, raw[X], y, pressure, down] + tilt).astype(np.float64)
    table = drop_exact_duplicates(table[in_range])
    if table.shape[0] == 0:
        raise FormatError("the pen never came in range in these reports")
    full = float(fp.logical_max - fp.logical_min) if fp and fp.logical_max > fp.logical_min else 1.0
    angles = {"tilt_x": table[:, 5], "tilt_y": table[:, 6]} if has_tilt else {}
    device = DeviceInfo(name=name, units_per_mm=upm_x or upm_y, timing_jitter=host_clock)
    return PenStream.from_arrays(table[:, 1], table[:, 2], table[:, 0], table[:, 3] if fp else None,
                                 table[:, 4] > 0, pressure_max=full, device=device, **angles)


def encode_reports(pen: PenStream, descriptor: bytes | Descriptor = EXAMPLE_PEN_DESCRIPTOR) -> list[bytes]:
    """One pen input report per sample, laid out as the descriptor says (the pad side)."""
    desc = descriptor if isinstance(descriptor, Descriptor) else parse_descriptor(bytes(descriptor))
    layout = desc.pen()
    fx = layout.fields[X]
    upm = fx.units_per_mm()
    scale = upm / pen.device.units_per_mm if upm and pen.device.units_per_mm else 1.0
    values: dict[int, np.ndarray] = {X: np.rint(pen.x * scale), Y: np.rint(pen.y * scale)}
    values[TIP_SWITCH] = pen.pen_down.astype(np.int64)
    values[IN_RANGE] = np.ones(len(pen), dtype=np.int64)
    if TIP_PRESSURE in layout.fields:
        fp = layout.fields[TIP_PRESSURE]
        values[TIP_PRESSURE] = np.rint(fp.logical_min + pen.pressure * (fp.logical_max - fp.logical_min))
    tilt = (pen.tilt_x, pen.tilt_y) if pen.tilt_x is not None and pen.tilt_y is not None else (
        tilt_from_orientation(pen.azimuth, pen.altitude) if pen.azimuth is not None and pen.altitude is not None
        else None)
    if tilt is not None and X_TILT in layout.fields and Y_TILT in layout.fields:
        for usage, deg in zip((X_TILT, Y_TILT), tilt):
            f = layout.fields[usage]
            values[usage] = np.clip(np.rint(f.logical_from_degrees(np.asarray(deg))), f.logical_min, f.logical_max)
    packed = np.zeros(len(pen), dtype=object)
    for usage, f in layout.fields.items():
        v = values.get(usage, np.zeros(len(pen))).astype(np.int64)
        if v.size and (v.min() < f.logical_min or v.max() > f.logical_max):
            raise InvalidInputError(f"usage 0x{usage:06x} values [{v.min()}, {v.max()}] exceed the descriptor's "
                                    f"logical range [{f.logical_min}, {f.logical_max}]")
        mask = (1 << f.bit_size) - 1
        packed = packed + np.array([(int(u) & mask) << f.bit_offset for u in v], dtype=object)
    prefix = bytes([layout.report_id]) if desc.uses_report_ids else b""
    return [prefix + int(word).to_bytes(layout.report_bytes, "little") for word in packed]


# --- hid-recorder text files ---------------------------------------------------------------

_LINE = re.compile(r"^([A-Z]):\s*(.*)$")


def sniff(data: bytes, name: str) -> bool:
    head = data[:4096]
    return re.search(rb"^R:\s*\d+\s", head, re.M) is not None and re.search(rb"^[EN]:", head, re.M) is not None


def read(data: bytes, *, device: int = 0, report_id: int | None = None, rate_hz: float | None = None,
         **_: object) -> PenStream:
    """A PenStream from a ``hid-recorder`` log (descriptor ``R:`` plus ``E:`` report lines)."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FormatError("hid-recorder logs are ASCII text", offset=exc.start) from None
    descriptors, names, events, current = [], [], [], 0
    for number, line in enumerate(text.splitlines(), start=1):
        m = _LINE.match(line.strip())
        if not m:
            continue
        key, rest = m.groups()
        if key == "D":
            current = _int(rest, number)
        elif key == "R":
            descriptors.append(_hex_payload(rest, number))
        elif key == "N":
            names.append(rest.strip())
        elif key == "E" and current == device:
            stamp, _, payload = rest.partition(" ")
            events.append((_seconds(stamp, number) * 1000.0, _hex_payload(payload, number)))
    if len(descriptors) <= device:
        raise FormatError(f"no report descriptor (R: line) for device {device}")
    if not events:
        raise FormatError(f"no input reports (E: lines) for device {device}")
    times = None if rate_hz else [t for t, _ in events]
    name = names[device] if len(names) > device else "HID digitizer"
    return decode_reports(descriptors[device], [r for _, r in events], timestamps_ms=times, rate_hz=rate_hz,
                          report_id=report_id, name=name)


def write(pen: PenStream, *, descriptor: bytes = EXAMPLE_PEN_DESCRIPTOR, name: str | None = None) -> bytes:
    """A ``hid-recorder`` log of the stream as the pad with ``descriptor`` would send it."""
    reports = encode_reports(pen, descriptor)
    lines = ["# edgesig HID capture (hid-recorder format)", f"N: {name or pen.device.name}",
             f"R: {len(descriptor)} {descriptor.hex(' ')}"]
    t = pen.t - pen.t[0]
    for ms, report in zip(t, reports):
        micros = int(round(ms * 1000.0))
        lines.append(f"E: {micros // 1_000_000:06d}.{micros % 1_000_000:06d} {len(report)} {report.hex(' ')}")
    return ("\n".join(lines) + "\n").encode("ascii")


def _int(text: str, line: int) -> int:
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        raise FormatError(f"line {line}: expected a number, got {text!r:.30}", offset=line) from None


def _seconds(text: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FormatError(f"line {line}: bad timestamp {text!r:.30}", offset=line) from None
    if not np.isfinite(value):
        raise FormatError(f"line {line}: bad timestamp {text!r:.30}", offset=line)
    return value


def _hex_payload(text: str, line: int) -> bytes:
    """``<length> <hex bytes...>`` with the length checked."""
    parts = text.split()
    if not parts:
        raise FormatError(f"line {line}: missing length and bytes", offset=line)
    length = _int(parts[0], line)
    try:
        payload = bytes(int(h, 16) for h in parts[1:])
    except ValueError:
        raise FormatError(f"line {line}: bytes must be two-digit hex", offset=line) from None
    if len(payload) != length or any(len(h) > 2 for h in parts[1:]):
        raise FormatError(f"line {line}: length says {length} bytes, line has {len(parts) - 1}", offset=line)
    return payload


FORMAT = register(PenFormat("hid", sniff, read, write, suffixes=(".hid",), sniffs_head=True,
                            bytes_per_point=256))
