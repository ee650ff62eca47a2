"""W3C Pointer Events recorded as JSON, as a browser canvas would send them: read and write.

A web or kiosk signing page listens to ``pointerdown``/``pointermove``/``pointerup`` on a
canvas and posts the events. The recording is a JSON array of event objects, or an
object with an ``"events"`` array. Fields read (names as in the Pointer Events spec):
``type``, ``pointerType``, ``pointerId``, ``isPrimary``, ``offsetX``/``offsetY`` (else
``clientX``/``clientY``), ``pressure`` (0..1), ``tiltX``/``tiltY`` (degrees),
``azimuthAngle``/``altitudeAngle`` (radians, Pointer Events 3), ``timeStamp`` (ms,
float), ``buttons``, and ``coalesced``: the list ``getCoalescedEvents()`` returned
for that event (the high-rate samples a browser merges into one ``pointermove``).

Choices:

* Pen events only, unless the recording has none: then mouse or touch events are
  accepted (finger signatures on phones), with pressure 0.5 while down, as the spec
  prescribes for devices without pressure, and ``has_pressure`` False. ``isPrimary:
  false`` pointers (a second finger, a palm) are ignored.
* Coalesced events replace their parent; events are sorted by ``timeStamp`` (coalesced
  lists and parents interleave) and exact repeats are dropped.
* Pen state: down from ``pointerdown`` to ``pointerup``/``pointercancel``; moves while up
  are hover samples. The ``pointerup`` itself is a pen-up sample at the lift point. A pen
  or mouse move with ``buttons`` bit 0 clear and pressure 0 is a hover too, and ends the
  stroke: the pointerup of a lift outside a canvas without pointer capture never comes.
* Units: coordinates stay in CSS pixels; ``units_per_mm`` is 96 / 25.4 = 3.78 px per mm
  (the CSS reference pixel, 96 per inch). A CSS pixel is only nominally that size on a
  real screen: pass ``px_per_mm=`` measured for the kiosk's display to get true mm.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np

from edgesig.capture.registry import PenFormat, register
from edgesig.capture.units import CSS_PX_PER_MM, drop_exact_duplicates, sort_by_time, tilt_from_orientation
from edgesig.errors import FormatError
from edgesig.pen import DeviceInfo, PenStream

DOWN_TYPES = frozenset({"pointerdown"})
UP_TYPES = frozenset({"pointerup", "pointercancel"})
#: Pressure the spec gives a pressed mouse button or touch contact without force sensing.
NO_FORCE_PRESSURE = 0.5
# Columns of the working table.
_T, _X, _Y, _P, _DOWN, _TX, _TY, _AZ, _AL = range(9)


def sniff(data: bytes, name: str) -> bool:
    head = data[:2048]
    return head.lstrip()[:1] in (b"[", b"{") and b"pointerType" in head


def read(data: bytes, *, px_per_mm: float = CSS_PX_PER_MM, **_: object) -> PenStream:
    """A PenStream from recorded pointer events (see the module docstring)."""
    return from_recording(_parse(data), px_per_mm=px_per_mm)


def from_recording(doc: Any, *, px_per_mm: float = CSS_PX_PER_MM) -> PenStream:
    """A PenStream from a recording already parsed from JSON (a list of events or
    ``{"events": [...]}``), for servers that received it inside a larger JSON body."""
    events = _events(doc)
    kinds = {str(e.get("pointerType", "")) for e in events}
    kind = "pen" if "pen" in kinds else "touch" if "touch" in kinds else "mouse"
    samples = [(sample, index) for index, event in enumerate(events)
               if event.get("pointerType") == kind and event.get("isPrimary", True) is not False
               for sample in _expand(event, index)]
    if not samples:
        raise FormatError("no pointer events with coordinates and a timeStamp found")
    table = _columns([s for s, _ in samples], kind)
    if table is None:  # something is wrong: find the event and say what, one sample at a time
        table = np.asarray([_row(sample, kind, index) for sample, index in samples], dtype=np.float64)
    table = drop_exact_duplicates(sort_by_time(table))
    down = _pen_state(table)
    pressure = np.where(down, table[:, _P], 0.0) if kind == "pen" else np.where(down, NO_FORCE_PRESSURE, 0.0)
    optional = {}
    if np.isfinite(table[:, _TX]).all() and np.isfinite(table[:, _TY]).all():
        optional.update(tilt_x=table[:, _TX], tilt_y=table[:, _TY])
    if np.isfinite(table[:, _AZ]).all() and np.isfinite(table[:, _AL]).all():
        optional.update(azimuth=np.degrees(table[:, _AZ]), altitude=np.degrees(table[:, _AL]))
    device = DeviceInfo(name=f"Pointer Events ({kind})", units_per_mm=px_per_mm, timing_jitter=True)
    pen = PenStream.from_arrays(table[:, _X], table[:, _Y], table[:, _T], pressure, down,
                                device=device, **optional)
    return pen if kind == "pen" else replace(pen, has_pressure=False)  # 0.5 is a placeholder, not a reading


def write(pen: PenStream, *, px_per_mm: float = CSS_PX_PER_MM) -> bytes:
    """The stream as a JSON recording of pen pointer events (one event per sample)."""
    scale = px_per_mm / pen.device.units_per_mm if pen.device.units_per_mm else 1.0
    tilt = _tilt(pen)
    events = []
    previous = False
    for i in range(len(pen)):
        down = bool(pen.pen_down[i])
        kind = "pointerdown" if down and not previous else "pointerup" if previous and not down else "pointermove"
        event: dict[str, Any] = {
            "type": kind, "pointerType": "pen", "pointerId": 1, "isPrimary": True,
            "timeStamp": round(float(pen.t[i]), 3),
            "offsetX": round(float(pen.x[i] * scale), 3), "offsetY": round(float(pen.y[i] * scale), 3),
            "pressure": round(float(pen.pressure[i]), 5) if down else 0.0, "buttons": int(down)}
        if tilt is not None:
            event["tiltX"], event["tiltY"] = round(float(tilt[0][i]), 2), round(float(tilt[1][i]), 2)
        if pen.azimuth is not None and pen.altitude is not None:
            event["azimuthAngle"] = round(math.radians(float(pen.azimuth[i])), 5)
            event["altitudeAngle"] = round(math.radians(float(pen.altitude[i])), 5)
        events.append(event)
        previous = down
    return json.dumps({"events": events}, separators=(",", ":")).encode("utf-8")


def _tilt(pen: PenStream) -> tuple[np.ndarray, np.ndarray] | None:
    if pen.tilt_x is not None and pen.tilt_y is not None:
        return pen.tilt_x, pen.tilt_y
    if pen.azimuth is not None and pen.altitude is not None:
        return tilt_from_orientation(pen.azimuth, pen.altitude)
    return None


def _parse(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise FormatError("a pointer-event recording must be UTF-8 JSON", offset=exc.start) from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc.msg}", offset=len(text[:exc.pos].encode("utf-8"))) from None
    except RecursionError:
        raise FormatError("JSON nested too deeply to be a pointer-event recording") from None


def _events(doc: Any) -> list[dict]:
    events = doc.get("events") if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        raise FormatError('expected a JSON array of events or {"events": [...]}')
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise FormatError(f"event {index} is {type(event).__name__}, not an object", offset=index)
    return events


def _expand(event: dict, index: int) -> list[dict]:
    """The event's coalesced samples (inheriting its fields) or the event itself."""
    coalesced = event.get("coalesced")
    if not coalesced:
        return [event]
    if not isinstance(coalesced, list) or not all(isinstance(c, dict) for c in coalesced):
        raise FormatError(f"event {index}: 'coalesced' must be a list of event objects", offset=index)
    parent = {k: v for k, v in event.items() if k != "coalesced"}
    return [{**parent, **c} for c in coalesced] + [parent]


