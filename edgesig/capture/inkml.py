"""W3C InkML (Ink Markup Language, REC 2011): read and write.

InkML is what pen-enabled office and forms software exports. A ``<traceFormat>`` lists
the channels of every point (X, Y, T time, F force, OTx/OTy tilt, OA/OE azimuth and
elevation, S tip switch; each with ``units``, ``min``/``max``), and each ``<trace>`` holds
the points of one stroke as text: points separated by commas, values by spaces, each
value optionally prefixed by ``!`` (explicit), ``'`` (first difference) or ``"`` (second
difference). A prefix stays in force for that channel until the next one, as in the
REC's examples; ``?`` (unknown) and ``*`` (unchanged) are accepted too.

Safety: XML parsing is the classic attack surface of a text format. We refuse any
document that declares a DTD or an entity (``<!DOCTYPE``/``<!ENTITY``) before parsing,
so entity expansion and external entities cannot happen; the parser (expat through
``xml.etree``) then only sees plain elements.

Mapping: traces become consecutive samples; ``type="penUp"`` traces (or an S channel)
give pen-up samples, every other trace is pen-down. X/Y stay in the file's numbers and
their ``units`` (or a ``resolution`` channel property) give ``units_per_mm``; T is
converted to milliseconds; F is scaled by its ``min``/``max`` (else ``%`` or the largest
value); angles are converted to degrees. Stroke boundaries between two pen-down traces
survive only as the time gap between them: no sample is invented.

The writer emits one trace per run of pen-down or pen-up samples, X/Y in millimetres
(when the device resolution is known), T in ms, F in [0, 1], first point explicit and
the rest as first differences, every value prefixed so readers that do not carry
prefixes over still decode it.
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import numpy as np

from edgesig.capture.registry import PenFormat, register
from edgesig.capture.units import drop_exact_duplicates, mm_per_unit, ms_per_unit
from edgesig.errors import FormatError
from edgesig.pen import DeviceInfo, PenStream

NAMESPACE = "http://www.w3.org/2003/InkML"
_XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_TOKEN = re.compile(r"\s*(?:(,)|([!'\"])?\s*([-+]?\s*(?:#[0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|[TF*?]))")
#: Decimal places the writer uses per channel (X/Y in mm, T in ms, F in [0, 1], angles in degrees).
_DECIMALS = {"X": 4, "Y": 4, "T": 3, "F": 5, "OTx": 2, "OTy": 2, "OA": 2, "OE": 2}
_ANGLES = {"OTx": "tilt_x", "OTy": "tilt_y", "OA": "azimuth", "OE": "altitude"}
_DEG_PER_UNIT = {"deg": 1.0, "rad": 180.0 / np.pi}


@dataclass(frozen=True)
class Channel:
    name: str
    units: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    default: float = float("nan")
    intermittent: bool = False


def sniff(data: bytes, name: str) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    return name.lower().endswith(".inkml") or (head.startswith(b"<") and b"<ink" in data[:1024])


def read(data: bytes, *, pressure_max: float | None = None, sample_rate_hz: float | None = None,
         **_: object) -> PenStream:
    """Parse an InkML document into one PenStream (all its traces, in document order)."""
    root = _parse_xml(data)
    ids = {el.get(_XML_ID) or el.get("id"): el for el in root.iter() if el.get(_XML_ID) or el.get("id")}
    formats: dict[str | None, tuple[list[Channel], dict]] = {}
    rows: list[np.ndarray] = []
    try:
        traces = list(_traces(root, None))
    except RecursionError:
        raise FormatError("InkML trace groups are nested too deeply") from None
    for trace, context_ref in traces:
        if context_ref not in formats:
            formats[context_ref] = _trace_format(root, ids, context_ref)
        values = _decode_trace(trace.text or "", formats[context_ref][0])
        down = trace.get("type", "penDown") != "penUp"
        rows.append(np.column_stack([values, np.full(values.shape[0], float(down))]))
    layouts = {tuple(c.name for c in channels) for channels, _ in formats.values()}
    if not rows or len(layouts) != 1:
        raise FormatError("no traces found, or traces with different trace formats; edgesig reads one "
                          "trace format per document")
    channels, resolution = next(iter(formats.values()))
    rate = sample_rate_hz or _sample_rate(root)
    return _to_pen(np.concatenate(rows), channels, resolution, pressure_max, rate)


def write(pen: PenStream) -> bytes:
    """An InkML document with one trace per pen-down / pen-up run."""
    columns = _write_columns(pen)
    header = ['<?xml version="1.0" encoding="UTF-8"?>', f'<ink xmlns="{NAMESPACE}">', "<definitions>",
              '<context xml:id="ctx0">', f'<inkSource xml:id="src0" model={quoteattr(pen.device.name)}>',
              "<traceFormat>"]
    for name in columns:
        header.append(_channel_xml(name, pen))
    header.append("</traceFormat>")
    if pen.device.sample_rate_hz:
        header.append(f'<sampleRate uniform="false" value="{pen.device.sample_rate_hz:g}"/>')
    header += ["</inkSource>", "</context>", "</definitions>"]
    quantised = {name: np.rint(values * 10 ** _DECIMALS[name]).astype(np.int64)
                 for name, values in columns.items()}
    edges = np.flatnonzero(np.diff(pen.pen_down.astype(np.int8))) + 1
    body = []
    for start, stop in zip(np.concatenate(([0], edges)), np.concatenate((edges, [len(pen)]))):
        kind = "penDown" if pen.pen_down[start] else "penUp"
        text = _encode_points({k: q[start:stop] for k, q in quantised.items()})
        body.append(f'<trace contextRef="#ctx0" type="{kind}">{text}</trace>')
    return "\n".join(header + body + ["</ink>", ""]).encode("utf-8")


def _parse_xml(data: bytes) -> ET.Element:
    bad = _FORBIDDEN.search(data)
    if bad:
        raise FormatError("InkML with a DTD or entity declaration is refused (entity expansion is unsafe); "
                          "remove the <!DOCTYPE>/<!ENTITY> and retry", offset=bad.start())
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line, column = exc.position
        raise FormatError(f"InkML is not well-formed XML ({exc}; line {line}, column {column})",
                          offset=_byte_offset(data, line, column)) from None
    except (LookupError, ValueError) as exc:  # an unknown or unsupported declared encoding
        raise FormatError(f"InkML cannot be decoded: {exc}", offset=0) from None
    if _local(root.tag) != "ink":
        raise FormatError(f"the root element is <{_local(root.tag)}>, not <ink>", offset=0)
    return root


def _byte_offset(data: bytes, line: int, column: int) -> int:
    starts = [0] + [m.end() for m in re.finditer(rb"\n", data)]
    return starts[min(max(line, 1), len(starts)) - 1] + column


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _traces(el: ET.Element, context_ref: str | None):
    """(trace, inherited contextRef) for traces of <ink> and nested <traceGroup>s, in order."""
    for child in el:
        tag = _local(child.tag)
        if tag == "trace":
            yield child, child.get("contextRef") or context_ref
        elif tag == "traceGroup":
            yield from _traces(child, child.get("contextRef") or context_ref)


def _trace_format(root: ET.Element, ids: dict, context_ref: str | None) -> tuple[list[Channel], dict]:
    """Channels of the trace format that applies, and the channel properties in scope."""
    scopes = []
    context = ids.get((context_ref or "").lstrip("#"))
    if context is not None:
        source = ids.get((context.get("inkSourceRef") or "").lstrip("#"))
        scopes += [context] + _children(context, "inkSource") + ([source] if source is not None else [])
    scopes.append(root)
    for scope in scopes:
        ref = ids.get((scope.get("traceFormatRef") or "").lstrip("#"))
        found = [ref] if ref is not None else _children(scope, "traceFormat")
        if found:
            return _channels(found[0]), _resolutions(scope)
    anywhere = [el for el in root.iter() if _local(el.tag) == "traceFormat"]
    if anywhere:
        return _channels(anywhere[0]), _resolutions(root)
    return [Channel("X"), Channel("Y")], {}  # the InkML default trace format


def _channels(trace_format: ET.Element) -> list[Channel]:
    out = []
    for child in trace_format:
        group = _local(child.tag)
        members = [child] if group == "channel" else _children(child, "channel") if group in (
            "regularChannels", "intermittentChannels") else []
        for ch in members:
            name = ch.get("name")
            if not name:
                raise FormatError("a <channel> has no name attribute")
            out.append(Channel(name, ch.get("units"), _number(ch.get("min")), _number(ch.get("max")),
                               _bool_or_number(ch.get("default")), group == "intermittentChannels"))
    if not {"X", "Y"} <= {c.name for c in out}:
        raise FormatError("the trace format needs X and Y channels")
    return out


def _resolutions(scope: ET.Element) -> dict[str, float]:
    """``resolution`` channel properties as units per millimetre, by channel."""
    out = {}
    for prop in scope.iter():
        if _local(prop.tag) == "channelProperty" and prop.get("name") == "resolution":
            per = (prop.get("units") or "1/mm").split("/", 1)[-1]
            value = _number(prop.get("value"))
            if value and prop.get("channel"):
                out[prop.get("channel")] = value / mm_per_unit(per)
    return out


def _sample_rate(root: ET.Element) -> float | None:
    for el in root.iter():
        if _local(el.tag) == "sampleRate":
            return _number(el.get("value"))
    return None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise FormatError(f"expected a number, got {text!r:.40}") from None
    if not np.isfinite(value):
        raise FormatError(f"expected a finite number, got {text!r:.40}")
    return value


def _bool_or_number(text: str | None) -> float:
    if text is None:
        return float("nan")
    text = text.strip()
    if text in ("T", "F"):
        return 1.0 if text == "T" else 0.0
    return float(_number(text))


def _decode_trace(text: str, channels: list[Channel]) -> np.ndarray:
    """Points of one trace as an (n, channels) array, differences resolved, unknown = NaN."""
    n_ch, n_regular = len(channels), sum(not c.intermittent for c in channels)
    mode = ["!"] * n_ch
    last = [float("nan")] * n_ch
    step = [0.0] * n_ch
    points: list[list[float]] = []
    point: list[float] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos:].strip():
                raise FormatError(f"unexpected trace text {text[pos:pos + 20]!r}", offset=pos)
            break
        pos = m.end()
        if m.group(1):
            points.append(_finish_point(point, channels, n_regular, pos))
            point = []
            continue
        i = len(point)
        if i >= n_ch:
            raise FormatError(f"a point has more than the {n_ch} values of its trace format", offset=pos)
        if m.group(2):
            mode[i] = m.group(2)
        point.append(_value(m.group(3).replace(" ", ""), i, mode, last, step, pos))
    if point or text.strip():
        points.append(_finish_point(point, channels, n_regular, pos))
    return np.asarray(points, dtype=np.float64).reshape(-1, n_ch)


def _value(token: str, i: int, mode: list[str], last: list[float], step: list[float], pos: int) -> float:
    if token == "?":
        return float("nan")
    if token == "*":
        return last[i]
    if token in ("T", "F"):
        number, explicit = float(token == "T"), True
    else:
        sign = -1.0 if token.startswith("-") else 1.0
        digits = token.lstrip("+-")
        number = sign * (int(digits[1:], 16) if digits.startswith("#") else float(digits))
        explicit = mode[i] == "!"
    if not math.isfinite(number):
        raise FormatError(f"trace value {token!r:.30} is not finite", offset=pos)
    if explicit:
        value = number
    elif not math.isfinite(last[i]):
        raise FormatError("a difference-coded value has no explicit value before it", offset=pos)
    elif mode[i] == "'":
        value = last[i] + number
    else:
        value = last[i] + step[i] + number
    step[i] = value - last[i] if math.isfinite(last[i]) else 0.0
    last[i] = value
    return value


def _finish_point(point: list[float], channels: list[Channel], n_regular: int, pos: int) -> list[float]:
    if len(point) < n_regular:
        raise FormatError(f"a point has {len(point)} values but the trace format has {n_regular} "
                          "regular channels", offset=pos)
    return point + [c.default for c in channels[len(point):]]


def _to_pen(table: np.ndarray, channels: list[Channel], resolution: dict, pressure_max: float | None,
            rate: float | None) -> PenStream:
    col = {c.name: i for i, c in enumerate(channels)}
    spec = {c.name: c for c in channels}
    table = table[np.all(np.isfinite(table[:, [col[k] for k in ("X", "Y", "T") if k in col]]), axis=1)]
    if table.shape[0] == 0:
        raise FormatError("the traces hold no point with known X and Y")
    table = _forward_fill(table)
    if "T" in col:
        table[:, col["T"]] *= ms_per_unit(spec["T"].units or "ms")
        table = drop_exact_duplicates(table)
    x, y = table[:, col["X"]], table[:, col["Y"]]
    units = spec["X"].units
    upm = (1.0 / mm_per_unit(units) if units and units != "dev" else resolution.get("X"))
    pressure, full = _pressure(table, col, spec, pressure_max)
    down = table[:, -1] > 0 if "S" not in col else table[:, col["S"]] > 0
    angles = {}
    for name, key in _ANGLES.items():
        if name in col:
            unit = (spec[name].units or "deg").lower()
            if unit not in _DEG_PER_UNIT:
                raise FormatError(f"channel {name} has units {unit!r}; expected deg or rad")
            angles[key] = table[:, col[name]] * _DEG_PER_UNIT[unit]
    device = DeviceInfo(name="InkML", units_per_mm=upm, sample_rate_hz=rate)
    t = table[:, col["T"]] if "T" in col else None
    return PenStream.from_arrays(x, y, t, pressure, down, pressure_max=full, sample_rate_hz=rate,
                                 device=device, **angles)


def _forward_fill(table: np.ndarray) -> np.ndarray:
    """Unknown values take the previous known value of their channel (0 before the first)."""
    out = table.copy()
    for j in range(out.shape[1]):
        column = out[:, j]
        known = np.isfinite(column)
        if known.all():
            continue
        index = np.where(known, np.arange(column.size), 0)
        np.maximum.accumulate(index, out=index)
        out[:, j] = np.where(known | known[index], column[index], 0.0)
    return out


def _pressure(table: np.ndarray, col: dict, spec: dict, pressure_max: float | None
              ) -> tuple[np.ndarray | None, float]:
    if "F" not in col:
        return None, 1.0
    f, ch = table[:, col["F"]], spec["F"]
    low = ch.minimum or 0.0
    if pressure_max is not None:
        full = pressure_max - low
    elif ch.maximum is not None and ch.maximum > low:
        full = ch.maximum - low
    elif (ch.units or "") == "%":
        full = 100.0 - low
    else:
        full = float(f.max() - low) if f.size and f.max() > low else 1.0
    return f - low, full


def _write_columns(pen: PenStream) -> dict[str, np.ndarray]:
    upm = pen.device.units_per_mm
    columns = {"X": pen.x / upm if upm else pen.x, "Y": pen.y / upm if upm else pen.y,
               "T": pen.t, "F": pen.pressure}
    for name, key in _ANGLES.items():
        values = getattr(pen, key)
        if values is not None:
            columns[name] = values
    return columns


def _channel_xml(name: str, pen: PenStream) -> str:
    units = {"X": "mm", "Y": "mm", "T": "ms"}.get(name, "deg" if name in _ANGLES else None)
    if name in ("X", "Y") and not pen.device.units_per_mm:
        units = None
    extra = ' min="0" max="1"' if name == "F" else ""
    unit_attr = f' units="{units}"' if units else ""
    return f'<channel name="{name}" type="decimal"{unit_attr}{extra}/>'


def _encode_points(quantised: dict[str, np.ndarray]) -> str:
    """First point explicit, then ``'``-prefixed first differences of the quantised values."""
    names = list(quantised)
    first = [_fmt(int(quantised[k][0]), _DECIMALS[k]) for k in names]
    diffs = [np.diff(quantised[k]) for k in names]
    points = [" ".join(first)]
    for i in range(diffs[0].size):
        points.append(" ".join("'" + _fmt(int(d[i]), _DECIMALS[k]) for d, k in zip(diffs, names)))
    return ", ".join(points)


def _fmt(q: int, decimals: int) -> str:
    text = f"{q / 10 ** decimals:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


FORMAT = register(PenFormat("inkml", sniff, read, write, suffixes=(".inkml",), sniffs_head=True,
                            bytes_per_point=256))
