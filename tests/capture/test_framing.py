import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edgesig.capture import framing, load_pen
from edgesig.capture.framing import FrameDecoder, PenPacket, SessionEnd, SessionStart
from edgesig.errors import FormatError, ReplayError

NONCE = bytes(range(8))
ENCODER_PATH = Path(__file__).resolve().parents[2] / "firmware_samples" / "pad_encoder.py"


@pytest.fixture(scope="module")
def pad_encoder():
    spec = importlib.util.spec_from_file_location("pad_encoder", ENCODER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _session(pad_encoder, n=10, nonce=NONCE, counter=1, start_ticks=0):
    enc = pad_encoder.PadEncoder(nonce, counter, 1000, 100.0, 4095)
    frames = [enc.start()]
    frames += [enc.pen(start_ticks + 5 * i, 1000 + 40 * i, 2000 + 10 * i, 1500, tip=i > 0) for i in range(n)]
    return frames + [enc.end()]


def _decode(data, **options):
    decoder = FrameDecoder(**options)
    decoder.feed(data)
    return list(decoder.frames()), decoder


def test_crc_check_value(pad_encoder):
    assert framing.crc16(b"123456789") == pad_encoder.crc16_ccitt(b"123456789") == 0x29B1


def test_pad_encoder_and_host_encoder_agree(pad_encoder, synth_pen):
    nonce = b"\x10" * 8
    pad_id = b"serial-9"
    host = framing.encode_session(synth_pen, nonce=nonce, session_counter=42, pad_id=pad_id)
    enc = pad_encoder.PadEncoder(nonce, 42, 1000, 100.0, framing.PRESSURE_MAX, pad_id)
    tx, ty = framing._tilt_degrees(synth_pen)
    ticks = np.rint(synth_pen.t - synth_pen.t[0]).astype(int)
    pad = [enc.start()] + [enc.pen(int(ticks[i]), int(round(synth_pen.x[i])), int(round(synth_pen.y[i])),
                                   int(round(synth_pen.pressure[i] * framing.PRESSURE_MAX)),
                                   bool(synth_pen.pen_down[i]), True, False, int(tx[i]), int(ty[i]))
                           for i in range(len(synth_pen))] + [enc.end()]
    assert b"".join(pad) == host
    pen = load_pen(host)
    assert pen.nonce == nonce and pen.sequence == 42 and pen.device.name == framing.pad_device_name(pad_id)
    assert np.array_equal(pen.x, np.rint(synth_pen.x)) and np.array_equal(pen.pen_down, synth_pen.pen_down)
    assert np.allclose(pen.t, synth_pen.t - synth_pen.t[0])
    assert pen.device.units_per_mm == 100.0


def test_arbitrary_chunks_give_the_same_frames(pad_encoder):
    data = b"".join(_session(pad_encoder))
    whole, _ = _decode(data)
    decoder = FrameDecoder()
    got = []
    rng = np.random.default_rng(0)
    pos = 0
    while pos < len(data):
        step = int(rng.integers(1, 9))
        decoder.feed(data[pos:pos + step])
        got += list(decoder.frames())
        pos += step
    assert got == whole and len(whole) == 12
    assert isinstance(whole[0], SessionStart) and isinstance(whole[-1], SessionEnd)
    assert [f.t_ms for f in whole[1:-1]] == [5.0 * i for i in range(10)]


def test_resynchronises_after_garbage(pad_encoder):
    frames = _session(pad_encoder)
    data = b"\x00\xec\x01garbage" + frames[0] + b"\xec\x5a\x09junk" + b"".join(frames[1:])
    got, decoder = _decode(data, policy="drop")
    assert len(got) == 12
    assert {i.kind for i in decoder.issues} == {"garbage"} and decoder.issues[0].offset == 0
    strict = FrameDecoder()
    strict.feed(data)
    with pytest.raises(FormatError) as err:
        list(strict.frames())
    assert err.value.offset == 0
    rest, errors = [], 1
    while True:  # errors are raised after the bad bytes are consumed: iteration resumes
        try:
            for frame in strict.frames():
                rest.append(frame)
            break
        except FormatError:
            errors += 1
    assert len(rest) == 12 and errors == 3  # leading garbage, false magic, "junk"


def test_crc_error_drops_the_frame(pad_encoder):
    frames = _session(pad_encoder)
    bad = bytearray(frames[3])
    bad[10] ^= 0x40
    data = b"".join(frames[:3]) + bytes(bad) + b"".join(frames[4:])
    with pytest.raises(FormatError, match="CRC"):
        _decode(data)
    got, decoder = _decode(data, policy="drop")
    kinds = [i.kind for i in decoder.issues]
    assert "crc" in kinds and "gap" in kinds  # the lost frame then shows as a gap
    assert len(got) == 11


def test_gap_is_reported_and_the_next_frame_kept(pad_encoder):
    frames = _session(pad_encoder)
    decoder = FrameDecoder()
    decoder.feed(b"".join(frames[:4] + frames[6:]))
    seen = []
    with pytest.raises(FormatError, match="2 frame\\(s\\) lost before seq 6") as err:
        for frame in decoder.frames():
            seen.append(frame)
    assert err.value.offset == sum(len(f) for f in frames[:4])
    after = []
    with pytest.raises(FormatError, match="END says 10 PEN frames, 8 arrived"):
        for frame in decoder.frames():
            after.append(frame)
    assert [f.seq for f in seen] == [0, 1, 2, 3] and [f.seq for f in after] == [6, 7, 8, 9, 10]
    assert [f.seq for f in decoder.frames()] == [11]  # the END frame itself is still delivered


def test_duplicates_and_late_frames_are_replays(pad_encoder):
    frames = _session(pad_encoder)
    with pytest.raises(ReplayError, match="seq 2 arrived again"):
        _decode(b"".join(frames[:4] + [frames[2]] + frames[4:]))
    got, decoder = _decode(b"".join(frames[:4] + [frames[2]] + frames[4:]), policy="drop")
    assert [i.kind for i in decoder.issues] == ["replay"] and len(got) == 12


def test_reused_and_stale_nonces(pad_encoder):
    seen = set()
    data = b"".join(_session(pad_encoder))
    assert len(_decode(data, seen_nonces=seen)[0]) == 12
    with pytest.raises(ReplayError, match="already used"):
        _decode(data, seen_nonces=seen)
    with pytest.raises(ReplayError, match="stale session nonce"):
        _decode(data, expected_nonce=b"\xff" * 8)
    with pytest.raises(ReplayError):
        framing.frames_to_penstream(data, seen_nonces=seen)


def test_session_rules(pad_encoder):
    frames = _session(pad_encoder)
    with pytest.raises(FormatError, match="outside a session"):
        _decode(b"".join(frames[1:]))
    short_end = pad_encoder.frame(pad_encoder.KIND_END, bytes(framing._END.pack(11, 9, 0)))
    with pytest.raises(FormatError, match="END says 9 PEN frames, 10 arrived"):
        _decode(b"".join(frames[:-1]) + short_end)
    with pytest.raises(FormatError, match="without an END frame"):
        _decode(b"".join(frames[:-1] + _session(pad_encoder, nonce=b"\x01" * 8)))
    with pytest.raises(FormatError, match="no END frame"):
        framing.frames_to_penstream(b"".join(frames[:-1]))
    with pytest.raises(FormatError, match="exactly one session"):
        framing.frames_to_penstream(b"".join(frames + _session(pad_encoder, nonce=b"\x02" * 8)))
    with pytest.raises(FormatError, match="incomplete frame"):
        framing.decode(b"".join(frames)[:-3])


def test_device_clock_wraps(pad_encoder):
    got, _ = _decode(b"".join(_session(pad_encoder, start_ticks=2 ** 32 - 12)))
    pens = [f for f in got if isinstance(f, PenPacket)]
    assert [p.t_ms for p in pens] == [5.0 * i for i in range(10)]
    assert pens[3].ticks < pens[2].ticks  # wrapped


def test_pad_encoder_is_plain_enough_for_micropython():
    tree = ast.parse(ENCODER_PATH.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"struct"}
    assert not any(isinstance(node, (ast.JoinedStr, ast.AnnAssign)) or getattr(node, "decorator_list", None)
                   for node in ast.walk(tree))
