import json

import numpy as np
import pytest

from edgesig.capture import load_pen, pointer_events
from edgesig.capture.units import CSS_PX_PER_MM
from edgesig.errors import FormatError

from tests.capture.helpers import assert_same


def _pen_event(kind, t, x, y, p, **extra):
    return {"type": kind, "pointerType": "pen", "pointerId": 7, "timeStamp": t, "clientX": x, "clientY": y,
            "pressure": p, **extra}


def _stroke(n=12, t0=100.0):
    events = [_pen_event("pointerdown", t0, 10.0, 20.0, 0.3)]
    events += [_pen_event("pointermove", t0 + 4.0 * i, 10.0 + i, 20.0 + 0.5 * i, 0.5) for i in range(1, n)]
    events.append(_pen_event("pointerup", t0 + 4.0 * n, 10.0 + n, 20.0 + 0.5 * n, 0.0))
    return events


def test_round_trip_in_css_pixels(synth_pen):
    back = load_pen(pointer_events.write(synth_pen))
    assert back.device.units_per_mm == pytest.approx(CSS_PX_PER_MM)
    assert_same(synth_pen, back, xy_mm=1e-3, t_ms=1e-3, pressure=1e-5)
    assert np.abs(back.azimuth - synth_pen.azimuth).max() < 1e-3
    assert back.tilt_x is not None


def test_pen_state_follows_down_move_up():
    pen = pointer_events.read(json.dumps(_stroke()).encode())
    assert pen.pen_down.tolist() == [True] * 12 + [False]
    assert pen.pressure[-1] == 0.0 and pen.pressure[0] == pytest.approx(0.3)
    assert pen.t[0] == 100.0


def test_coalesced_samples_replace_their_parent_and_order_is_restored():
    events = _stroke()
    move = events[5]
    move["coalesced"] = [{"timeStamp": move["timeStamp"] - 2.0, "clientX": 14.5, "clientY": 22.2,
                          "pressure": 0.5}, {k: move[k] for k in ("timeStamp", "clientX", "clientY", "pressure")}]
    events[3], events[4] = events[4], events[3]  # delivered out of order
    pen = pointer_events.read(json.dumps({"events": events}).encode())
    assert len(pen) == 14  # 13 events, one of them carrying an extra coalesced sample
    assert np.all(np.diff(pen.t) > 0)
    assert 14.5 in pen.x


def test_touch_is_used_only_when_there_is_no_pen_with_pressure_one_half():
    touch = [{**e, "pointerType": "touch", "pressure": 0.9} for e in _stroke()]
    pen = pointer_events.read(json.dumps(touch).encode())
    assert set(pen.pressure[pen.pen_down]) == {0.5} and not pen.has_pressure
    palm = [{**e, "pointerType": "touch", "clientX": 500} for e in _stroke()]
    mixed = pointer_events.read(json.dumps(palm + _stroke(t0=300.0)).encode())
    assert mixed.x.max() < 100 and mixed.device.name == "Pointer Events (pen)"


def test_secondary_pointers_are_ignored():
    second = [{**e, "isPrimary": False, "pointerId": 8, "clientX": 900} for e in _stroke()]
    pen = pointer_events.read(json.dumps(_stroke() + second).encode())
    assert pen.x.max() < 100


def test_px_per_mm_override():
    pen = pointer_events.read(json.dumps(_stroke()).encode(), px_per_mm=5.0)
    assert pen.device.units_per_mm == 5.0


@pytest.mark.parametrize("data, message", [
    (b'[{"type": "pointerdown", "pointerType": "pen"', "invalid JSON"),
    (b'{"pointers": []}', "JSON array of events"),
    (b'[1, 2]', "not an object"),
    (json.dumps([_pen_event("pointerdown", "soon", 1, 2, 0.5)]).encode(), "timeStamp must be"),
    (json.dumps([_pen_event("pointerdown", 1, 1, 2, 1.5)]).encode(), "outside 0..1"),
    (json.dumps([{"type": "pointerdown", "pointerType": "pen"}]).encode(), "must be a finite number"),
    (json.dumps([{**_pen_event("pointermove", 1, 1, 2, 0.5), "coalesced": 3}]).encode(), "coalesced"),
    (b"[]", "no pointer events"),
])
def test_malformed_recordings(data, message):
    with pytest.raises(FormatError, match=message):
        pointer_events.read(data)


def test_invalid_json_names_the_offset():
    with pytest.raises(FormatError) as err:
        pointer_events.read('[{"pointerType": "stylo é",, }]'.encode())
    assert err.value.offset == 28  # bytes, not characters: "é" is two


@pytest.mark.parametrize("extra", [{}, {"tiltX": 5, "tiltY": -3}, {"azimuthAngle": 1.0, "altitudeAngle": 0.8}])
def test_the_column_path_builds_the_same_table_as_the_per_sample_path(synth_pen, extra):
    events = pointer_events._events(json.loads(pointer_events.write(synth_pen)))
    events += [{**e, **extra, "timeStamp": e["timeStamp"] + 1e5} for e in _stroke()]
    samples = [s for i, e in enumerate(events) for s in pointer_events._expand(e, i)]
    fast = pointer_events._columns(samples, "pen")
    slow = np.asarray([pointer_events._row(s, "pen", i) for i, s in enumerate(samples)])
    assert fast is not None and np.array_equal(fast, slow, equal_nan=True)


@pytest.mark.parametrize("bad", [{"pressure": True}, {"tiltX": float("inf")}, {"tiltX": float("nan")},
                                 {"timeStamp": "1"}, {"pressure": 1.5}])
def test_the_column_path_leaves_bad_values_to_the_per_sample_path(bad):
    samples = _stroke()
    samples[3] = {**samples[3], **bad}
    assert pointer_events._columns(samples, "pen") is None
    with pytest.raises(FormatError, match="event 3"):
        pointer_events.read(json.dumps(samples).encode())


@pytest.mark.parametrize("kind", ["pen", "mouse"])
def test_a_hover_move_ends_a_stroke_whose_pointerup_was_lost(kind):
    """A page without pointer capture gets no pointerup when the pen lifts outside the
    canvas; the hover moves after it (buttons 0, pressure 0) were read as ink, a line
    from the lift to the next stroke."""
    first, second = ([{**e, "buttons": 0 if e["type"] == "pointerup" else 1} for e in _stroke(t0=t0)]
                     for t0 in (100.0, 300.0))
    hover = [_pen_event("pointermove", 160.0 + 10.0 * i, 30.0 + 5 * i, 30.0, 0.0, buttons=0) for i in range(5)]
    events = [{**e, "pointerType": kind} for e in first[:-1] + hover + second]
    pen = pointer_events.read(json.dumps(events).encode())
    assert pen.pen_down.tolist() == [True] * 12 + [False] * 5 + [True] * 12 + [False]


def test_a_move_that_reports_no_buttons_does_not_lift_a_touch_or_a_pressed_pen():
    """Only a move saying nothing is pressed and no pressure ends a stroke: a touch has no
    hover, and a pen in contact reports pressure."""
    touch = [{**e, "pointerType": "touch", "buttons": 0} for e in _stroke()]
    assert pointer_events.read(json.dumps(touch).encode()).n_down == 12
    pressed = [{**e, "buttons": 0} for e in _stroke()]       # pressure 0.5 while moving
    assert pointer_events.read(json.dumps(pressed).encode()).n_down == 12
