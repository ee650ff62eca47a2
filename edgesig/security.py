"""Replay and injection defences for online verification.

A stolen signature file or a sniffed USB capture can be fed back to the verifier
byte for byte, or replayed by a script that moves the cursor. Three cheap checks run
before (or beside) the engine's decision; each returns short reasons that end up in
``VerifyResult.reasons``:

* :func:`near_duplicate` on :func:`fingerprint` descriptors: a real hand never signs
  twice the same, so a stream (nearly) identical to an enrolled reference or to a
  recently accepted signature is a copy. The tolerance was measured on SVC2004 (40
  writers, 20 genuine signatures each, 7600 pairs): the closest two distinct genuine
  signatures of any writer are 0.0574 apart (median 0.21), while copies of all 800 with
  0.1 mm Gaussian noise, a random shift of up to 5 mm and a scale change of up to 10 %
  are at most 0.0139 from their original. ``DUPLICATE_TOL`` = 0.025 sits between, about
  a factor of two from each side.
* :func:`timing_anomalies`: motion and clocks that no hand and no pad produce: constant
  speed over the whole signature, perfectly regular timestamps from a device whose clock
  is known to jitter, impossible pen speeds, far more samples per second than the device
  delivers (coarse or synthesised timestamps). On SVC2004 (1600 files, genuine and
  skilled forgeries) the speed variation is at least 0.35 (limit 0.10), the fastest
  20 ms window moves 15.6 signature diagonals per second (limit 100), and the mean
  sample rate is at most 1.008x the nominal one (limit 3x). The jitter rule is only as
  good as the device's ``timing_jitter`` claim: the SVC2004 pad stamps every pen-down
  sample exactly 10 ms apart in 672 of its 1600 files, so it must not claim jitter.
* :class:`ReplayGuard`: per-device sequence numbers and nonces that the pad puts in each
  capture, so an old capture cannot be submitted again, plus the fingerprints of
  recently accepted signatures per user. (Authenticating the pad itself, e.g. a MAC
  over each capture, is the capture driver's job; this only enforces freshness.)
"""
from __future__ import annotations

import threading
from collections import OrderedDict, deque
from typing import Any, Sequence

import numpy as np

from edgesig.errors import InvalidInputError
from edgesig.pen import PenStream

#: Points per channel in a fingerprint; a fingerprint is (x, y, pressure) x 32, float32.
FP_POINTS = 32
#: RMS fingerprint distance below which two streams are copies (calibration above).
DUPLICATE_TOL = 0.025
#: Speed variation (std / mean of windowed speed) below which the motion is machine-like.
MIN_SPEED_VARIATION = 0.10
#: Fastest physically plausible pen tip, when the device knows its resolution.
MAX_SPEED_MM_S = 10_000.0
#: Fastest plausible motion in signature diagonals per second, when it does not.
MAX_SPEED_DIAGONALS_S = 100.0
#: Window over which speeds are measured, so one bursty sample does not look like a jump.
SPEED_WINDOW_MS = 20.0
#: Mean sample rate above this multiple of the device's nominal rate means synthesised
#: or coarse timestamps; without a nominal rate, above MAX_RATE_HZ.
MAX_RATE_FACTOR = 3.0
MAX_RATE_HZ = 2000.0
#: Intervals closer than this (ms) count as identical when looking for missing jitter.
JITTER_EPS_MS = 1e-3
#: Fewest regular intervals before "no jitter" means anything.
MIN_INTERVALS_FOR_JITTER = 20


def fingerprint(pen: PenStream) -> np.ndarray:
    """A compact (96,) float32 descriptor of a stream, for spotting copies.

    The span from the first to the last pen-down sample is resampled uniformly in time
    to FP_POINTS points; x and y are centred and divided by their RMS radius (so a
    shifted or scaled copy maps to the same numbers), pressure stays in [0, 1].
    Layout: x[0:32], y[32:64], pressure[64:96].
    """
    if not isinstance(pen, PenStream):
        raise InvalidInputError(f"fingerprint needs a PenStream, got {type(pen).__name__}")
    down = np.flatnonzero(pen.pen_down)
    lo, hi = (down[0], down[-1] + 1) if down.size >= 2 else (0, len(pen))
    t = pen.t[lo:hi]
    span = float(t[-1] - t[0]) if t.size > 1 else 0.0
    u = (t - t[0]) / span if span > 0 else np.linspace(0.0, 1.0, t.size)
    grid = np.linspace(0.0, 1.0, FP_POINTS)
    x = np.interp(grid, u, pen.x[lo:hi])
    y = np.interp(grid, u, pen.y[lo:hi])
    p = np.interp(grid, u, pen.pressure[lo:hi])
    magnitude = max(float(np.abs(x).max()), float(np.abs(y).max())) or 1.0
    x, y = x / magnitude, y / magnitude  # no overflow below, whatever the device units
    x, y = x - x.mean(), y - y.mean()
    radius = float(np.sqrt(np.mean(x * x + y * y)))
    scale = radius if radius > 0 else 1.0
    return np.concatenate([x / scale, y / scale, p]).astype(np.float32)