def _row(event: dict, kind: str, index: int) -> list[float]:
    x = event.get("offsetX", event.get("clientX"))
    y = event.get("offsetY", event.get("clientY"))
    t = event.get("timeStamp")
    values = [_number(v, name, index) for v, name in ((t, "timeStamp"), (x, "x"), (y, "y"))]
    pressure = _number(event.get("pressure", NO_FORCE_PRESSURE if kind != "pen" else 0.0), "pressure", index)
    if not 0.0 <= pressure <= 1.0:
        raise FormatError(f"event {index}: pressure {pressure} is outside 0..1", offset=index)
    angles = [_optional(event.get(k), k, index) for k in ("tiltX", "tiltY", "azimuthAngle", "altitudeAngle")]
    return values + [pressure, _state(event, kind)] + angles


def _columns(samples: list[dict], kind: str) -> np.ndarray | None:
    """The working table built column by column (a server's 1,000-point signature in about
    a millisecond, not eight), or None when any value would fail ``_row``'s checks."""
    default_pressure = NO_FORCE_PRESSURE if kind != "pen" else 0.0
    required = [[s.get("timeStamp") for s in samples],
                [s.get("offsetX", s.get("clientX")) for s in samples],
                [s.get("offsetY", s.get("clientY")) for s in samples],
                [s.get("pressure", default_pressure) for s in samples]]
    optional = [[s.get(k) for s in samples] for k in ("tiltX", "tiltY", "azimuthAngle", "altitudeAngle")]
    if any(not set(map(type, col)) <= _NUMBERS for col in required) or \
            any(not set(map(type, col)) <= _NUMBERS_OR_NONE for col in optional):
        return None
    values = np.array(required, dtype=np.float64)
    angles = np.array(optional, dtype=np.float64)  # None becomes NaN
    if not np.isfinite(values).all() or not (0.0 <= values[3]).all() or not (values[3] <= 1.0).all() or \
            int(np.isnan(angles).sum()) != sum(col.count(None) for col in optional) or np.isinf(angles).any():
        return None
    state = [_state(s, kind) for s in samples]
    return np.vstack([values, np.array(state)[None], angles]).T.copy()


