import struct

import numpy as np
import pytest

from edgesig.capture import iso19794_7 as iso
from edgesig.capture import load_pen
from edgesig.errors import FormatError, InvalidInputError
from edgesig.pen import DeviceInfo, PenStream

from tests.capture.helpers import assert_same


def test_scaling_value_layout():
    assert iso.encode_scaling(1.0) == 0x8000          # exponent 0 (biased 16), fraction 0
    assert iso.encode_scaling(1000.0) == 0xCFA0       # 1.953125 * 2^9
    assert iso.decode_scaling(0xB480) == 100.0
    rng = np.random.default_rng(0)
    for value in np.exp(rng.uniform(np.log(2 ** -16), np.log(60000), 200)):
        assert abs(iso.decode_scaling(iso.encode_scaling(value)) / value - 1) <= 2 ** -12
        assert iso.decode_scaling(iso.encode_scaling(value, round_down=True)) <= value
    with pytest.raises(InvalidInputError):
        iso.encode_scaling(1e6)


def test_round_trip_of_a_synthetic_signature(synth_pen):
    back = load_pen(iso.write(synth_pen))
    assert_same(synth_pen, back, xy_mm=0.005, t_ms=0.5, pressure=0.5 / iso.F_FULL_SCALE, relative_time=True)
    assert np.abs(back.azimuth - np.mod(synth_pen.azimuth, 360)).max() <= 0.005
    assert np.abs(back.altitude - synth_pen.altitude).max() <= 0.005
    assert back.device.units_per_mm == 100.0


def test_round_trip_with_tilt_and_fractional_time(tilt_pen):
    pen = tilt_pen.with_meta()
    jittered = PenStream.from_arrays(pen.x, pen.y, pen.t + np.linspace(0, 0.37, len(pen)), pen.pressure,
                                     pen.pen_down, tilt_x=pen.tilt_x, tilt_y=pen.tilt_y, device=pen.device)
    back = iso.read(iso.write(jittered))
    assert_same(jittered, back, xy_mm=0.005, t_ms=0.1, pressure=1e-5, relative_time=True)
    assert np.abs(back.tilt_x - jittered.tilt_x).max() <= 0.005


def test_large_coordinates_are_rescaled_only_when_the_resolution_is_known():
    x = np.linspace(0, 60000, 50)
    pen = PenStream.from_arrays(x, x / 2, np.arange(50) * 5.0, np.full(50, 0.5),
                                device=DeviceInfo(units_per_mm=200.0))
    back = iso.read(iso.write(pen))
    assert back.device.units_per_mm < 200.0
    assert np.abs(back.x / back.device.units_per_mm - x / 200.0).max() < 0.02
    with pytest.raises(InvalidInputError, match="units_per_mm"):
        iso.write(pen.with_meta(device=DeviceInfo()))


def _hand_record(extended: bytes = b"abc") -> bytes:
    """X, Y, DT and F channels, assembled byte by byte from the 2007 layout."""
    head = b"SDI\x00" + b" 10\x00" + struct.pack(">H", 0x8000 | 0x4000 | 0x0080 | 0x0040)
    head += b"\x80" + struct.pack(">H", 0xB480)      # X: scaling 100 units/mm
    head += b"\x80" + struct.pack(">H", 0xB480)      # Y
    head += b"\x80" + struct.pack(">H", 0xCFA0)      # DT: scaling 1000 units/s (ms)
    head += b"\x60" + struct.pack(">HH", 0, 1023)    # F: min 0, max 1023
    head += b"\x00"                                  # reserved
    xs = [-500 + 40 * i for i in range(10)]
    body = b"".join(struct.pack(">HHHH", x + 32768, 300 - i + 32768, 5, 100 * i) for i, x in enumerate(xs))
    return head + b"\x80" + (10).to_bytes(3, "big") + body + struct.pack(">H", len(extended)) + extended


def test_a_hand_assembled_record_parses_as_the_standard_lays_it_out():
    rec = iso.parse(_hand_record())
    assert list(rec.channels) == ["x", "y", "dt", "f"]
    assert rec.channels["x"].scaling == 100.0 and rec.channels["f"].maximum == 1023
    assert rec.samples["x"][0] == -500 and rec.extended_data == b"abc"
    pen = iso.read(_hand_record())
    assert pen.t.tolist() == [5.0 * i for i in range(10)]
    assert pen.pressure[1] == pytest.approx(100 / 1023)
    assert pen.pen_down.tolist() == [False] + [True] * 9
    assert iso.build(rec) == _hand_record()


@pytest.mark.parametrize("mutate, offset", [
    (lambda b: b"XDI\x00" + b[4:], 0),
    (lambda b: b[:4] + b"020\x00" + b[8:], 4),
    (lambda b: b[:8] + b"\x00\xc0" + b[10:], 8),       # X and Y missing from the inclusion field
    (lambda b: b[:60], 53),                             # cut inside sample 3
    (lambda b: b + b"\x00", 114),                       # trailing byte
])
def test_malformed_records_name_the_offset(mutate, offset):
    with pytest.raises(FormatError) as err:
        iso.parse(mutate(_hand_record()))
    assert err.value.offset == offset


def test_version_2014_is_refused_with_an_explanation():
    with pytest.raises(FormatError, match="2007 first edition"):
        iso.read(b"SDI\x00020\x00" + bytes(40))
