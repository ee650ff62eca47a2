"""Streaming verification: incremental features equal batch ones; a session ends and verifies."""
import numpy as np
import pytest

from edgesig import InvalidInputError, PenStreamError, Verifier
from edgesig.capture import Session, stream_points
from edgesig.features.kinematics import FeatureConfig, extract
from edgesig.features.streaming import StreamingFeatures
from edgesig.synth import make_writer


@pytest.fixture(scope="module")
def writer_pens():
    w = make_writer(5)
    rng = np.random.default_rng(1)
    return [w.genuine(rng) for _ in range(6)], w.forgery(rng)


@pytest.mark.parametrize("cfg", [FeatureConfig(), FeatureConfig(window=5, level=3, pen_up=True),
                                 FeatureConfig(stride=2, extra=("vx", "vy", "p"))])
def test_streaming_features_equal_batch(writer_pens, cfg):
    pen = writer_pens[0][0]
    stream = StreamingFeatures(cfg, capacity=16)  # small capacity: exercises growth too
    for t, x, y, p, down in stream_points(pen):
        stream.push(x, y, down)
    assert stream.pending_rows <= cfg.window // 2
    np.testing.assert_allclose(stream.finish(pen), extract(pen, cfg), atol=1e-9)


@pytest.mark.parametrize("rate", [100.0, 200.0])
def test_streaming_equals_batch_when_the_pen_is_thinned(rate):
    pen = make_writer(7, sample_rate_hz=rate).genuine(np.random.default_rng(2))
    cfg = FeatureConfig(window=5, pen_up=True, stride=2, rate_hz=100.0)
    stream = StreamingFeatures(cfg)
    for t, x, y, p, down in stream_points(pen):
        stream.push(x, y, down)
    np.testing.assert_allclose(stream.finish(pen), extract(pen, cfg), atol=1e-9)


def _verifier(writer_pens):
    genuine, _ = writer_pens
    v = Verifier("dtw")
    v.enroll("w5", genuine[:5])
    return v


def test_session_ends_on_pen_up_timeout_and_matches_batch(writer_pens):
    v = _verifier(writer_pens)
    query = writer_pens[0][5]
    expected = Verifier("dtw", v.store).verify_stroke("w5", query)
    results = []
    session = Session(v, "w5", pen_up_timeout_ms=500, device=query.device, on_result=results.append)
    for t, x, y, p, down in stream_points(query):
        assert session.add_point(t, x, y, p, down) is None
    assert session.state in ("writing", "pen_up")
    assert session.poll(query.t[-1] + 100) is None          # not yet timed out
    result = session.poll(query.t[-1] + 2000)
    assert result is not None and results == [result] and session.state == "done"
    assert result.score == pytest.approx(expected.score, abs=1e-6)
    with pytest.raises(InvalidInputError, match="ended"):
        session.add_point(0, 0, 0)


def test_session_done_rejects_forgery(writer_pens):
    v = _verifier(writer_pens)
    forgery = writer_pens[1]
    session = Session(v, "w5", device=forgery.device)
    for point in stream_points(forgery):
        session.add_point(*point)
    assert not session.done().accepted


def test_session_from_frames(writer_pens):
    """A framed recording from the reference pad encoder ends with END and is verified."""
    import pathlib
    from edgesig import load_pen
    from edgesig.capture import framing
    data = pathlib.Path(__file__).resolve().parents[2] / "firmware_samples" / "frames"
    blob = next(data.glob("genuine_6*")).read_bytes()
    decoder = framing.FrameDecoder()
    decoder.feed(blob)
    v = Verifier("dtw")
    refs = [load_pen(next(data.glob(f"genuine_{k}*"))) for k in range(1, 6)]
    v.enroll("writer9", refs)
    session = Session(v, "writer9")
    result = session.add_frames(decoder.frames())
    assert result is not None and result.user_id == "writer9" and 0 <= result.score <= 1
    assert session.state == "done" and session.pen().nonce is not None