def fingerprint_distances(query_fp: Any, fingerprints: Sequence[Any]) -> np.ndarray:
    """RMS distance from ``query_fp`` to each fingerprint (lists from JSON meta are fine)."""
    query = _as_fingerprint(query_fp, "query fingerprint")
    if len(fingerprints) == 0:
        return np.zeros(0)
    table = np.stack([_as_fingerprint(f, f"fingerprint {i}") for i, f in enumerate(fingerprints)])
    return np.sqrt(np.mean((table - query) ** 2, axis=1))


def near_duplicate(query_fp: Any, fingerprints: Sequence[Any], tol: float = DUPLICATE_TOL) -> int | None:
    """Index of the closest fingerprint within ``tol`` of ``query_fp``, or None."""
    dists = fingerprint_distances(query_fp, fingerprints)
    if dists.size == 0:
        return None
    best = int(np.argmin(dists))
    return best if dists[best] <= tol else None


def timing_anomalies(pen: PenStream) -> list[str]:
    """Reasons why the stream's timing or motion is physically implausible (empty = fine)."""
    if not isinstance(pen, PenStream):
        raise InvalidInputError(f"timing_anomalies needs a PenStream, got {type(pen).__name__}")
    with np.errstate(all="ignore"):  # absurd coordinates overflow to inf, which the limits catch
        return _rate_anomaly(pen) + _jitter_anomaly(pen) + _motion_anomalies(pen)


class ReplayGuard:
    """Remembers what was already presented, so a capture works once.

    Per device name: the last sequence number and the recent nonces (an LRU of
    ``max_nonces``); per user: fingerprints of the last ``recent_per_user`` accepted
    signatures (for ``max_users`` users, least recently seen forgotten first).
    Thread-safe; state lives in memory only.
    """

    def __init__(self, *, max_nonces: int = 10_000, max_users: int = 10_000, recent_per_user: int = 8,
                 max_devices: int = 1024, tol: float = DUPLICATE_TOL):
        self.tol = tol
        self._max_nonces, self._max_users, self._max_devices = max_nonces, max_users, max_devices
        self._recent_per_user = recent_per_user
        self._nonces: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        self._sequences: OrderedDict[str, int] = OrderedDict()
        self._recent: OrderedDict[str, deque[np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, user_id: str, pen: PenStream, reference_fingerprints: Sequence[Any] = ()) -> list[str]:
        """Reasons to refuse ``pen`` as a replay (empty = none).

        Consumes the stream's nonce and sequence number: presenting the same capture a
        second time fails even if the first attempt was rejected for another reason.
        ``reference_fingerprints`` are the enrolled references' fingerprints.
        """
        if not isinstance(pen, PenStream):
            raise InvalidInputError(f"ReplayGuard.check needs a PenStream, got {type(pen).__name__}")
        query = fingerprint(pen)
        with self._lock:
            reasons = self._consume_nonce(pen) + self._consume_sequence(pen)
            recent = list(self._recent.get(user_id, ()))
        ref = near_duplicate(query, reference_fingerprints, self.tol)
        if ref is not None:
            reasons.append(f"near-duplicate of reference {ref}: a copy, not a new signature")
        elif near_duplicate(query, recent, self.tol) is not None:
            reasons.append("near-duplicate of a recently accepted signature: a replayed copy")
        return reasons

    def remember_accepted(self, user_id: str, pen: PenStream) -> None:
        """Keep the fingerprint of an accepted signature to catch its replay later."""
        query = fingerprint(pen)
        with self._lock:
            recent = self._recent.pop(user_id, None) or deque(maxlen=self._recent_per_user)
            recent.append(query)
            self._recent[user_id] = recent
            while len(self._recent) > self._max_users:
                self._recent.popitem(last=False)

    def _consume_nonce(self, pen: PenStream) -> list[str]:
        if pen.nonce is None:
            return []
        key = (pen.device.name, pen.nonce)
        if key in self._nonces:
            self._nonces.move_to_end(key)
            return ["replayed capture: this nonce was already presented"]
        self._nonces[key] = None
        while len(self._nonces) > self._max_nonces:
            self._nonces.popitem(last=False)
        return []

    def _consume_sequence(self, pen: PenStream) -> list[str]:
        if pen.sequence is None:
            return []
        name = pen.device.name
        last = self._sequences.get(name)
        if last is not None and pen.sequence <= last:
            return [f"sequence number {pen.sequence} not above the last one from this device ({last}): "
                    "an old capture"]
        self._sequences[name] = pen.sequence
        self._sequences.move_to_end(name)
        while len(self._sequences) > self._max_devices:
            self._sequences.popitem(last=False)
        return []


def _as_fingerprint(value: Any, what: str) -> np.ndarray:
    try:
        with np.errstate(over="ignore"):
            arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} is not numeric; recompute it with fingerprint()") from None
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{what} has non-finite values; recompute it with fingerprint()")
    if arr.shape != (3 * FP_POINTS,):
        raise InvalidInputError(f"{what} has shape {arr.shape}, expected ({3 * FP_POINTS},); re-enrol so the "
                                "references get current fingerprints")
    return arr


