"""Linux evdev pen events: binary event logs, ``evtest`` text, and live devices.

Why: on Linux kiosks and tablets the kernel already decodes the pad (wacom, hid-generic,
i2c-hid...) into input events; reading them needs no descriptor knowledge at all.

Binary logs are raw ``struct input_event`` records as read from ``/dev/input/eventN``:
``struct timeval`` (two native longs: 2 x int64 on 64-bit, ``word_size=32`` for 32-bit
ARM), ``__u16 type``, ``__u16 code``, ``__s32 value``, little-endian. Absolute axes
report only changes, so the decoder keeps each axis's last value and emits one sample per
``SYN_REPORT`` while the pen tool is in proximity (``BTN_TOOL_PEN``; always when the log
has no tool events). ``BTN_TOUCH`` is pen-down (else pressure > 0). After ``SYN_DROPPED``
the events up to the next ``SYN_REPORT`` are discarded, as the kernel documentation
says. Time is the kernel's timestamp of the ``SYN_REPORT``; with ``clock="device"`` the
pad's own ``MSC_TIMESTAMP`` (microseconds, 32-bit wrapping) is used instead, which
removes USB scheduling jitter.

A binary log carries no axis ranges: pass ``absinfo=`` ({code or name: AbsInfo}) as
``evtest`` or ``python-evdev`` print them. Resolution is units per mm for X/Y and units
per radian for tilt (kernel ``input_absinfo``; tilt without a resolution is read as
degrees); pressure is scaled by its [min, max] (without absinfo, by the largest value).
The ``evtest`` text form includes the absinfo and is self-describing.

Live capture (:func:`capture`) needs the optional ``evdev`` package (python-evdev, Linux
only; install ``edgesig[evdev]``); without it an EngineUnavailableError says so.
"""
from __future__ import annotations

import re
import select
import time
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from edgesig.capture.registry import PenFormat, register
from edgesig.capture.units import drop_exact_duplicates
from edgesig.errors import EngineUnavailableError, FormatError, InvalidInputError
from edgesig.pen import DeviceInfo, PenStream

EV_SYN, EV_KEY, EV_ABS, EV_MSC = 0x00, 0x01, 0x03, 0x04
SYN_REPORT, SYN_DROPPED = 0, 3
ABS_X, ABS_Y, ABS_PRESSURE, ABS_TILT_X, ABS_TILT_Y = 0x00, 0x01, 0x18, 0x1A, 0x1B
BTN_TOOL_PEN, BTN_TOUCH = 0x140, 0x14A
MSC_TIMESTAMP = 0x05
EV_MAX = 0x1F
ABS_NAMES = {"ABS_X": ABS_X, "ABS_Y": ABS_Y, "ABS_PRESSURE": ABS_PRESSURE, "ABS_TILT_X": ABS_TILT_X,
             "ABS_TILT_Y": ABS_TILT_Y}
EVENT_DTYPE = np.dtype([("sec", "<i8"), ("usec", "<i8"), ("type", "<u2"), ("code", "<u2"), ("value", "<i4")])
_EVENT_32 = np.dtype([("sec", "<i4"), ("usec", "<i4"), ("type", "<u2"), ("code", "<u2"), ("value", "<i4")])


@dataclass(frozen=True)
class AbsInfo:
    """An absolute axis as the kernel describes it (``struct input_absinfo``)."""

    minimum: int = 0
    maximum: int = 0
    resolution: int = 0
    value: int | None = None


def parse_binary(data: bytes, word_size: int = 64) -> np.ndarray:
    """Raw ``input_event`` records as an EVENT_DTYPE array."""
    dtype = {64: EVENT_DTYPE, 32: _EVENT_32}.get(word_size)
    if dtype is None:
        raise InvalidInputError(f"word_size must be 64 or 32, got {word_size!r}")
    if len(data) % dtype.itemsize:
        whole = len(data) // dtype.itemsize * dtype.itemsize
        raise FormatError(f"event log length {len(data)} is not a multiple of the {dtype.itemsize}-byte "
                          "input_event; the last record is cut", offset=whole)
    events = np.frombuffer(data, dtype=dtype).astype(EVENT_DTYPE)
    bad = np.flatnonzero((events["usec"] < 0) | (events["usec"] >= 1_000_000) | (events["type"] > EV_MAX))
    if bad.size:
        raise FormatError("not an input_event stream (impossible microseconds or event type); "
                          "is this a 32-bit log (word_size=32)?", offset=int(bad[0]) * dtype.itemsize)
    return events