def _state(event: dict, kind: str) -> float:
    """1 at a pointerdown, -1 at a pointerup or cancel, 0 at a move, which keeps the state;
    but a pen or mouse move saying nothing is pressed (``buttons`` bit 0 clear, pressure 0)
    is -1: the pen was lifted where the page got no pointerup (outside a canvas without
    pointer capture), and its hover moves are not ink. A touch has no hover."""
    kind_of_event = event.get("type")
    if kind_of_event in DOWN_TYPES:
        return 1.0
    if kind_of_event in UP_TYPES:
        return -1.0
    buttons = event.get("buttons")
    lifted = kind != "touch" and type(buttons) is int and not buttons & 1 and event.get("pressure", 0) == 0
    return -1.0 if lifted else 0.0


_NUMBERS = frozenset({int, float})
_NUMBERS_OR_NONE = _NUMBERS | {type(None)}


def _number(value: Any, name: str, index: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FormatError(f"event {index}: {name} must be a finite number, got {value!r:.30}", offset=index)
    return float(value)


def _optional(value: Any, name: str, index: int) -> float:
    return float("nan") if value is None else _number(value, name, index)


def _pen_state(table: np.ndarray) -> np.ndarray:
    """Down from a pointerdown up to (not including) the next pointerup; moves keep the state."""
    down = np.zeros(table.shape[0], dtype=bool)
    state = False
    for i, kind in enumerate(table[:, _DOWN]):
        if kind > 0:
            state = True
        elif kind < 0:
            state = False
        down[i] = state
    return down


FORMAT = register(PenFormat("pointer_events", sniff, read, write, suffixes=(".json",),
                            sniffs_head=True, bytes_per_point=1024))
