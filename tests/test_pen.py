import numpy as np
import pytest

from edgesig import PenStream, PenStreamError
from edgesig.pen import MIN_PEN_DOWN_POINTS
from edgesig.verifier import Verifier
from tests.conftest import wavy_pen


def arrays(n=50):
    t = np.arange(n) * 10.0
    return np.linspace(0, 100, n), np.sin(np.arange(n)), t, np.full(n, 0.5)


def test_from_arrays_validates_and_freezes():
    x, y, t, p = arrays()
    pen = PenStream.from_arrays(x, y, t, p)
    assert len(pen) == 50 and pen.n_down == 50
    with pytest.raises(ValueError):
        pen.x[0] = 5.0  # read-only
    x[0] = 123.0
    assert pen.x[0] == 0.0  # copied, not aliased


@pytest.mark.parametrize("case, pattern", [
    ("empty", "empty"), ("one point", "pen-down points"), ("nan", "NaN"), ("inf", "NaN or infinity"),
    ("length", "values but x has"), ("shape", "one-dimensional"), ("all pen-up", "pen-down points"),
    ("backwards", "time goes backwards"), ("pressure", "pressure must lie"), ("text", "sequence of numbers"),
])
def test_bad_input_gives_typed_error(case, pattern):
    x, y, t, p = arrays()
    kwargs = dict(x=x, y=y, t=t, pressure=p)
    if case == "empty":
        kwargs = dict(x=[], y=[], t=[], pressure=[])
    elif case == "one point":
        kwargs = dict(x=[1.0], y=[1.0], t=[0.0], pressure=[0.5])
    elif case == "nan":
        kwargs["y"] = np.where(np.arange(50) == 7, np.nan, y)
    elif case == "inf":
        kwargs["x"] = np.where(np.arange(50) == 3, np.inf, x)
    elif case == "length":
        kwargs["y"] = y[:-1]
    elif case == "shape":
        kwargs["x"] = np.stack([x, x])
    elif case == "all pen-up":
        kwargs["pen_down"] = np.zeros(50, bool)
    elif case == "backwards":
        kwargs["t"] = t[::-1]
    elif case == "pressure":
        kwargs["pressure"] = p * 1000
    elif case == "text":
        kwargs["x"] = ["a"] * 50
    with pytest.raises(PenStreamError, match=pattern):
        PenStream.from_arrays(**kwargs)


def test_repeated_timestamps_are_spread():
    x, y, t, p = arrays()
    t[10:14] = t[10]
    pen = PenStream.from_arrays(x, y, t, p)
    assert np.all(np.diff(pen.t) > 0)
    assert pen.t[10] == t[10] and pen.t[14] == t[14]


def test_small_clock_resync_is_absorbed_but_large_jump_is_not():
    x, y, t, p = arrays()
    t[20:] -= 8.0  # like the SVC2004 WACOM clock resync
    pen = PenStream.from_arrays(x, y, t, p)
    assert np.all(np.diff(pen.t) >= 0)
    t[30:] -= 5000.0
    with pytest.raises(PenStreamError, match="backwards"):
        PenStream.from_arrays(x, y, t, p)


def test_time_from_sample_rate_and_pressure_scaling():
    x, y, _, _ = arrays()
    pen = PenStream.from_arrays(x, y, pressure=np.full(50, 512), pressure_max=1023, sample_rate_hz=200)
    assert pen.t[1] == pytest.approx(5.0)
    assert pen.pressure.max() == pytest.approx(512 / 1023)
    with pytest.raises(PenStreamError, match="sample_rate_hz"):
        PenStream.from_arrays(x, y)


def test_minimum_pen_down_points():
    n = MIN_PEN_DOWN_POINTS + 2
    down = np.zeros(n, bool)
    down[:MIN_PEN_DOWN_POINTS] = True
    pen = PenStream.from_arrays(np.arange(n), np.arange(n), np.arange(n) * 10.0, pen_down=down)
    assert pen.n_down == MIN_PEN_DOWN_POINTS
    assert pen.select(pen.pen_down).n_down == MIN_PEN_DOWN_POINTS


def test_a_stream_without_pressure_says_so():
    x, y, t, p = arrays()
    down = p > 0
    bare = PenStream.from_arrays(x, y, t, pen_down=down)
    assert not bare.has_pressure and not bare.select(bare.pen_down).has_pressure
    assert np.array_equal(bare.pressure, down.astype(float))  # the pen state, not a measurement
    assert PenStream.from_arrays(x, y, t, p).has_pressure


@pytest.mark.parametrize("mask", [slice(None, None, 2), slice(3, None, 3), "down"])
def test_select_keeps_arrays_read_only_and_contiguous_and_the_engines_read_them(mask):
    """A stream thinned by a stepped slice used to hold strided views, which the numba
    kernels of ``verify_stroke`` refused with a TypingError."""
    def part(pen: PenStream) -> PenStream:
        return pen.select(pen.pen_down if mask == "down" else mask)
    query = part(wavy_pen(0, n=300))
    for arr in (query.t, query.x, query.y, query.pressure, query.pen_down):
        assert arr.flags.c_contiguous and not arr.flags.writeable
    verifier = Verifier("dtw")
    verifier.enroll("thin", [part(wavy_pen(s, n=300)) for s in range(1, 6)])
    assert 0.0 <= verifier.verify_stroke("thin", query).score <= 1.0


def test_a_plain_slice_is_still_a_view():
    pen = PenStream.from_arrays(*arrays())
    assert np.shares_memory(pen.select(slice(5, 20)).x, pen.x)


@pytest.mark.parametrize("changes, match", [
    ({"device": "pad-7"}, "device must be a DeviceInfo"),
    ({"sequence": -5}, "sequence must be a non-negative integer"),
    ({"nonce": "abc"}, "nonce must be bytes"),
    ({"has_pressure": "yes"}, "has_pressure must be True or False"),
    ({"x": np.zeros(200)}, "with_meta changes device, sequence, nonce and has_pressure only"),
])
def test_with_meta_checks_what_it_changes(changes, match):
    """with_meta took anything: device='pad-7' failed later inside verify_stroke with a raw
    AttributeError, sequence=-5 became the pad's counter, x= replaced samples unchecked."""
    with pytest.raises(PenStreamError, match=match):
        wavy_pen(1).with_meta(**changes)
    fresh = wavy_pen(1).with_meta(nonce=bytearray(b"n-1"), sequence=np.int64(3))
    assert fresh.nonce == b"n-1" and type(fresh.sequence) is int
