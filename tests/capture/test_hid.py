import numpy as np
import pytest

from edgesig.capture import hid, load_pen
from edgesig.errors import FormatError, InvalidInputError

from tests.capture.helpers import assert_same

DESC = hid.parse_descriptor(hid.EXAMPLE_PEN_DESCRIPTOR)


def _report(tip, in_range, x, y, pressure, tx=0, ty=0):
    flags = tip | (in_range << 3)
    return bytes([2, flags]) + x.to_bytes(2, "little") + y.to_bytes(2, "little") + \
        pressure.to_bytes(2, "little") + tx.to_bytes(1, "little", signed=True) + ty.to_bytes(1, "little", signed=True)


def test_example_descriptor_fields_and_units():
    assert DESC.uses_report_ids and DESC.report_bytes == {2: 9, 3: 1}
    pen = DESC.pen()
    assert pen.report_id == 2
    x, tilt = pen.get(hid.X), pen.get(hid.X_TILT)
    assert (x.bit_offset, x.bit_size, x.logical_max) == (8, 16, 21600)
    assert x.units_per_mm() == pytest.approx(100.0)
    assert (tilt.bit_offset, tilt.logical_min) == (56, -60)
    assert pen.get(hid.TIP_PRESSURE).units_per_mm() is None


def test_decoding_skips_other_reports_out_of_range_and_repeats():
    reports = [_report(0, 1, 1000, 2000, 0), bytes([3, 1]), _report(1, 1, 1010, 2005, 2048, -10, 20)]
    reports += [_report(1, 1, 1010 + 10 * i, 2005 + 5 * i, 3000) for i in range(1, 10)]
    reports += [_report(0, 0, 0, 0, 0)]  # out of range: position meaningless
    times = np.arange(len(reports)) * 5.0
    reports.insert(4, reports[3])       # USB retry: same report, same time
    times = np.insert(times, 4, times[3])
    pen = hid.decode_reports(hid.EXAMPLE_PEN_DESCRIPTOR, reports, timestamps_ms=times)
    assert len(pen) == 11
    assert pen.pen_down.tolist() == [False] + [True] * 10
    assert pen.pressure[1] == pytest.approx(2048 / 4095)
    assert (pen.tilt_x[1], pen.tilt_y[1]) == (-10.0, 20.0)
    assert pen.device.units_per_mm == pytest.approx(100.0)


def test_concatenated_stream_with_a_fixed_rate():
    stream = b"".join(_report(1, 1, 100 + i, 200, 1000) for i in range(10)) + bytes([3, 0])
    pen = hid.decode_reports(DESC, stream, rate_hz=200.0)
    assert len(pen) == 10 and pen.t[1] == 5.0
    with pytest.raises(FormatError) as err:
        hid.decode_reports(DESC, stream + bytes([9, 0]), rate_hz=200.0)
    assert err.value.offset == len(stream)


def test_round_trip_through_a_hid_recorder_log(tilt_pen):
    data = hid.write(tilt_pen)
    back = load_pen(data)
    assert_same(tilt_pen, back, xy_mm=0.005, t_ms=1e-3, pressure=0.5 / 4095, relative_time=True)
    assert np.abs(back.tilt_x - tilt_pen.tilt_x).max() <= 0.5


def _descriptor(x_items: str, extra: str = "") -> bytes:
    """A report-ID-less pen: tip switch + pad, X and Y with the given global items, pressure."""
    return bytes.fromhex(
        "050d 0902 a101 0942 1500 2501 7501 9501 8102 9507 8103"
        "0501 0930 0931 7510 9502" + x_items + "8102"
        "050d 0930 1500 26ff03 3500 4500 6500 5500 7510 9501 8102" + extra + "c0")


@pytest.mark.parametrize("items, expected", [
    ("1500 26ec09 3500 46e803 6513 550d", 2540 / 25.4),                   # 2540 over 1000 mils: 2540 lpi
    ("1500 26ffff 3500 46ffff 6511 55fd", 100.0),                         # 0xFFFF max, exponent byte -3
    ("1500 2564 3500 4501 6511 5500", 10.0),                              # 100 units over 1 cm
    ("1500 26ff7f 6500 5500", None),                                      # no unit: resolution unknown
])
def test_units_per_mm_from_descriptor_variants(items, expected):
    desc = hid.parse_descriptor(_descriptor(items))
    x = desc.pen().get(hid.X)
    assert x.units_per_mm() == (pytest.approx(expected) if expected else None)
    assert not desc.uses_report_ids


def test_32_bit_usages_and_radian_tilt():
    desc_bytes = _descriptor("1500 2564 3500 4501 6511 5500",
                             "0b3d000d00 0b3e000d00 15e7 2519 35e7 4519 6512 55ff 7508 9502 8102")
    desc = hid.parse_descriptor(desc_bytes)
    f = desc.pen().get(hid.X_TILT)
    assert f is not None and f.unit == 0x12
    # logical -25..25 over physical -2.5..2.5 rad (exponent -1): 10 logical units = 1 rad
    assert f.degrees(np.array([10]))[0] == pytest.approx(np.degrees(1.0))


@pytest.mark.parametrize("data, message", [
    (b"\x05\x0d\x26\xff", "truncated"),
    (b"\xb4", "Pop without Push"),
    (b"\xc0", "End Collection"),
    (b"\x85\x00", "Report ID 0"),
    (b"\x0c", "reserved item type"),
    (bytes.fromhex("0501 0930 7510 9501 8102"), "no pen report"),
    (b"\x05\x01", "no input report"),
])
def test_malformed_descriptors(data, message):
    with pytest.raises(FormatError, match=message):
        hid.parse_descriptor(data).pen()


def test_timestamps_must_match_reports():
    with pytest.raises(InvalidInputError, match="one finite timestamp per report"):
        hid.decode_reports(DESC, [_report(1, 1, 1, 1, 1)] * 3, timestamps_ms=[0.0, 1.0])
    with pytest.raises(InvalidInputError, match="rate_hz"):
        hid.decode_reports(DESC, [_report(1, 1, 1, 1, 1)] * 3)


def test_hid_recorder_log_with_two_devices_and_malformed_lines():
    pen_lines = "\n".join(f"E: 000000.{5000 * i:06d} 10 {_report(1, 1, 100 + 10 * i, 200, 900).hex(' ')}"
                          for i in range(10))
    log = (f"N: keyboard\nR: 2 05 01\nD: 0\nE: 000000.000000 1 00\n"
           f"N: pad\nR: {len(hid.EXAMPLE_PEN_DESCRIPTOR)} {hid.EXAMPLE_PEN_DESCRIPTOR.hex(' ')}\nD: 1\n{pen_lines}\n")
    pen = hid.read(log.encode(), device=1)
    assert len(pen) == 10 and pen.device.name == "pad" and pen.t[1] == pytest.approx(5.0)
    with pytest.raises(FormatError, match="length says 3"):
        hid.read(b"R: 3 05 01\nE: 0.0 1 00\n")
    with pytest.raises(FormatError, match="no report descriptor"):
        hid.read(b"E: 0.0 1 00\n")
