"""Fuzzing the decoders: random, truncated and bit-flipped input only ever raises EdgesigError.

A pad, a browser or a file share can hand us any bytes; a numpy IndexError or a
UnicodeDecodeError escaping ``load_pen`` would crash a point-of-sale flow that catches
EdgesigError, so every decoder is driven with hostile input here.
"""
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesig.capture import evdev, framing, hid, hwr, inkml, iso19794_7, load_pen, pointer_events, svc2004
from edgesig.errors import EdgesigError
from edgesig.pen import PenStream

SAMPLES = Path(__file__).resolve().parents[2] / "firmware_samples"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid(folder: str, name: str = "genuine_6") -> bytes:
    return next(p for p in (SAMPLES / folder).iterdir() if p.stem == name).read_bytes()


def _only_typed_errors(decode, data: bytes) -> None:
    try:
        result = decode(data)
    except EdgesigError:
        return
    assert result is not None


@st.composite
def mutated(draw, valid: bytes, max_cut: int | None = None):
    """A valid recording truncated somewhere, with a few bytes overwritten."""
    data = bytearray(valid[:draw(st.integers(0, max_cut or len(valid)))])
    for _ in range(draw(st.integers(0, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


BINARY_DECODERS = {
    "iso19794_7": iso19794_7.read,
    "hid_descriptor": lambda b: hid.parse_descriptor(b).pen(),
    "hid_reports": lambda b: hid.decode_reports(hid.EXAMPLE_PEN_DESCRIPTOR, b, rate_hz=200.0),
    "evdev": evdev.read,
    "frames": framing.frames_to_penstream,
    "frames_drop": lambda b: framing.frames_to_penstream(b, policy="drop"),
}
TEXT_DECODERS = {
    "hid_recorder": hid.read, "evtest": evdev.read_text, "inkml": inkml.read,
    "pointer_events": pointer_events.read, "hwr": hwr.read, "svc2004": svc2004.read,
}
VALID = {"iso19794_7": ("iso19794_7", None), "evdev": ("evdev", None), "frames": ("frames", None),
         "frames_drop": ("frames", None), "hid_recorder": ("hid", 6000), "evtest": ("evtest", 6000),
         "inkml": ("inkml", None), "pointer_events": ("pointer_events", 8000), "hwr": ("hwr", None),
         "svc2004": ("svc2004", None)}


@pytest.mark.parametrize("name", sorted(BINARY_DECODERS) + sorted(TEXT_DECODERS))
@FUZZ
@given(data=st.binary(max_size=1500))
def test_random_bytes(name, data):
    decode = BINARY_DECODERS.get(name) or TEXT_DECODERS[name]
    _only_typed_errors(decode, data)


@pytest.mark.parametrize("name", sorted(VALID))
@FUZZ
@given(data=st.data())
def test_truncated_and_corrupted_recordings(name, data):
    folder, max_cut = VALID[name]
    sample = data.draw(mutated(_valid(folder), max_cut))
    decode = BINARY_DECODERS.get(name) or TEXT_DECODERS[name]
    _only_typed_errors(decode, sample)


@FUZZ
@given(data=st.data())
def test_hid_descriptor_mutations(data):
    sample = data.draw(mutated(hid.EXAMPLE_PEN_DESCRIPTOR))
    _only_typed_errors(lambda b: hid.decode_reports(b, [bytes([2]) + bytes(9)] * 12, rate_hz=100.0), sample)


@FUZZ
@given(chunks=st.lists(st.binary(max_size=64), max_size=30), policy=st.sampled_from(["raise", "drop"]))
def test_frame_decoder_in_chunks(chunks, policy):
    decoder = framing.FrameDecoder(policy=policy)
    valid = _valid("frames")
    for chunk in [valid[:50]] + chunks + [valid[50:200]]:
        decoder.feed(chunk)
        while True:
            try:
                for frame in decoder.frames():
                    assert frame.offset >= 0
                break
            except EdgesigError:
                continue
    assert decoder.buffered <= len(valid) + sum(map(len, chunks))


@FUZZ
@given(data=st.one_of(st.binary(max_size=800), st.sampled_from([b"SDI\x00", b"<ink", b"[{", b"R: 1 00\n"]).flatmap(
    lambda head: st.binary(max_size=400).map(lambda tail: head + tail))))
def test_load_pen_autodetection(data):
    _only_typed_errors(lambda b: load_pen(b), data)
    try:
        assert isinstance(load_pen(data), PenStream)
    except EdgesigError:
        pass


@pytest.mark.parametrize("data", [b"0", b"0\n", b"3\n\n"])
def test_svc2004_header_without_points_is_a_format_error(data):
    """Found by the fuzzer: a count line and nothing after it once escaped as StopIteration."""
    with pytest.raises(EdgesigError, match="no point follows"):
        svc2004.read(data)