def events_to_pen(events: np.ndarray, absinfo: Mapping[int | str, AbsInfo] | None = None, *,
                  clock: str = "kernel", name: str = "evdev pen") -> PenStream:
    """Replay the event stream through the kernel's state model and sample at each SYN_REPORT."""
    if clock not in ("kernel", "device"):
        raise InvalidInputError(f"clock must be 'kernel' or 'device', got {clock!r}")
    info = _absinfo(absinfo)
    rows = _frames(events, info, clock == "device")
    if not rows:
        raise FormatError("no complete pen frame (X and Y known, pen in proximity, then SYN_REPORT)")
    table = drop_exact_duplicates(np.asarray(rows, dtype=np.float64))
    t, x, y, p, touch, tx, ty = table.T
    if clock == "device":
        t = _unwrap_us(t) / 1000.0
    ax, ay = info.get(ABS_X), info.get(ABS_Y)
    upm_x = float(ax.resolution) if ax and ax.resolution > 0 else None
    upm_y = float(ay.resolution) if ay and ay.resolution > 0 else None
    if upm_x and upm_y and upm_x != upm_y:
        y = y * (upm_x / upm_y)
    pressure, full = _pressure(p, info.get(ABS_PRESSURE))
    down = touch > 0 if np.isfinite(touch).all() else (pressure > 0 if pressure is not None else None)
    tilt = {}
    if np.isfinite(tx).all() and np.isfinite(ty).all():
        tilt = {"tilt_x": _degrees(tx, info.get(ABS_TILT_X)), "tilt_y": _degrees(ty, info.get(ABS_TILT_Y))}
    device = DeviceInfo(name=name, units_per_mm=upm_x or upm_y, timing_jitter=clock == "kernel")
    return PenStream.from_arrays(x, y, t, pressure, down, pressure_max=full, device=device, **tilt)


def _absinfo(absinfo: Mapping[int | str, AbsInfo] | None) -> dict[int, AbsInfo]:
    out = {}
    for key, value in (absinfo or {}).items():
        code = ABS_NAMES.get(key) if isinstance(key, str) else key
        if code is None or not isinstance(value, AbsInfo):
            raise InvalidInputError(f"absinfo keys are ABS_* codes or names and values AbsInfo; got {key!r}")
        out[code] = value
    return out


def _frames(events: np.ndarray, info: dict[int, AbsInfo], device_clock: bool) -> list[tuple]:
    axes = {code: (float(a.value) if a.value is not None else np.nan) for code, a in info.items()}
    seen_tool = bool(np.any((events["type"] == EV_KEY) & (events["code"] == BTN_TOOL_PEN)))
    seen_touch = bool(np.any((events["type"] == EV_KEY) & (events["code"] == BTN_TOUCH)))
    tool, touch, dropping, stamp = not seen_tool, 0.0, False, np.nan
    rows = []
    for sec, usec, etype, code, value in events.tolist():
        if dropping:
            dropping = not (etype == EV_SYN and code == SYN_REPORT)
        elif etype == EV_ABS:
            axes[code] = float(value)
        elif etype == EV_KEY and code == BTN_TOOL_PEN:
            tool = value != 0
        elif etype == EV_KEY and code == BTN_TOUCH:
            touch = float(value != 0)
        elif etype == EV_MSC and code == MSC_TIMESTAMP:
            stamp = float(value & 0xFFFFFFFF)
        elif etype == EV_SYN and code == SYN_DROPPED:
            dropping = True
        elif etype == EV_SYN and code == SYN_REPORT and tool:
            x, y = axes.get(ABS_X, np.nan), axes.get(ABS_Y, np.nan)
            t = stamp if device_clock else sec * 1000.0 + usec / 1000.0
            if np.isfinite(x) and np.isfinite(y) and np.isfinite(t):
                rows.append((t, x, y, axes.get(ABS_PRESSURE, np.nan), touch if seen_touch else np.nan,
                             axes.get(ABS_TILT_X, np.nan), axes.get(ABS_TILT_Y, np.nan)))
    return rows


