"""Issue 20, finding 2: framed pads' session counters.

Before the fix every framed pad was named "framed pad", so all pads shared one counter:
a capture with counter 2**32 - 1 locked every pad out until restart, and two honest pads
rejected each other. Counters are now per pad id, move only for a capture that passes
every check, and an absurd jump is refused without moving them.
"""
from __future__ import annotations

import numpy as np
import pytest

import edgesig
from edgesig.capture import framing
from edgesig.capture.framing import pad_device_name
from edgesig.pen import DeviceInfo
from edgesig.security import ReplayGuard
from edgesig.synth import make_writer

PAD_A, PAD_B = b"PAD-A\x00\x00\x01", b"PAD-B\x00\x00\x02"


@pytest.fixture(scope="module")
def signature():
    return make_writer(3).genuine(np.random.default_rng(11))


def _capture(pen, counter, pad_id=PAD_A, **options):
    data = framing.encode_session(pen, session_counter=counter, pad_id=pad_id)
    return framing.frames_to_penstream(data, **options)


def test_two_honest_pads_keep_their_own_counters(signature):
    guard = ReplayGuard()
    assert guard.check("u", _capture(signature, 10, PAD_A)) == []
    assert guard.check("u", _capture(signature, 3, PAD_B)) == []  # used to be "not above the last one (10)"
    assert guard.check("u", _capture(signature, 11, PAD_A)) == []
    assert guard.check("u", _capture(signature, 4, PAD_B)) == []
    assert "not above" in guard.check("u", _capture(signature, 11, PAD_A))[0]


def test_a_forged_huge_counter_locks_nobody_out(signature):
    guard = ReplayGuard()
    assert guard.check("u", _capture(signature, 5, PAD_A)) == []
    forged = guard.check("u", _capture(signature, 2 ** 32 - 1, PAD_A))
    assert forged and "refused" in forged[0]
    assert guard.check("u", _capture(signature, 6, PAD_A)) == []  # the pad's counter was left at 5
    assert guard.check("u", _capture(signature, 1, PAD_B)) == []  # and other pads never noticed


def test_a_capture_that_fails_a_check_does_not_move_the_counter(pens):
    v = edgesig.Verifier("dtw", edgesig.MemoryStore())
    v.enroll("alice", pens[:5])
    pad = DeviceInfo(name=pad_device_name(PAD_A))
    v.verify_stroke("alice", pens[5].with_meta(device=pad, sequence=1))
    replayed_reference = pens[0].with_meta(device=pad, sequence=900)  # a copy: refused
    assert any("near-duplicate" in r for r in v.verify_stroke("alice", replayed_reference).reasons)
    honest = v.verify_stroke("alice", pens[5].with_meta(device=pad, sequence=2, nonce=b"fresh"))
    assert not any("sequence" in r for r in honest.reasons)


def test_a_pad_without_an_id_carries_no_shared_counter(signature):
    v1 = framing.encode_session(signature, session_counter=2 ** 32 - 1)  # version 1: no pad id
    assert v1[2] == 1
    pen = framing.frames_to_penstream(v1)
    assert pen.sequence is None and pen.nonce is not None
    named = framing.frames_to_penstream(v1, name="pad on /dev/ttyUSB0")
    assert (named.device.name, named.sequence) == ("pad on /dev/ttyUSB0", 2 ** 32 - 1)


def test_a_damaged_session_carries_no_counter(signature):
    data = bytearray(framing.encode_session(signature, session_counter=7, pad_id=PAD_A))
    data[200] ^= 0xFF  # one PEN frame fails its CRC and is dropped
    pen = framing.frames_to_penstream(bytes(data), policy="drop")
    assert pen.device.name == pad_device_name(PAD_A) and pen.sequence is None
    assert _capture(signature, 7).sequence == 7


def test_a_streaming_session_keys_the_counter_by_pad(signature, pens):
    from edgesig.capture import Session
    v = edgesig.Verifier("dtw", edgesig.MemoryStore())
    v.enroll("alice", pens[:5])
    for pad_id, counter in ((PAD_A, 10), (PAD_B, 3)):
        decoder = framing.FrameDecoder()
        decoder.feed(framing.encode_session(signature, session_counter=counter, pad_id=pad_id))
        session = Session(v, "alice")
        result = session.add_frames(decoder.frames())
        assert session.device.name == pad_device_name(pad_id)
        assert not any("sequence" in r for r in result.reasons)


def test_a_pad_whose_counter_restarted_is_told_how_to_recover(signature):
    """A pad whose counter restarts at 0 (firmware update, power loss) was refused as 'an old
    capture' until the process restarted, with nothing to say or do about it."""
    guard = ReplayGuard()
    assert guard.check("u", _capture(signature, 500)) == []
    refused = guard.check("u", _capture(signature, 0))
    name = pad_device_name(PAD_A)
    assert refused and f"reset_device({name!r})" in refused[0]
    assert guard.reset_device(name) and not guard.reset_device(name)
    assert guard.check("u", _capture(signature, 0)) == []
    assert "not above" in guard.check("u", _capture(signature, 0))[0]  # the counter counts again
