import os
import sys
import types

import numpy as np
import pytest

from edgesig.capture import evdev, load_pen
from edgesig.capture.evdev import (ABS_PRESSURE, ABS_X, ABS_Y, BTN_TOOL_PEN, BTN_TOUCH, EV_ABS, EV_KEY, EV_MSC,
                                   EV_SYN, MSC_TIMESTAMP, SYN_DROPPED, SYN_REPORT, AbsInfo)
from edgesig.errors import EngineUnavailableError, FormatError, InvalidInputError

from tests.capture.helpers import assert_same

INFO = {ABS_X: AbsInfo(0, 44800, 200), ABS_Y: AbsInfo(0, 29600, 200), ABS_PRESSURE: AbsInfo(0, 8191)}


def _log(events):
    return np.array(events, dtype=evdev.EVENT_DTYPE).tobytes()


def _frames(n=12, start_ms=1000, touch_from=2):
    """A pen entering proximity, touching from frame ``touch_from``, then leaving."""
    events = [(1, 0, EV_KEY, BTN_TOOL_PEN, 1)]
    for i in range(n):
        sec, usec = divmod((start_ms + 5 * i) * 1000, 1_000_000)
        events += [(sec, usec, EV_ABS, ABS_X, 1000 + 20 * i), (sec, usec, EV_ABS, ABS_Y, 2000 + 10 * i),
                   (sec, usec, EV_ABS, ABS_PRESSURE, 4000 if i >= touch_from else 0)]
        if i == touch_from:
            events.append((sec, usec, EV_KEY, BTN_TOUCH, 1))
        events.append((sec, usec, EV_SYN, SYN_REPORT, 0))
    events += [(9, 0, EV_KEY, BTN_TOOL_PEN, 0), (9, 0, EV_ABS, ABS_X, 0), (9, 0, EV_SYN, SYN_REPORT, 0)]
    return events


def test_binary_log_replays_the_kernel_state():
    pen = load_pen(_log(_frames()), absinfo=INFO)
    assert len(pen) == 12  # the frame after BTN_TOOL_PEN 0 is not a sample
    assert pen.t[0] == 1000.0 and pen.t[1] == 1005.0
    assert pen.pen_down.tolist() == [False, False] + [True] * 10
    assert pen.pressure[5] == pytest.approx(4000 / 8191)
    assert pen.device.units_per_mm == 200.0


def test_round_trips_binary_and_evtest_text(tilt_pen):
    info = evdev.default_absinfo(tilt_pen)
    back = evdev.read(evdev.write(tilt_pen, absinfo=info), absinfo=info)
    assert_same(tilt_pen, back, xy_mm=0.005, t_ms=1e-3, pressure=0.5 / 4095, relative_time=True)
    assert np.abs(back.tilt_x - tilt_pen.tilt_x).max() <= 0.6  # 57 units per radian: about 1 degree steps
    text = evdev.write_text(tilt_pen, absinfo=info)
    from_text = load_pen(text)
    assert_same(back, from_text, xy_mm=0.0, t_ms=0.0, pressure=0.0)


def test_syn_dropped_discards_events_up_to_the_next_report():
    events = _frames()
    cut = events.index((1, 1_030_000 % 1_000_000, EV_ABS, ABS_X, 1120))
    events[cut:cut] = [(1, 29000, EV_SYN, SYN_DROPPED, 0), (1, 29000, EV_ABS, ABS_X, 99999),
                       (1, 29000, EV_SYN, SYN_REPORT, 0)]
    pen = evdev.read(_log(events), absinfo=INFO)
    assert 99999 not in pen.x and len(pen) == 12


def test_device_clock_unwraps_msc_timestamp():
    events = []
    for i in range(10):
        stamp = (2 ** 32 - 15000 + 5000 * i) % 2 ** 32
        events += [(0, i, EV_ABS, ABS_X, i), (0, i, EV_ABS, ABS_Y, i), (0, i, EV_MSC, MSC_TIMESTAMP, stamp - 2 ** 32
                                                                          if stamp >= 2 ** 31 else stamp),
                   (0, i, EV_SYN, SYN_REPORT, 0)]
    pen = evdev.read(_log(events), clock="device")
    assert np.allclose(np.diff(pen.t), 5.0) and pen.device.timing_jitter is False
    with pytest.raises(InvalidInputError):
        evdev.read(_log(events), clock="wall")


def test_32_bit_logs():
    wide = np.array(_frames(), dtype=evdev.EVENT_DTYPE)
    narrow = wide.astype([("sec", "<i4"), ("usec", "<i4"), ("type", "<u2"), ("code", "<u2"), ("value", "<i4")])
    pen = evdev.read(narrow.tobytes(), absinfo=INFO, word_size=32)
    assert len(pen) == 12


def test_malformed_logs_name_the_offset():
    data = _log(_frames())
    with pytest.raises(FormatError) as err:
        evdev.read(data[:-5])
    assert err.value.offset == len(data) - 24
    bad = bytearray(data)
    bad[24 * 3 + 8:24 * 3 + 16] = (5_000_000).to_bytes(8, "little")  # usec of event 3
    with pytest.raises(FormatError) as err:
        evdev.read(bytes(bad))
    assert err.value.offset == 72
    with pytest.raises(FormatError, match="no complete pen frame"):
        evdev.read(_log([(0, 0, EV_SYN, SYN_REPORT, 0)] * 3))


def test_evtest_header_supplies_absinfo():
    text = evdev.write_text(load_pen(_log(_frames()), absinfo=INFO), absinfo=INFO)
    assert b"Resolution    200" in text
    events, info, _ = evdev.parse_text(text)
    assert info[ABS_PRESSURE].maximum == 8191 and info[ABS_X].resolution == 200
    assert events.size > 40


def test_live_capture_without_the_evdev_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "evdev", None)
    with pytest.raises(EngineUnavailableError, match="edgesig\\[evdev\\]"):
        evdev.capture("/dev/input/event0")


def test_live_capture_with_a_device(monkeypatch):
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"x")  # select() sees the device readable
    batches = [[types.SimpleNamespace(sec=s, usec=u, type=t, code=c, value=v) for s, u, t, c, v in _frames()]]

    class FakeDevice:
        name, path, fd = "Fake Pen", "/dev/input/event9", read_fd

        def __init__(self, path):
            assert path == self.path

        def capabilities(self, absinfo=False):
            axis = types.SimpleNamespace
            return {EV_ABS: [(ABS_X, axis(value=0, min=0, max=44800, fuzz=0, flat=0, resolution=200)),
                             (ABS_PRESSURE, axis(value=0, min=0, max=8191, fuzz=0, flat=0, resolution=0))]}

        def read(self):
            return batches.pop() if batches else []

        def close(self):
            os.close(read_fd)
            os.close(write_fd)

    monkeypatch.setitem(sys.modules, "evdev", types.SimpleNamespace(InputDevice=FakeDevice))
    events = _frames()
    events.insert(-3, (2, 0, EV_KEY, BTN_TOUCH, 0))
    batches[0] = [types.SimpleNamespace(sec=s, usec=u, type=t, code=c, value=v) for s, u, t, c, v in events]
    pen = evdev.capture("/dev/input/event9", timeout_s=2.0, pen_up_ms=10.0)
    assert len(pen) == 12 and pen.device.name == "Fake Pen" and pen.device.units_per_mm == 200.0
