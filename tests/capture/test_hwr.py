import numpy as np
import pytest

from edgesig.capture import hwr, load_pen
from edgesig.errors import FormatError, PenStreamError

from tests.capture.helpers import assert_same, regular_pen


def test_round_trip_keeps_every_sample_of_a_regular_stream():
    pen = regular_pen(rate_hz=200.0)
    back = load_pen(hwr.write(pen))  # auto-detected
    assert_same(pen, back, xy_mm=0.0, t_ms=1e-9, pressure=0.5 / hwr.PRESSURE_MAX)
    assert np.array_equal(back.azimuth, pen.azimuth) and np.array_equal(back.altitude, pen.altitude)
    assert back.device.units_per_mm == pytest.approx(200.0)


def test_time_comes_from_the_sample_rate_default_200_hz():
    data = b"10 20 5\n11 21 6\n12 22 7\n13 23 8\n14 24 9\n15 25 9\n16 26 9\n17 27 9\n18 28 0\n"
    pen = hwr.read(data)
    assert np.allclose(np.diff(pen.t), 5.0)
    assert hwr.read(data, sample_rate_hz=100).t[-1] == pytest.approx(80.0)
    assert pen.pen_down.tolist() == [True] * 8 + [False]
    assert pen.azimuth is None


def test_pen_down_survives_a_pressure_that_rounds_to_zero():
    pen = regular_pen()
    tiny = pen.pressure.copy()
    tiny[pen.pen_down] = 1e-5
    light = type(pen).from_arrays(pen.x, pen.y, pen.t, tiny, pen.pen_down, device=pen.device)
    assert np.array_equal(hwr.read(hwr.write(light)).pen_down, pen.pen_down)


@pytest.mark.parametrize("data, line", [
    (b"1 2 3\n4 5 6 7 8\n", 2),
    (b"1 2 3\n4 five 6\n", 2),
    (b"1 2\n", 1),
    (b"1 2 99999999999999999999\n", 1),
])
def test_malformed_lines_name_the_line(data, line):
    with pytest.raises(FormatError) as err:
        hwr.read(data)
    assert err.value.offset == line


def test_empty_and_binary_input_are_format_errors():
    with pytest.raises(FormatError):
        hwr.read(b"\n\n")
    with pytest.raises(FormatError):
        hwr.read(b"\xff\xfe1 2 3")


def test_pressure_beyond_full_scale_asks_for_pressure_max():
    data = b"".join(b"%d 0 2000\n" % i for i in range(10))
    with pytest.raises(PenStreamError, match="pressure_max"):
        hwr.read(data)
    assert hwr.read(data, pressure_max=2000).pressure.max() == 1.0


def test_sniffing_accepts_hwr_and_not_svc2004():
    assert hwr.sniff(b"", "U1_1.HWR")
    assert hwr.sniff(b"10 20 30\n11 21 31\n12 22 32\n", "")
    assert not hwr.sniff(b"3\n10 20 30 1\n11 21 40 1\n", "")  # SVC2004: count line first
    assert not hwr.sniff(b"10 20 30\n11 21\n", "")
