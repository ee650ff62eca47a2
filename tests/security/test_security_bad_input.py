"""Property-based tests at the pen boundary: random arrays, shapes, dtypes, NaN, huge
values and garbled files give a valid PenStream or a typed EdgesigError, nothing else;
the security checks never crash on any stream that validated."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgesig.capture import load_pen
from edgesig.errors import EdgesigError
from edgesig.pen import DeviceInfo, PenStream
from edgesig.security import ReplayGuard, fingerprint, near_duplicate, timing_anomalies

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

floats = st.floats(allow_nan=True, allow_infinity=True) | st.floats(-1e300, 1e300) | st.integers(-10 ** 6, 10 ** 6)
numeric_arrays = st.sampled_from(["<f8", "<f4", "<i4", "|u1", "|b1", "<c8"]).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=40)))
channels = st.one_of(numeric_arrays, st.lists(floats, max_size=40), st.none(), st.text(max_size=5),
                     st.lists(st.one_of(floats, st.none(), st.text(max_size=2)), max_size=10))
rates = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 2000), st.text(max_size=3))


def _check_valid(pen: PenStream) -> None:
    """Invariants every validated stream keeps; the security checks run cleanly on it."""
    assert np.all(np.isfinite(pen.t)) and np.all(np.diff(pen.t) >= 0)
    assert np.all((pen.pressure >= 0) & (pen.pressure <= 1)) and pen.n_down >= 8
    assert np.all(np.isfinite(fingerprint(pen)))
    assert all(isinstance(r, str) for r in timing_anomalies(pen))
    assert isinstance(ReplayGuard().check("u", pen, [fingerprint(pen)]), list)


@SETTINGS
@given(x=channels, y=channels, t=channels, pressure=channels, pen_down=channels, rate=rates,
       pressure_max=st.one_of(st.floats(allow_nan=True), st.integers(-2, 2000), st.none(), st.text(max_size=2)))
@example(x=list(range(20)), y=list(range(20)), t=None, pressure=None, pen_down=None, rate=float("nan"),
         pressure_max=1.0)
@example(x=list(range(20)), y=list(range(20)), t=None, pressure=None, pen_down=None, rate=float("inf"),
         pressure_max=1.0)
@example(x=list(range(20)), y=list(range(20)), t=None, pressure=None, pen_down=None, rate=100, pressure_max="x")
@example(x=[1.7e308, -1.7e308] * 10, y=[-1.7e308, 1.7e308] * 10, t=[0.0, 1e-300] * 10, pressure=None,
         pen_down=None, rate=None, pressure_max=1.0)
def test_from_arrays_accepts_or_raises_typed(x, y, t, pressure, pen_down, rate, pressure_max):
    try:
        pen = PenStream.from_arrays(x, y, t, pressure, pen_down, sample_rate_hz=rate, pressure_max=pressure_max)
    except EdgesigError:
        return
    _check_valid(pen)


@SETTINGS
@given(n=st.integers(8, 400), seed=st.integers(0, 2 ** 32 - 1), scale=st.sampled_from([1e-9, 1.0, 1e6, 1e150]),
       step=st.sampled_from([0.0, 1e-6, 1.0, 10.0, 1e9]))
def test_valid_streams_of_any_scale_pass_the_security_checks(n, seed, scale, step):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.choice([0.0, step, 2 * step], size=n)) + rng.uniform(0, 1e6)
    try:
        pen = PenStream.from_arrays(rng.normal(size=n) * scale, rng.normal(size=n) * scale, t,
                                    rng.uniform(0, 1, size=n), rng.uniform(size=n) > 0.2,
                                    device=DeviceInfo(timing_jitter=bool(seed % 2), sample_rate_hz=[None, 100.0][seed % 2]))
    except EdgesigError:
        return
    _check_valid(pen)


svc_line = st.tuples(*[st.integers(-5, 99999)] * 7).map(lambda v: " ".join(map(str, v)))


@st.composite
def svc_like_files(draw) -> bytes:
    rows = draw(st.lists(svc_line, min_size=0, max_size=60))
    count = draw(st.one_of(st.just(len(rows)), st.integers(-3, 100)))
    text = "\r\n".join([str(count)] + rows).encode()
    kind = draw(st.sampled_from(["as-is", "truncate", "flip", "insert"]))
    if kind == "truncate" and text:
        text = text[:draw(st.integers(0, len(text) - 1))]
    elif kind == "flip" and text:
        pos = draw(st.integers(0, len(text) - 1))
        text = text[:pos] + bytes([draw(st.integers(0, 255))]) + text[pos + 1:]
    elif kind == "insert":
        pos = draw(st.integers(0, len(text)))
        text = text[:pos] + draw(st.binary(max_size=20)) + text[pos:]
    return text


@SETTINGS
@given(data=st.one_of(svc_like_files(), st.binary(max_size=600)), fmt=st.sampled_from([None, "svc2004"]))
@example(data=b"2\n1 2 3 4\n1 2 3\n", fmt="svc2004")
@example(data=b"3\n1 2 3 4 5 6 7\n1 2 3 4\n1 2 3 4 5 6 7\n", fmt=None)
def test_load_pen_bytes_accepts_or_raises_typed(data, fmt):
    try:
        pen = load_pen(data, format=fmt)
    except EdgesigError:
        return
    _check_valid(pen)


@SETTINGS
@given(fps=st.lists(st.one_of(hnp.arrays("<f8", st.integers(0, 100)), st.lists(floats, max_size=100),
                              st.text(max_size=3)), max_size=4),
       tol=st.floats(allow_nan=True))
def test_near_duplicate_with_any_stored_fingerprints(scribble, fps, tol):
    try:
        found = near_duplicate(fingerprint(scribble), fps, tol)
    except EdgesigError:
        return
    assert found is None or 0 <= found < len(fps)