def _unwrap_us(ticks: np.ndarray) -> np.ndarray:
    steps = np.diff(ticks)
    steps = np.where(steps < -2.0 ** 31, steps + 2.0 ** 32, steps)
    return np.concatenate(([0.0], np.cumsum(steps)))


def _pressure(p: np.ndarray, axis: AbsInfo | None) -> tuple[np.ndarray | None, float]:
    if not np.isfinite(p).all():
        return None, 1.0
    if axis is not None and axis.maximum > axis.minimum:
        return np.clip(p - axis.minimum, 0, None), float(axis.maximum - axis.minimum)
    return np.clip(p, 0, None), float(p.max()) if p.max() > 0 else 1.0


def _degrees(values: np.ndarray, axis: AbsInfo | None) -> np.ndarray:
    if axis is not None and axis.resolution > 0:
        return np.degrees(values / axis.resolution)
    return values


def sniff(data: bytes, name: str) -> bool:
    size = EVENT_DTYPE.itemsize
    if len(data) < 2 * size or len(data) % size:
        return False
    head = np.frombuffer(data[:64 * size], dtype=EVENT_DTYPE)
    syn = (head["type"] == EV_SYN) & (head["code"] == SYN_REPORT) & (head["value"] == 0)
    return bool(syn.any() and (head["type"] <= EV_MAX).all() and ((head["usec"] >= 0)
                                                                 & (head["usec"] < 1_000_000)).all())


def read(data: bytes, *, absinfo: Mapping[int | str, AbsInfo] | None = None, word_size: int = 64,
         clock: str = "kernel", **_: object) -> PenStream:
    """A PenStream from a binary ``input_event`` log."""
    return events_to_pen(parse_binary(data, word_size), absinfo, clock=clock)


def write(pen: PenStream, *, absinfo: Mapping[int | str, AbsInfo] | None = None) -> bytes:
    """A binary event log of the stream, as the kernel would report it (changes only)."""
    return _encode(pen, _absinfo(absinfo) or default_absinfo(pen)).tobytes()


def default_absinfo(pen: PenStream) -> dict[int, AbsInfo]:
    """Axis ranges that hold the stream: X/Y at its resolution, 12-bit pressure, tilt in degrees."""
    upm = int(round(pen.device.units_per_mm)) if pen.device.units_per_mm else 0
    info = {code: AbsInfo(min(0, int(np.floor(v.min()))), int(np.ceil(v.max())), upm)
            for code, v in ((ABS_X, pen.x), (ABS_Y, pen.y))}
    info[ABS_PRESSURE] = AbsInfo(0, 4095)
    if pen.tilt_x is not None and pen.tilt_y is not None:
        info[ABS_TILT_X] = info[ABS_TILT_Y] = AbsInfo(-90, 90, 57)
    return info