def _rate_anomaly(pen: PenStream) -> list[str]:
    if len(pen) < 2 or pen.duration_ms <= 0:
        return []
    rate = (len(pen) - 1) / pen.duration_ms * 1000.0
    nominal = pen.device.sample_rate_hz
    limit = MAX_RATE_FACTOR * nominal if nominal else MAX_RATE_HZ
    if rate <= limit:
        return []
    return [f"{len(pen)} samples in {pen.duration_ms:.0f} ms ({rate:.0f} Hz, above the {limit:.0f} Hz "
            "limit for this device): timestamps look synthesised"]


def _jitter_anomaly(pen: PenStream) -> list[str]:
    if pen.device.timing_jitter is not True:
        return []
    steps = np.diff(pen.t)
    if steps.size == 0:
        return []
    regular = steps[steps <= 1.5 * float(np.median(steps))]  # leave out pen-up gaps
    if regular.size < MIN_INTERVALS_FOR_JITTER or float(np.ptp(regular)) > JITTER_EPS_MS:
        return []
    return [f"perfectly regular sampling ({float(np.median(regular)):g} ms, no jitter) from a device "
            "whose clock jitters: looks resampled or injected"]


def _motion_anomalies(pen: PenStream) -> list[str]:
    down = pen.pen_down
    xy = np.stack([pen.x[down], pen.y[down]], axis=1)
    diagonal = float(np.hypot(*(xy.max(axis=0) - xy.min(axis=0))))
    if diagonal == 0:
        return ["the pen never moves while touching: not a signature"]
    speed = _windowed_speeds(pen)
    if speed.size < 10:
        return []
    reasons = []
    mean = float(speed.mean())
    if mean > 0 and float(speed.std()) / mean < MIN_SPEED_VARIATION:
        reasons.append(f"constant pen speed (variation {float(speed.std()) / mean:.0%}): a hand speeds up and "
                       "slows down, this looks machine-drawn")
    peak = float(speed.max())
    upmm = pen.device.units_per_mm
    if upmm:
        if peak / upmm > MAX_SPEED_MM_S:
            reasons.append(f"pen speed {peak / upmm / 1000:.1f} m/s is beyond any hand "
                           f"(limit {MAX_SPEED_MM_S / 1000:g} m/s)")
    elif peak / diagonal > MAX_SPEED_DIAGONALS_S:
        reasons.append(f"pen crosses the signature {peak / diagonal:.0f} times per second "
                       f"(limit {MAX_SPEED_DIAGONALS_S:g}): impossible speed")
    return reasons


def _windowed_speeds(pen: PenStream) -> np.ndarray:
    """Path speeds (units/s) over windows inside pen-down strokes.

    A window spans at least SPEED_WINDOW_MS (two sampling steps when the stream samples
    faster), so a bursty pad's 1 ms packets do not read as jumps; the distance is the
    path length, not the chord, so a constant-speed redraw reads as constant on curves.
    """
    down = pen.pen_down
    steps = np.diff(pen.t)
    positive = steps[steps > 0]
    window = min(SPEED_WINDOW_MS, 2.0 * float(np.median(positive))) if positive.size else SPEED_WINDOW_MS
    starts = down & ~np.r_[False, down[:-1]]
    stroke = np.where(down, np.cumsum(starts), -1)
    path = np.r_[0.0, np.cumsum(np.hypot(np.diff(pen.x), np.diff(pen.y)))]
    first = np.flatnonzero(down)
    last = np.searchsorted(pen.t, pen.t[first] + window)
    keep = last < len(pen)
    first, last = first[keep], last[keep]
    same = stroke[first] == stroke[last]
    first, last = first[same], last[same]
    return (path[last] - path[first]) / (pen.t[last] - pen.t[first]) * 1000.0