def test_session_grows_past_its_buffer_and_refuses_non_numbers(writer_pens):
    v = _verifier(writer_pens)
    query = writer_pens[0][5]
    slow = [(t * 8.0, x, y, p, down) for t, x, y, p, down in stream_points(query)]  # ~8x the points
    session = Session(v, "w5", device=query.device)
    for k in range(len(slow) * 8):
        t, x, y, p, down = slow[k // 8]
        session.add_point(t + k % 8, x, y, p, down)
    assert len(session.pen()) == len(slow) * 8 > 1024
    with pytest.raises(PenStreamError, match="must be numbers"):
        session.add_point("soon", 1.0, 2.0)
    assert len(session.pen()) == len(slow) * 8            # the bad sample left nothing behind


@pytest.mark.parametrize("bad, match", [
    ((float("nan"), 1.0, 2.0, 0.5), "NaN or infinity"),
    ((1.0, float("inf"), 2.0, 0.5), "NaN or infinity"),
    ((1.0, 1.0, 2.0, 1.5), r"pressure 1.5 is outside \[0, 1\]"),
    ((1.0, 1.0, 2.0, -0.1), "pressure -0.1 is outside"),
    (("last - 500", 1.0, 2.0, 0.5), "time goes back"),
])
def test_a_bad_sample_is_refused_alone_and_the_session_goes_on(writer_pens, bad, match):
    """NaN, pressure above pressure_max or a backwards time used to be kept and to lose the
    whole signature at done(); now the sample is refused and the signature still verifies."""
    v = _verifier(writer_pens)
    query = writer_pens[0][5]
    points = list(stream_points(query))
    session = Session(v, "w5", device=query.device)
    half = len(points) // 2
    for point in points[:half]:
        session.add_point(*point)
    if bad[0] == "last - 500":
        bad = (points[half - 1][0] - 500.0, *bad[1:])
    with pytest.raises(PenStreamError, match=match):
        session.add_point(*bad)
    for point in points[half:]:
        session.add_point(*point)
    assert len(session.pen()) == len(points) and session.done().accepted


def test_a_small_clock_step_back_is_held_not_refused(writer_pens):
    v = _verifier(writer_pens)
    session = Session(v, "w5")
    session.add_point(100.0, 1.0, 2.0, 0.5)
    session.add_point(90.0, 1.5, 2.5, 0.5)                  # a resync of 10 ms
    assert list(session._samples.columns()[0]) == [100.0, 100.0]


def test_a_pad_that_stops_sending_mid_stroke_times_out(writer_pens):
    v = _verifier(writer_pens)
    query = writer_pens[0][5]
    results = []
    session = Session(v, "w5", device=query.device, inactivity_timeout_ms=3000, on_result=results.append)
    for t, x, y, p, down in stream_points(query):
        if down:                                            # the pen-up samples never arrive
            session.add_point(t, x, y, p, down)
    assert session.state == "writing"
    assert session.poll(query.t[-1] + 2000) is None
    result = session.poll(query.t[-1] + 60000)
    assert result is not None and session.state == "done" and results == [result]


def test_unknown_user_is_refused_when_the_session_is_created(writer_pens):
    from edgesig import UnknownUserError
    with pytest.raises(UnknownUserError, match="not enrolled"):
        Session(_verifier(writer_pens), "nobody")


def test_on_result_is_not_called_when_the_caller_ends_the_session(writer_pens):
    v = _verifier(writer_pens)
    results = []
    session = Session(v, "w5", on_result=results.append)
    for point in stream_points(writer_pens[0][5]):
        session.add_point(*point)
    assert session.done() is not None and results == []


def test_a_user_enrolled_from_a_pad_without_pressure_can_sign_in_a_session(writer_pens):
    """verify_stroke takes such a user to the pressure-free variant; Session refused them
    at creation with UnknownUserError ('not enrolled for engine dtw')."""
    genuine, _ = writer_pens
    v = Verifier("dtw")
    v.enroll("finger", [p.without_pressure() for p in genuine[:5]])
    session = Session(v, "finger")
    for t, x, y, p, down in stream_points(genuine[5].without_pressure()):
        session.add_point(t, x, y, p, down)
    result = session.done()
    assert result.accepted and result.engine == "dtw-nopressure"


def _tap(session, t0=0.0):
    """A stray touch: three samples down, one up."""
    for i in range(3):
        session.add_point(t0 + 10.0 * i, 100.0 + i, 100.0, 0.5)
    session.add_point(t0 + 30.0, 103.0, 100.0, 0.0)


def test_a_stray_touch_before_the_signature_does_not_lock_the_session(writer_pens):
    """A tap, a pause past the pen-up timeout, then the signature: the tap cannot be
    verified, and every later sample raised the same PenStreamError, so the signature
    was lost and the session never recovered."""
    v = _verifier(writer_pens)
    query = writer_pens[0][5]
    session = Session(v, "w5", pen_up_timeout_ms=500)
    _tap(session)
    points = list(stream_points(query.with_meta()))
    start = 2000.0 - points[0][0]
    with pytest.raises(PenStreamError, match="only 3 pen-down points.*sign again"):
        session.add_point(points[0][0] + start, *points[0][1:])
    assert session.state == "idle"
    for t, x, y, p, down in points[1:]:
        assert session.add_point(t + start, x, y, p, down) is None
    assert session.done().accepted


def test_a_timer_polling_after_a_stray_touch_raises_once(writer_pens):
    session = Session(_verifier(writer_pens), "w5", pen_up_timeout_ms=500)
    _tap(session)
    with pytest.raises(PenStreamError, match="sign again"):
        session.poll(5000.0)
    assert session.poll(6000.0) is None and session.state == "idle"


def test_a_pad_without_pressure_streams_to_the_pressure_free_engine(writer_pens):
    """add_point without pressure gave every sample pressure 1 (hover too) and has_pressure
    True, so a finger or mouse capture went to the pressure engine: 6 synthetic writers
    enrolled from a pen, 18 genuine signatures streamed without pressure, 0 accepted in a
    Session against 18 by verify_stroke of the same kind of capture (now 18)."""
    genuine, _ = writer_pens
    v = _verifier(writer_pens)
    session = Session(v, "w5")
    for t, x, y, _, down in stream_points(genuine[5]):
        session.add_point(t, x, y, pen_down=down)
    assert not session.pen().has_pressure
    result = session.done()
    assert result.accepted and result.engine == "dtw-nopressure"


def test_a_new_start_frame_begins_a_new_signing(writer_pens):
    """A pad that restarts mid-signing sends a new START: its samples were refused one by
    one ('time goes back ... to 0 ms') and its END verified the unfinished signing under
    the new session's nonce and counter."""
    import os

    from edgesig.capture import framing
    genuine, _ = writer_pens
    v = _verifier(writer_pens)
    nonce = os.urandom(8)
    unfinished = framing.encode_session(genuine[5], nonce=os.urandom(8), session_counter=1)[:-16]  # no END
    again = framing.encode_session(genuine[5], nonce=nonce, session_counter=2)
    session = Session(v, "w5")
    for blob in (unfinished, again):
        decoder = framing.FrameDecoder()
        decoder.feed(blob)
        result = session.add_frames(decoder.frames())
    assert result.accepted and len(session.pen()) == len(genuine[5]) and session.pen().nonce == nonce


@pytest.mark.parametrize("verifier, options, words", [
    (None, {}, "needs the edgesig.Verifier"),
    ("v", {"pen_up_timeout_ms": "1500"}, "pen_up_timeout_ms must be a positive number"),
])
def test_wrong_session_arguments_are_typed_errors(writer_pens, verifier, options, words):
    """Session(None, ...) raised AttributeError, a timeout given as text a raw TypeError."""
    with pytest.raises(InvalidInputError, match=words):
        Session(_verifier(writer_pens) if verifier == "v" else verifier, "w5", **options)


@pytest.mark.parametrize("frames", [b"\xa5\x5a\x01\x00", None, [b"\xa5"]])
def test_add_frames_refuses_what_is_not_a_decoded_frame(writer_pens, frames):
    """Raw bytes from the port went in one int at a time and were dropped without a word."""
    with pytest.raises(InvalidInputError, match="FrameDecoder first"):
        Session(_verifier(writer_pens), "w5").add_frames(frames)