def _encode(pen: PenStream, info: dict[int, AbsInfo]) -> np.ndarray:
    axes = {ABS_X: pen.x, ABS_Y: pen.y}
    if ABS_PRESSURE in info:
        a = info[ABS_PRESSURE]
        axes[ABS_PRESSURE] = a.minimum + pen.pressure * (a.maximum - a.minimum)
    if pen.tilt_x is not None and pen.tilt_y is not None and ABS_TILT_X in info:
        for code, deg in ((ABS_TILT_X, pen.tilt_x), (ABS_TILT_Y, pen.tilt_y)):
            res = info[code].resolution
            axes[code] = np.radians(deg) * res if res > 0 else deg
    values = {code: np.rint(v).astype(np.int64) for code, v in axes.items()}
    out: list[tuple[int, int, int, int, int]] = []
    micros = np.rint(pen.t * 1000.0).astype(np.int64)
    micros -= min(int(micros.min()), 0)
    first = int(micros[0])
    out.append((first // 1_000_000, first % 1_000_000, EV_KEY, BTN_TOOL_PEN, 1))
    last: dict[int, int] = {}
    touch = 0
    for i in range(len(pen)):
        sec, usec = divmod(int(micros[i]), 1_000_000)
        for code, column in values.items():
            if last.get(code) != int(column[i]):
                last[code] = int(column[i])
                out.append((sec, usec, EV_ABS, code, last[code]))
        if int(pen.pen_down[i]) != touch:
            touch = int(pen.pen_down[i])
            out.append((sec, usec, EV_KEY, BTN_TOUCH, touch))
        out.append((sec, usec, EV_SYN, SYN_REPORT, 0))
    sec, usec = divmod(int(micros[-1]), 1_000_000)
    out += [(sec, usec, EV_KEY, BTN_TOOL_PEN, 0), (sec, usec, EV_SYN, SYN_REPORT, 0)]
    return np.array(out, dtype=EVENT_DTYPE)


# --- evtest text ---------------------------------------------------------------------------

_EVENT = re.compile(r"^Event: time (\d+)\.(\d+), type (\d+) \([^)]*\), code (\d+) \([^)]*\), value (-?\d+)")
_SYN = re.compile(r"^Event: time (\d+)\.(\d+), -+ (SYN_\w+) -+")
_CODE = re.compile(r"^\s*Event code (\d+) \(([A-Z0-9_]+)\)")
_TYPE = re.compile(r"^\s*Event type (\d+) \(")
_ABS_FIELD = re.compile(r"^\s*(Value|Min|Max|Fuzz|Flat|Resolution)\s+(-?\d+)")
_SYN_CODES = {"SYN_REPORT": SYN_REPORT, "SYN_CONFIG": 1, "SYN_MT_REPORT": 2, "SYN_DROPPED": SYN_DROPPED}


def sniff_text(data: bytes, name: str) -> bool:
    head = data[:8192]
    return b"Input device name:" in head or re.search(rb"^Event: time \d+\.\d+, ", head, re.M) is not None


def read_text(data: bytes, *, absinfo: Mapping[int | str, AbsInfo] | None = None, clock: str = "kernel",
              **_: object) -> PenStream:
    """A PenStream from ``evtest`` output (its header supplies the absinfo)."""
    events, found, name = parse_text(data)
    return events_to_pen(events, {**found, **_absinfo(absinfo)}, clock=clock, name=name)


def parse_text(data: bytes) -> tuple[np.ndarray, dict[int, AbsInfo], str]:
    """Events, absinfo from the header, and the device name of an ``evtest`` log."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError("evtest logs are text", offset=exc.start) from None
    events, axes, name = [], {}, "evdev pen"
    event_type, axis, fields = None, None, {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("Input device name:"):
            name = line.split(":", 1)[1].strip().strip('"') or name
        elif m := _EVENT.match(line):
            events.append(tuple(int(v) for v in m.groups()))
        elif m := _SYN.match(line):
            code = _SYN_CODES.get(m.group(3))
            if code is None:
                raise FormatError(f"line {number}: unknown {m.group(3)}", offset=number)
            events.append((int(m.group(1)), int(m.group(2)), EV_SYN, code, 0))
        elif m := _TYPE.match(line):
            event_type = int(m.group(1))
        elif (m := _CODE.match(line)) and event_type == EV_ABS:
            axis, fields = int(m.group(1)), {}
            axes[axis] = fields
        elif (m := _ABS_FIELD.match(line)) and axis is not None:
            fields[m.group(1)] = int(m.group(2))
    try:
        array = np.array(events, dtype=[("sec", "<i8"), ("usec", "<i8"), ("type", "<u2"), ("code", "<u2"),
                                        ("value", "<i4")]) if events else np.zeros(0, EVENT_DTYPE)
    except OverflowError:
        raise FormatError("an evtest event has a number out of the input_event range") from None
    info = {code: AbsInfo(f.get("Min", 0), f.get("Max", 0), f.get("Resolution", 0), f.get("Value"))
            for code, f in axes.items()}
    return array, info, name


def write_text(pen: PenStream, *, absinfo: Mapping[int | str, AbsInfo] | None = None) -> bytes:
    """The stream as ``evtest`` would print it, header with absinfo included."""
    info = _absinfo(absinfo) or default_absinfo(pen)
    names = {v: k for k, v in ABS_NAMES.items()}
    lines = ["Input driver version is 1.0.1", f'Input device name: "{pen.device.name}"', "Supported events:",
             "  Event type 0 (EV_SYN)", "  Event type 1 (EV_KEY)", "    Event code 320 (BTN_TOOL_PEN)",
             "    Event code 330 (BTN_TOUCH)", "  Event type 3 (EV_ABS)"]
    for code, a in sorted(info.items()):
        lines += [f"    Event code {code} ({names.get(code, 'ABS_%d' % code)})", f"      Value {a.value or 0:6d}",
                  f"      Min   {a.minimum:6d}", f"      Max   {a.maximum:6d}",
                  f"      Resolution {a.resolution:6d}"]
    lines.append("Testing ... (interrupt to exit)")
    kinds = {EV_ABS: "EV_ABS", EV_KEY: "EV_KEY"}
    keys = {BTN_TOOL_PEN: "BTN_TOOL_PEN", BTN_TOUCH: "BTN_TOUCH"}
    for sec, usec, etype, code, value in _encode(pen, info).tolist():
        stamp = f"Event: time {sec}.{usec:06d}, "
        if etype == EV_SYN:
            lines.append(stamp + "-------------- SYN_REPORT ------------")
        else:
            label = names.get(code) if etype == EV_ABS else keys.get(code)
            lines.append(stamp + f"type {etype} ({kinds[etype]}), code {code} ({label}), value {value}")
    return ("\n".join(lines) + "\n").encode("utf-8")


# --- live devices --------------------------------------------------------------------------

def capture(path: str, *, timeout_s: float = 30.0, pen_up_ms: float = 1500.0) -> PenStream:
    """Record one signature from ``/dev/input/eventN``: until the pen has been up ``pen_up_ms``.

    Needs the optional ``evdev`` package; the device's absinfo is read from the kernel.
    """
    try:
        import evdev as python_evdev  # optional extra, Linux only
    except ImportError:
        raise EngineUnavailableError("live evdev capture needs the optional 'evdev' package (Linux only): "
                                     "pip install 'edgesig[evdev]'; or record with evtest and load the log") from None
    try:
        device = python_evdev.InputDevice(path)
    except OSError as exc:
        raise InvalidInputError(f"cannot open {path}: {exc}; the user needs read access (usually the "
                                "'input' group)") from None
    try:
        info = {code: AbsInfo(a.min, a.max, a.resolution, a.value)
                for code, a in device.capabilities(absinfo=True).get(EV_ABS, []) if code in ABS_NAMES.values()}
        events = _record(device, timeout_s, pen_up_ms)
        name = str(device.name)
    finally:
        device.close()
    return events_to_pen(np.array(events, dtype=EVENT_DTYPE), info, name=name)


def _record(device, timeout_s: float, pen_up_ms: float) -> list[tuple[int, int, int, int, int]]:
    events: list[tuple[int, int, int, int, int]] = []
    deadline = time.monotonic() + timeout_s
    touched, lifted_at = False, None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([device.fd], [], [], 0.05)
        for ev in device.read() if ready else ():
            events.append((ev.sec, ev.usec, ev.type, ev.code, ev.value))
            if ev.type == EV_KEY and ev.code == BTN_TOUCH:
                touched = touched or ev.value != 0
                lifted_at = time.monotonic() if ev.value == 0 else None
        if touched and lifted_at is not None and (time.monotonic() - lifted_at) * 1000.0 >= pen_up_ms:
            return events
    if not touched:
        raise InvalidInputError(f"the pen did not touch {device.path} within {timeout_s:g} s")
    return events


FORMAT = register(PenFormat("evdev", sniff, read, write, suffixes=(".evdev",), bytes_per_point=512))
TEXT_FORMAT = register(PenFormat("evtest", sniff_text, read_text, write_text, suffixes=(".evtest",),
                                  sniffs_head=True, bytes_per_point=1024))
