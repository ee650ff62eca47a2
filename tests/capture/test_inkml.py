import numpy as np
import pytest

from edgesig.capture import inkml, load_pen
from edgesig.errors import FormatError

from tests.capture.helpers import assert_same

NS = 'xmlns="http://www.w3.org/2003/InkML"'


def test_round_trip_of_a_synthetic_signature(synth_pen):
    data = inkml.write(synth_pen)
    back = load_pen(data)
    assert_same(synth_pen, back, xy_mm=1e-4, t_ms=1e-3, pressure=1e-5)
    assert np.abs(back.azimuth - synth_pen.azimuth).max() <= 0.01
    assert back.device.units_per_mm == 1.0
    assert data.count(b"<trace ") == 1 + np.count_nonzero(np.diff(synth_pen.pen_down.astype(int)))


def test_round_trip_with_tilt(tilt_pen):
    back = inkml.read(inkml.write(tilt_pen))
    assert np.abs(back.tilt_y - tilt_pen.tilt_y).max() <= 0.01


def test_difference_prefixes_persist_per_channel():
    channels = [inkml.Channel("X"), inkml.Channel("Y")]
    text = "1125 18432,'23'43,\"7\"-8,3-5, !1 #1F, ? *"
    points = inkml._decode_trace(text, channels)
    # explicit; first difference; second differences (velocity 23+7, 43-8) twice; X explicit again
    # while Y keeps its second-difference mode; unknown X, Y unchanged
    assert points[:4].tolist() == [[1125, 18432], [1148, 18475], [1178, 18510], [1211, 18540]]
    assert points[4].tolist() == [1, 18540 + 30 + 31]
    assert np.isnan(points[5, 0]) and points[5, 1] == points[4, 1]


def test_units_resolution_context_and_trace_groups():
    doc = f"""<?xml version="1.0"?>
<ink {NS}>
 <definitions>
  <context xml:id="c1">
   <inkSource xml:id="pad">
    <traceFormat>
     <channel name="X" type="integer"/><channel name="Y" type="integer"/>
     <channel name="T" type="decimal" units="s"/>
     <channel name="F" type="integer" min="0" max="255"/>
     <channel name="OTx" type="decimal" units="rad"/><channel name="OTy" type="decimal" units="rad"/>
    </traceFormat>
    <channelProperties><channelProperty channel="X" name="resolution" value="1000" units="1/cm"/></channelProperties>
   </inkSource>
  </context>
 </definitions>
 <traceGroup contextRef="#c1">
  <trace>0 0 0 255 0.1 -0.1, '10 '5 '0.01 '0 '0 '0, '10 '5 '0.01 '0 '0 '0, '10 '5 '0.01 '0 '0 '0</trace>
  <trace type="penUp">50 20 0.05 0 0 0, '10 '0 '0.01 '0 '0 '0</trace>
  <trace>80 20 0.08 128 0 0, '10 '5 '0.01 '0 '0 '0, '10 '5 '0.01 '0 '0 '0, '10 '5 '0.01 '0 '0 '0</trace>
 </traceGroup>
</ink>""".encode()
    pen = load_pen(doc)
    assert pen.device.units_per_mm == pytest.approx(100.0)
    assert pen.t.tolist() == pytest.approx([0, 10, 20, 30, 50, 60, 80, 90, 100, 110])
    assert pen.pressure[0] == 1.0 and pen.pressure[6] == pytest.approx(128 / 255)
    assert pen.pen_down.tolist() == [True] * 4 + [False] * 2 + [True] * 4
    assert pen.tilt_x[0] == pytest.approx(np.degrees(0.1))


def test_physical_units_and_default_trace_format():
    doc = f'<ink {NS}><traceFormat><channel name="X" units="cm"/><channel name="Y" units="cm"/>' \
          f'<channel name="T" units="ms"/></traceFormat><trace>' + \
          ", ".join(f"{i * 0.1:.1f} {i * 0.05:.2f} {i * 10}" for i in range(12)) + "</trace></ink>"
    pen = inkml.read(doc.encode())
    assert pen.device.units_per_mm == pytest.approx(0.1)
    plain = inkml.read(f"<ink {NS}><trace>".encode() + b", ".join(b"%d %d" % (i, i) for i in range(10))
                       + b"</trace></ink>", sample_rate_hz=100)
    assert plain.device.units_per_mm is None and plain.t[-1] == pytest.approx(90.0)


@pytest.mark.parametrize("doc", [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><ink><trace>&lol;</trace></ink>',
    b'<ink><!ENTITY x SYSTEM "file:///etc/passwd"></ink>',
])
def test_dtd_and_entities_are_refused_before_parsing(doc):
    with pytest.raises(FormatError, match="DTD or entity") as err:
        inkml.read(doc)
    assert err.value.offset == doc.index(b"<!")


@pytest.mark.parametrize("doc, message", [
    (b"<ink><trace>1 2, 3 4</ink>", "well-formed"),
    (b"<notink/>", "root element"),
    (f"<ink {NS}><trace>'1 '2, 3 4</trace></ink>".encode(), "no explicit value"),
    (f"<ink {NS}><trace>1 2 3, 4 5</trace></ink>".encode(), "more than the 2 values"),
    (f"<ink {NS}><trace>1, 4 5</trace></ink>".encode(), "regular channels"),
    (f"<ink {NS}><trace>1 2, 4 % 5</trace></ink>".encode(), "unexpected trace text"),
    (f"<ink {NS}></ink>".encode(), "no traces"),
])
def test_malformed_documents(doc, message):
    with pytest.raises(FormatError, match=message):
        inkml.read(doc)


def test_not_well_formed_names_the_byte_offset():
    doc = b"<ink>\n<trace>1 2</trace>\n</oops>"
    with pytest.raises(FormatError) as err:
        inkml.read(doc)
    assert err.value.offset == doc.index(b"</oops>") + 2
