"""Streaming capture: samples in as the pad sends them, a verification out at pen-up.

A POS pad streams samples while the customer signs. ``Session`` keeps the pen state,
computes the features that are already final while the pen moves (see
:mod:`edgesig.features.streaming`), notices the end of the signature (the pen stays up
longer than ``pen_up_timeout_ms``, the pad stops sending for ``inactivity_timeout_ms``,
the pad's END frame, or an explicit :meth:`done`), and then verifies, so the customer
waits only for the last small step.

Each sample is checked as it arrives (a number, finite, pressure within
``[0, pressure_max]``, time not going back by more than a clock resync): a bad one
raises PenStreamError and is left out, and the session goes on with the next one. A
capture that ends too short to be a signature (a stray touch before the signer starts)
raises PenStreamError once, and the session starts over with the next sample.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, Iterable

import numpy as np

from edgesig.capture.framing import PenPacket, SessionEnd, SessionStart
from edgesig.errors import InvalidInputError, PenStreamError, UnknownUserError
from edgesig.features.streaming import StreamingFeatures
from edgesig.pen import MAX_CLOCK_STEP_BACK_MS, MAX_POINTS, DeviceInfo, PenStream
from edgesig.results import VerifyResult
from edgesig.store.base import check_user_id
from edgesig.verifier import Verifier


class _Samples:
    """The samples so far in one growing float64 table (columns t, x, y, p, down, tilt_x, tilt_y).

    An array rather than Python lists: at pen-up the whole table becomes a PenStream,
    and converting thousands of Python floats is the slowest step the signer waits for.
    """

    def __init__(self, capacity: int = 1024):
        self._table = np.empty((capacity, 7))
        self.n = 0

    def append(self, row: tuple[float, ...]) -> None:
        if self.n == len(self._table):
            self._table = np.concatenate([self._table, np.empty_like(self._table)])
        self._table[self.n] = row
        self.n += 1

    @property
    def last_down(self) -> bool:
        return bool(self._table[self.n - 1, 4]) if self.n else False

    def columns(self) -> tuple[np.ndarray, ...]:
        return tuple(self._table[:self.n, k] for k in range(7))


#: What to do with the bytes a framed pad sends, for the errors of Session.add_frames.
_FEED_FIRST = ("feed the bytes from the pad to edgesig.capture.framing.FrameDecoder first: "
               "decoder.feed(data); session.add_frames(decoder.frames())")


class Session:
    """One signing: feed samples (or decoded frames), get a VerifyResult at the end.

    ``on_result`` is called with the result only when the session ends by itself (pen-up
    timeout, inactivity timeout or END frame), not when the caller ends it with
    :meth:`done`, which returns the result. ``inactivity_timeout_ms`` ends a session
    whose pad stops sending mid-stroke (a lost pen-up): what was captured is verified.
    The user must be enrolled when the session is created (UnknownUserError otherwise),
    so the signer is not asked to sign for nothing. States: "idle" (nothing yet),
    "writing", "pen_up", "done".
    """

    def __init__(self, verifier, user_id: str, *, pen_up_timeout_ms: float = 1500.0,
                 inactivity_timeout_ms: float = 5000.0, device: DeviceInfo | None = None,
                 pressure_max: float = 1.0, on_result: Callable[[VerifyResult], None] | None = None):
        if not isinstance(verifier, Verifier):
            raise InvalidInputError(f"Session needs the edgesig.Verifier the user is enrolled with, "
                                    f"got {type(verifier).__name__}")
        for name, value in (("pen_up_timeout_ms", pen_up_timeout_ms), ("inactivity_timeout_ms", inactivity_timeout_ms),
                            ("pressure_max", pressure_max)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
                raise InvalidInputError(f"{name} must be a positive number, got {value!r:.40}")
        self.verifier = verifier
        self.user_id = check_user_id(user_id)
        self.pen_up_timeout_ms = float(pen_up_timeout_ms)
        self.inactivity_timeout_ms = float(inactivity_timeout_ms)
        self.device = device or DeviceInfo(name="stream")
        self._named_device = device.name if device is not None else None
        self.pressure_max = float(pressure_max)
        self.on_result = on_result
        self.engine = verifier.engine(verifier.engine_name)
        # UnknownUserError now, not at the end; a user enrolled only from pads without
        # pressure has only the pressure-free variant's template, which verify_stroke uses
        if not set(verifier.pen_engines()) & set(verifier.store.engines(self.user_id)):
            raise UnknownUserError.not_enrolled(self.user_id, self.engine.name)
        self._nonce: bytes | None = None
        self._sequence: int | None = None
        self.result: VerifyResult | None = None
        self._start_over()

    def _start_over(self) -> None:
        """Forget the samples so far (not the pad's nonce and counter): idle again."""
        config = getattr(self.engine, "features", None)
        self._features = StreamingFeatures(config) if config is not None else None
        self._samples = _Samples()
        self._last_down_t: float | None = None
        self._last_t: float | None = None
        self._has_pressure = False

    @property
    def state(self) -> str:
        if self.result is not None:
            return "done"
        if not self._samples.n:
            return "idle"
        return "writing" if self._samples.last_down else "pen_up"

    def add_point(self, t_ms: float, x: float, y: float, pressure: float | None = None,
                  pen_down: bool | None = None, tilt_x: float = 0.0, tilt_y: float = 0.0) -> VerifyResult | None:
        """Add one sample; returns the result if this sample shows the signature had ended.

        ``pressure`` None is a pad without pressure (a finger, a mouse): full scale while down, and
        the stream has no pressure (``has_pressure`` False), so it is verified by the
        pressure-free engine rather than on a constant pressure channel.

        A bad sample raises PenStreamError and is not added; the session stays usable.
        A small step back in time (a clock resync, up to MAX_CLOCK_STEP_BACK_MS) is held
        at the last time, as :class:`~edgesig.pen.PenStream` repairs it.
        """
        if self.result is not None:
            raise InvalidInputError("this session has ended; start a new Session for the next signature")
        given = pressure is not None
        row = self._checked(t_ms, x, y, pressure if given else self.pressure_max, tilt_x, tilt_y)
        t_ms, x, y, pressure = row[:4]
        down = pressure > 0 if pen_down is None else bool(pen_down)
        if self._timed_out(t_ms):
            return self._finish(by_itself=True)
        if self._samples.n >= MAX_POINTS:
            raise PenStreamError(f"more than {MAX_POINTS} samples in one signature; call done() or cancel")
        self._samples.append((t_ms, x, y, pressure, down, *row[4:]))
        self._has_pressure |= given
        self._last_t = t_ms
        if down:
            self._last_down_t = t_ms
        if self._features is not None:
            self._features.push(x, y, down)
        return None

    def _checked(self, *values: object) -> tuple[float, ...]:
        """(t, x, y, pressure, tilt_x, tilt_y) as floats, or PenStreamError naming what is wrong."""
        n = self._samples.n
        try:
            row = tuple(map(float, values))
        except (TypeError, ValueError):
            raise PenStreamError(f"sample {n}: t, x, y, pressure and tilt must be numbers, got "
                                 f"{values!r:.200}") from None
        if not all(map(math.isfinite, row)):
            raise PenStreamError(f"sample {n} contains NaN or infinity {row!r:.200}; it was left out, send the next")
        if not 0.0 <= row[3] <= self.pressure_max:
            raise PenStreamError(f"sample {n}: pressure {row[3]:g} is outside [0, {self.pressure_max:g}]; it was "
                                 "left out (pass the pad's full-scale value as pressure_max)")
        if self._last_t is not None and row[0] < self._last_t:
            if row[0] < self._last_t - MAX_CLOCK_STEP_BACK_MS:
                raise PenStreamError(f"sample {n}: time goes back from {self._last_t:g} to {row[0]:g} ms; it was "
                                     "left out (send samples in order)")
            row = (self._last_t, *row[1:])
        return row

    def add_frames(self, frames: Iterable[SessionStart | PenPacket | SessionEnd]) -> VerifyResult | None:
        """Consume decoded frames from :class:`edgesig.capture.framing.FrameDecoder`; each
        START begins a new signing (the samples of one left without its END are dropped).
        Anything else is refused: raw bytes from the port were taken one int at a time and
        dropped without a word."""
        if isinstance(frames, (bytes, bytearray, memoryview, str)) or not isinstance(frames, Iterable):
            raise InvalidInputError(f"add_frames takes decoded frames, got {type(frames).__name__}; " + _FEED_FIRST)
        for frame in frames:
            if isinstance(frame, SessionStart):
                # a new signing: what an unfinished one left (a pad restarted mid-signing) is no part of it
                self._start_over()
                # the counter is per pad: kept under the pad id, or the device this Session was given
                name, self._sequence = frame.freshness(self._named_device)
                self._nonce = frame.nonce
                self.pressure_max = float(frame.pressure_max)
                self.device = DeviceInfo(name=name, units_per_mm=frame.units_per_mm,
                                         sample_rate_hz=self.device.sample_rate_hz,
                                         timing_jitter=self.device.timing_jitter)
            elif isinstance(frame, PenPacket):
                result = self.add_point(frame.t_ms, frame.x, frame.y, frame.pressure, frame.tip,
                                        frame.tilt_x, frame.tilt_y)
                if result is not None:
                    return result
            elif isinstance(frame, SessionEnd):
                return self._finish(by_itself=True)
            else:
                raise InvalidInputError(f"add_frames takes decoded frames, got a {type(frame).__name__} among "
                                        "them; " + _FEED_FIRST)
        return None

    def poll(self, now_ms: float) -> VerifyResult | None:
        """Call from a timer with the device clock: ends the session after the pen-up or
        the inactivity timeout."""
        return self._finish(by_itself=True) if self.result is None and self._timed_out(now_ms) else None

    def done(self) -> VerifyResult:
        """The signer pressed OK: verify what was captured (``on_result`` is not called)."""
        return self.result if self.result is not None else self._finish(by_itself=False)

    def _timed_out(self, now_ms: float) -> bool:
        if self._last_t is None:
            return False
        if now_ms - self._last_t > self.inactivity_timeout_ms:
            return True
        return (self._last_down_t is not None and self.state == "pen_up"
                and now_ms - self._last_down_t > self.pen_up_timeout_ms)

    def pen(self) -> PenStream:
        """The samples so far as a validated PenStream."""
        t, x, y, p, down, tilt_x, tilt_y = self._samples.columns()
        pen = PenStream.from_arrays(x, y, t, p, down, tilt_x=tilt_x, tilt_y=tilt_y,
                                    pressure_max=self.pressure_max, device=self.device,
                                    sequence=self._sequence, nonce=self._nonce)
        return pen if self._has_pressure else pen.without_pressure()

    def _finish(self, by_itself: bool) -> VerifyResult:
        try:
            pen = self.pen()
        except PenStreamError as exc:  # a stray touch: kept, it would fail again at every later sample
            self._start_over()
            raise PenStreamError(f"{exc}; the session started over: sign again") from None
        prepared = None
        if self._features is not None and hasattr(self.engine, "from_features"):
            prepared = self.engine.from_features(self._features.finish(pen), pen)
        self.result = self.verifier.verify_stroke(self.user_id, pen, prepared=prepared)
        if by_itself and self.on_result is not None:
            self.on_result(self.result)
        return self.result


def stream_points(pen: PenStream) -> Iterable[tuple[float, float, float, float, bool]]:
    """(t, x, y, pressure, pen_down) tuples of a recorded stream, to replay it into a Session."""
    return zip(pen.t.tolist(), pen.x.tolist(), pen.y.tolist(), pen.pressure.tolist(),
               pen.pen_down.tolist())


__all__ = ["Session", "stream_points"]
