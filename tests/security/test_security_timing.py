"""Timing anomalies: none on real signatures, all synthetic injections caught."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgesig.errors import InvalidInputError
from edgesig.pen import DeviceInfo, PenStream
from edgesig.security import timing_anomalies
from tests.security.test_security_fingerprint import resampled

JITTERY = DeviceInfo(name="usb pad", sample_rate_hz=100.0, timing_jitter=True)


def test_no_anomaly_on_any_svc2004_file(svc_pens):
    """0 false rejects on real data: 800 genuine signatures and 800 skilled forgeries.

    The SVC2004 pad's clock does not jitter: 45 of the 1600 files have every step exactly
    10 ms and 672 have every pen-down step exactly 10 ms, so it is checked as a device
    with a regular clock (``timing_jitter=False``), which is what it is.
    """
    flagged = {}
    for name, pen in svc_pens.items():
        pen = pen.with_meta(device=dataclasses.replace(pen.device, timing_jitter=False))
        reasons = timing_anomalies(pen)
        if reasons:
            flagged[name] = reasons
    assert flagged == {}


def test_real_jitter_passes_and_resampled_copy_is_caught(genuine):
    real = genuine.with_meta(device=JITTERY)
    assert timing_anomalies(real) == []
    copy = resampled(real, 10.0)
    reasons = timing_anomalies(copy)
    assert any("perfectly regular" in r for r in reasons), reasons


def test_constant_speed_redraw_is_caught(genuine):
    down = genuine.select(genuine.pen_down)
    xy = np.stack([down.x, down.y], axis=1)
    arc = np.r_[0.0, np.cumsum(np.hypot(*np.diff(xy, axis=0).T))]
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.uniform(8, 12, size=300))  # with jitter, so only the speed gives it away
    s = arc[-1] * (t - t[0]) / (t[-1] - t[0])  # the same path, at one speed
    redraw = PenStream.from_arrays(np.interp(s, arc, xy[:, 0]), np.interp(s, arc, xy[:, 1]), t,
                                   np.full(t.size, 0.5), device=JITTERY)
    reasons = timing_anomalies(redraw)
    assert len(reasons) == 1 and "constant pen speed" in reasons[0]


def test_impossible_speed_and_rate(genuine):
    fast = PenStream.from_arrays(genuine.x, genuine.y, genuine.t / 20, genuine.pressure, genuine.pen_down,
                                 device=dataclasses.replace(genuine.device, timing_jitter=False))
    reasons = timing_anomalies(fast)
    assert any("impossible speed" in r for r in reasons), reasons
    assert any("timestamps look synthesised" in r for r in reasons), reasons
    # With a known resolution the limit is physical: 10 m/s.
    mm = DeviceInfo(name="pad", units_per_mm=100.0)
    real_mm = genuine.with_meta(device=mm)
    assert timing_anomalies(real_mm) == []
    warp = PenStream.from_arrays(genuine.x, genuine.y, genuine.t / 200, genuine.pressure, genuine.pen_down, device=mm)
    assert any("m/s is beyond any hand" in r for r in timing_anomalies(warp))


def test_coarse_timestamps_are_caught(genuine):
    """Hundreds of samples sharing a handful of stamps: spread out, they sample far too fast."""
    t = np.repeat(np.arange(6) * 20.0, int(np.ceil(len(genuine) / 6)))[:len(genuine)]
    coarse = PenStream.from_arrays(genuine.x, genuine.y, t, genuine.pressure, genuine.pen_down,
                                   device=genuine.device)
    assert any("synthesised" in r for r in timing_anomalies(coarse))


def test_a_pen_that_never_moves():
    still = PenStream.from_arrays(np.ones(30), np.ones(30), np.arange(30) * 10.0, np.full(30, 0.4))
    assert timing_anomalies(still) == ["the pen never moves while touching: not a signature"]


def test_not_a_pen():
    with pytest.raises(InvalidInputError):
        timing_anomalies(np.zeros((10, 3)))
