"""Replay and injection defences for online verification.

A stolen signature file or a sniffed USB capture can be fed back to the verifier
byte for byte, or replayed by a script that moves the cursor. Three cheap checks run
before (or beside) the engine's decision; each returns short reasons that end up in
``VerifyResult.reasons``:

* :func:`near_duplicate` on :func:`fingerprint` descriptors: a real hand never signs
  twice the same, so a stream (nearly) identical to an enrolled reference or to a
  recently accepted signature is a copy. A copy may be retimed, moved, scaled, turned,
  smoothly warped, given new pressure or re-sampled, so a fingerprint holds two views
  that ignore time and pressure: the *path* (the pen-down trace resampled evenly along
  its length, centred and scaled to unit RMS radius; compared after the best rotation
  up to ``MAX_ROTATION``), and the *steps* (the pen-down sample count and the moves
  between consecutive samples at ``FP_STEPS`` evenly spaced sample indices). An edit that
  keeps the captured samples maps each step by the local Jacobian of the edit, which a
  similarity per stretch of the signature fits to within a few per cent; a hand signing
  again lands its samples elsewhere. A third view, the stream resampled evenly in *time*
  (x, y at unit RMS radius, pressure), catches copies with added noise or re-sampled onto
  another clock but not retimed. A stream is a copy when its path is within ``PATH_TOL``
  of a fingerprint's, its time view within ``TIME_TOL``, or it has the same sample count
  and its steps are within ``STEP_TOL``. Calibration and measured rates:
  ``benchmarks/replay_rates.py``, figures in ``benchmarks/RESULTS.md``.
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
  recently accepted signatures per user (optionally kept in the template store, so a
  restart does not forget them). (Authenticating the pad itself, e.g. a MAC
  over each capture, is the capture driver's job; this only enforces freshness.)

The checks run on every verification, so their per-sample work, and the comparison of a
fingerprint with the references', is done by numba kernels (about a tenth of the time
the numpy expressions took). They use numpy's np.interp and sums, and agree with plain
numpy references to rounding (tests/security/test_security_kernels.py). They use numpy's
error model: absurd coordinates overflow to inf or NaN silently, as
under ``np.errstate(all="ignore")``, and the limits catch the infinities.
"""
from __future__ import annotations

import math
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, Sequence

import numba as nb
import numpy as np

from edgesig.errors import EdgesigError, InvalidInputError, UnknownUserError, prefixed
from edgesig.features.kinematics import path_length, stroke_ids
from edgesig.pen import DeviceInfo, PenStream
from edgesig.store.base import Template, TemplateStore, locked

#: Points of the arc-length path in a fingerprint.
FP_PATH_POINTS = 32
#: Sample steps kept in a fingerprint, at evenly spaced sample indices.
FP_STEPS = 128
#: Points per channel of the time view (the stream resampled evenly in time).
FP_TIME_POINTS = 32
#: Layout of a fingerprint (float32): [pen-down sample count, path x, path y, step x,
#: step y, time x, time y, time pressure].
FP_SIZE = 1 + 2 * FP_PATH_POINTS + 2 * FP_STEPS + 3 * FP_TIME_POINTS
#: RMS path distance (unit RMS radius) at or below which two streams are copies.
PATH_TOL = 0.025
#: RMS distance of the time views at or below which two streams are copies.
TIME_TOL = 0.025
#: Relative step residual at or below which two streams with the same sample count are copies.
STEP_TOL = 0.12
#: Largest rotation (radians) the path comparison undoes: a turned pad or a doctored copy,
#: not a different signature.
MAX_ROTATION = 0.2
#: Stretches of the signature that each get their own similarity in the step comparison,
#: so a smooth warp (a similarity that drifts along the signature) still fits.
STEP_PIECES = 4
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

#: The store record (engine name) that holds a user's recently accepted fingerprints.
REPLAY_RECORD = "replay-memory"
#: Its model version: the fingerprint layout, so a record of another layout is ignored.
_REPLAY_VERSION = f"fingerprint-{FP_SIZE}"

#: A table of no fingerprints, for users and templates that have none.
_NO_FINGERPRINTS = np.empty((0, FP_SIZE), dtype=np.float32)
_NO_FINGERPRINTS.setflags(write=False)


def fingerprint(pen: PenStream) -> np.ndarray:
    """A compact (FP_SIZE,) float32 descriptor of a stream's pen-down trace, for spotting copies.

    The path and step views leave time and pressure out on purpose: a replay is most
    cheaply disguised by retiming it or changing its pressure. See the module docstring.
    """
    if not isinstance(pen, PenStream):
        raise InvalidInputError(f"fingerprint needs a PenStream, got {type(pen).__name__}")
    return _fingerprint(pen.t, pen.x, pen.y, pen.pressure, pen.pen_down, FP_PATH_POINTS, FP_STEPS, _TIME_GRID)


def fingerprint_distances(query_fp: Any, fingerprints: Sequence[Any]) -> np.ndarray:
    """How close ``query_fp`` is to each fingerprint, in units of the copy tolerance.

    The smallest of the path distance over ``PATH_TOL``, the time-view distance over
    ``TIME_TOL`` and, for the same sample count, the step residual over ``STEP_TOL``:
    1 or less means a copy. Lists from JSON meta are fine.
    """
    query = _as_fingerprint(query_fp, "query fingerprint")
    if len(fingerprints) == 0:
        return np.zeros(0)
    return _distances(query, _as_fingerprint_table(fingerprints))


def near_duplicate(query_fp: Any, fingerprints: Sequence[Any], tol: float = 1.0) -> int | None:
    """Index of the closest fingerprint within ``tol`` (in tolerance units) of ``query_fp``, or None."""
    query = _as_fingerprint(query_fp, "query fingerprint")
    return _closest(query, _as_fingerprint_table(fingerprints), tol)


def timing_anomalies(pen: PenStream) -> list[str]:
    """Reasons why the stream's timing or motion is physically implausible (empty = fine)."""
    if not isinstance(pen, PenStream):
        raise InvalidInputError(f"timing_anomalies needs a PenStream, got {type(pen).__name__}")
    # absurd values overflow to inf, which the limits catch: silently in the kernels (numpy's
    # error model) and here, where numpy scalars take a time span beyond the float range
    with np.errstate(all="ignore"):
        return _rate_anomaly(pen) + _jitter_anomaly(pen) + _motion_anomalies(pen)


class ReplayGuard:
    """Remembers what was already presented, so a capture works once.

    Per device name (a framed pad's is its pad id): the last sequence number and the
    recent nonces (an LRU of ``max_nonces``); per user: fingerprints of the last
    ``recent_per_user`` accepted signatures (for ``max_users`` users, least recently seen
    forgotten first). A sequence number more than ``max_sequence_jump`` above the last
    one is refused without being recorded, so one forged capture with a huge counter
    cannot lock the pad out. Thread-safe. With ``store`` the accepted fingerprints are
    also kept there (one ``REPLAY_RECORD`` per user, encrypted like the templates in an
    EncryptedStore), so a restart does not forget them; nonces and counters stay in memory.
    Only for users with a template in the store: the record goes with them when they are
    deleted, and a write still in flight does not bring it back.

    A store write is a durable commit (two fsyncs on an EncryptedStore: an accepted
    verification took 6-19 ms instead of 2-3, ``python -m tests.store.bench_store``), which
    ``write_behind`` takes off the verification: a background thread writes the queued
    records every ``WRITE_BEHIND_S`` (50 ms), several users' in one transaction. A process
    killed before that loses those records; a service calls :meth:`flush`
    before it closes the store (``edgesig serve`` does at shutdown). A failed background
    write is kept to write again and raised by the next :meth:`remember_accepted`.
    """

    def __init__(self, *, max_nonces: int = 10_000, max_users: int = 10_000, recent_per_user: int = 8,
                 max_devices: int = 1024, tol: float = 1.0, max_sequence_jump: int = 1000,
                 store: TemplateStore | None = None, write_behind: bool = False):
        self.tol = tol
        self._store: TemplateStore | weakref.ref | None = store
        self.write_behind = write_behind
        self._max_nonces, self._max_users, self._max_devices = max_nonces, max_users, max_devices
        self._recent_per_user = recent_per_user
        self._max_jump = max_sequence_jump
        self._nonces: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        self._sequences: OrderedDict[str, int] = OrderedDict()
        #: per user, a (k, FP_SIZE) float32 table, replaced (never changed in place) on each update
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        #: write_behind: per user, the accepted fingerprints not yet written to the store, and the writer
        self._pending: dict[str, np.ndarray] = {}
        self._writing: dict[str, np.ndarray] = {}  # the batch a flush is writing, until it is in the store
        self._writer: threading.Thread | None = None
        self._write_error: Exception | None = None
        self._write_lock = threading.Lock()  # one store write at a time; forget() waits for it
        #: the user and replay record the last check read from the store
        self._last_read: tuple[str | None, np.ndarray] = (None, _NO_FINGERPRINTS)
        #: forget() calls so far, the last ``max_users`` users forgotten with the count then,
        #: and the highest count among those pushed out (see :meth:`generation`)
        self._forgets = 0
        self._forgotten: OrderedDict[str, int] = OrderedDict()
        self._forgotten_before = 0

    @property
    def store(self) -> TemplateStore | None:
        """Where accepted fingerprints are kept (None: memory only). A :func:`shared_guard`
        refers to its store weakly: its table entry is keyed by the store, which a strong
        reference here would keep alive, and the guard and its writer thread with it."""
        store = self._store
        return store() if isinstance(store, weakref.ref) else store

    @store.setter
    def store(self, store: TemplateStore | None) -> None:
        self._store = store

    def check(self, user_id: str, pen: PenStream, reference_fingerprints: Sequence[Any] = (), *,
              query_fp: np.ndarray | None = None, advance: bool = True) -> list[str]:
        """Reasons to refuse ``pen`` as a replay (empty = none).

        Consumes the stream's nonce: presenting the same capture a second time fails even
        if the first attempt was rejected for another reason. The sequence number is
        checked, and recorded when nothing here objects and ``advance`` is on; a caller
        with more checks to run passes ``advance=False`` and calls :meth:`advance` once
        the capture passed them all, so a rejected capture never moves the pad's counter.
        ``reference_fingerprints`` are the enrolled references' fingerprints (JSON lists
        or a (k, FP_SIZE) float32 array). ``query_fp`` is ``fingerprint(pen)`` when the
        caller already has it, so a verification computes it once for this check and for
        :meth:`remember_accepted`.
        """
        if not isinstance(pen, PenStream):
            raise InvalidInputError(f"ReplayGuard.check needs a PenStream, got {type(pen).__name__}")
        query = fingerprint(pen) if query_fp is None else _as_fingerprint(query_fp, "query fingerprint")
        with self._lock:
            reasons = self._consume_nonce(pen) + self._sequence_reasons(pen)
            recent = self._recent_of(user_id)
        ref = _closest(query, _as_fingerprint_table(reference_fingerprints), self.tol)
        if ref is not None:
            reasons.append(f"near-duplicate of reference {ref}: a copy, not a new signature")
        elif _closest(query, recent, self.tol) is not None:
            reasons.append("near-duplicate of a recently accepted signature: a replayed copy")
        if not reasons and advance:
            reasons = self.advance(pen)
        return reasons

    def advance(self, pen: PenStream) -> list[str]:
        """Record the stream's sequence number as its device's last; the reason it cannot
        be (another capture with this number or a later one got there first), if any."""
        if pen.sequence is None:
            return []
        with self._lock:
            reasons = self._sequence_reasons(pen)
            if not reasons:
                self._sequences[pen.device.name] = pen.sequence
                self._sequences.move_to_end(pen.device.name)
                while len(self._sequences) > self._max_devices:
                    self._sequences.popitem(last=False)
        return reasons

    def reset_device(self, device_name: str) -> bool:
        """Forget the last sequence number of ``device_name`` (a pad whose counter restarted
        after a firmware update or power loss is refused until then); its nonces stay
        remembered. True if it had one."""
        with self._lock:
            return self._sequences.pop(device_name, None) is not None

    def generation(self) -> int:
        """A token a verification takes before it reads the user's template, and gives
        :meth:`remember_accepted`: a user :meth:`forget` dropped since (deleted while their
        verification ran) then gets nothing back in memory. The store's check (a user with
        no template gets no record) cannot cover a guard without a store."""
        with self._lock:
            return self._forgets

    def remember_accepted(self, user_id: str, pen: PenStream, *, query_fp: np.ndarray | None = None,
                          generation: int | None = None) -> None:
        """Keep the fingerprint of an accepted signature to catch its replay later.

        ``query_fp`` is ``fingerprint(pen)`` when the caller already has it (see :meth:`check`);
        ``generation`` is :meth:`generation` as the verification began.
        """
        query = fingerprint(pen) if query_fp is None else _as_fingerprint(query_fp, "query fingerprint")
        if self.store is not None and not self.write_behind:
            with self._write_lock:  # forget() waits for this write: none lands after a delete
                if self._remember(user_id, query, generation)[0]:
                    self._persist({user_id: query[None]})
            return
        _, error = self._remember(user_id, query, generation)
        if error is not None:
            raise prefixed(error, "an earlier accepted signature's replay memory could not be written to the "
                                  "store, and is kept to write again") if isinstance(error, EdgesigError) else error

    def _remember(self, user_id: str, query: np.ndarray, generation: int | None) -> tuple[bool, Exception | None]:
        """Add ``query`` to the user's table in memory and, write-behind, to the rows still
        to write (starting the writer), unless the user was forgotten since ``generation``;
        whether it was kept, and a failed background write's error, to raise."""
        with self._lock:
            if generation is not None and self._forgotten_since(user_id, generation):
                return False, None
            recent = np.vstack([self._recent_of(user_id, reuse=True), query])
            self._recent.pop(user_id, None)
            self._recent[user_id] = recent[max(0, len(recent) - self._recent_per_user):]
            while len(self._recent) > self._max_users:
                self._recent.popitem(last=False)
            if self.store is None or not self.write_behind:
                return True, None
            self._pending[user_id] = _merged(self._pending.get(user_id, _NO_FINGERPRINTS), query[None],
                                             self._recent_per_user)
            error, self._write_error = self._write_error, None
            if self._writer is None:  # one for the guard's life: starting a thread waits for it to run
                self._writer = threading.Thread(target=_write_behind, args=(weakref.ref(self),),
                                                name="edgesig-replay-writer", daemon=True)
                self._writer.start()
        return True, error

    def _persist(self, added: dict[str, np.ndarray]) -> None:
        """Add each user's new fingerprints to their replay record in the store, read again
        under the store's exclusive lock: what another process (a second server, `edgesig
        verify`) added since this guard last read it is kept, not overwritten. A user with
        no template left (deleted since the signature was accepted, here or by another
        process) gets none, and is dropped from memory: the delete brought them back."""
        store = self.store
        with locked(store):
            gone = {user for user in added if not _enrolled(store, user)}
            records = [_replay_record(user, _merged(self._stored(user), rows, self._recent_per_user))
                       for user, rows in added.items() if user not in gone]
            if records:
                store.put_many(records)
        if gone:
            with self._lock:
                for user in gone:
                    self._recent.pop(user, None)

    def flush(self) -> None:
        """Write the replay memory that ``write_behind`` still holds to the store now: at
        shutdown, before the store is closed. The store's error, if it fails (the records
        are kept to write again)."""
        with self._write_lock:
            with self._lock:  # in one step: a check in between sees the batch in one or the other
                batch, self._pending = self._pending, {}
                self._writing = batch if self.store is not None else {}
            if not self._writing:
                return
            try:
                self._persist(batch)
            except BaseException:
                with self._lock:  # kept, before the rows queued meanwhile
                    for user, rows in batch.items():
                        self._pending[user] = _merged(rows, self._pending.get(user, _NO_FINGERPRINTS),
                                                      self._recent_per_user)
                    self._writing = {}
                raise
            with self._lock:  # what an earlier failure kept is written now
                self._write_error, self._writing = None, {}

    def forget(self, user_id: str) -> None:
        """Drop the user's accepted fingerprints from memory and from the writes still to
        come (Verifier.delete): a write in flight ends first, so none lands after the
        user's records are deleted and brings a deleted user back."""
        with self._write_lock, self._lock:
            self._pending.pop(user_id, None)
            self._recent.pop(user_id, None)
            self._last_read = (None, _NO_FINGERPRINTS)
            self._forgets += 1
            self._forgotten.pop(user_id, None)
            self._forgotten[user_id] = self._forgets
            while len(self._forgotten) > self._max_users:
                self._forgotten_before = self._forgotten.popitem(last=False)[1]

    def _forgotten_since(self, user_id: str, generation: int) -> bool:
        """Whether forget() dropped the user after ``generation`` was taken; also when that
        can no longer be told (a forget since then was pushed out of the bounded record)."""
        return self._forgotten.get(user_id, 0) > generation or self._forgotten_before > generation

    def _write_queued(self) -> None:
        """The background writer's turn: flush; a failure is kept for the next
        remember_accepted to raise (the records stay queued, so its write retries them)."""
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - no caller here: handed to the next remember_accepted
            with self._lock:
                self._write_error = exc

    def _recent_of(self, user_id: str, reuse: bool = False) -> np.ndarray:
        """The user's recent fingerprints: those in memory and, when persisting, those in the
        store, read each time: another process on the same store (a second server,
        `edgesig verify`) may have accepted one since. ``reuse`` takes the record the last
        check read, if it was this user's (remember_accepted right after the check: a
        second read cost a verification 0.3 ms)."""
        recent = self._recent.get(user_id)
        if recent is None:  # forgotten from memory (max_users): the rows still to write, or being written
            recent = _merged(self._writing.get(user_id, _NO_FINGERPRINTS),
                             self._pending.get(user_id, _NO_FINGERPRINTS), self._recent_per_user)
        if self.store is not None:
            last_user, stored = self._last_read
            if not (reuse and last_user == user_id):
                stored = self._stored(user_id)
            self._last_read = (None, _NO_FINGERPRINTS) if reuse else (user_id, stored)
            recent = stored if recent is None else _merged(stored, recent, self._recent_per_user)
        return _NO_FINGERPRINTS if recent is None or recent.shape[1:] != (FP_SIZE,) else recent

    def _stored(self, user_id: str) -> np.ndarray:
        """The user's replay record in the store (none when absent or of another layout)."""
        try:
            record = self.store.get(user_id, REPLAY_RECORD)
        except UnknownUserError:
            return _NO_FINGERPRINTS
        if record.model_version != _REPLAY_VERSION or len(record.references) != 1:
            return _NO_FINGERPRINTS
        stored = np.asarray(record.references[0], dtype=np.float32)
        return stored if stored.shape[1:] == (FP_SIZE,) else _NO_FINGERPRINTS

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

    def _sequence_reasons(self, pen: PenStream) -> list[str]:
        if pen.sequence is None:
            return []
        last = self._sequences.get(pen.device.name)
        if last is None:
            return []
        if pen.sequence <= last:
            return [f"sequence number {pen.sequence} not above the last one from this device ({last}): "
                    "an old capture. If the pad's counter was reset (firmware update, power loss), check "
                    f"the pad and call replay_guard.reset_device({pen.device.name!r})"]
        if pen.sequence - last > self._max_jump:
            return [f"sequence number {pen.sequence} jumps {pen.sequence - last} past the last one from this "
                    f"device ({last}), more than {self._max_jump} signings: refused, the device's counter "
                    "is left as it was"]
        return []


_SHARED_GUARDS: "weakref.WeakKeyDictionary[Any, ReplayGuard]" = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def shared_guard(store: TemplateStore, persist: bool = False, write_behind: bool = False) -> ReplayGuard:
    """The one ReplayGuard of ``store`` (made on first use, forgotten with the store).

    Every Verifier on a store, and the one-shot ``edgesig.verify_stroke``, share it: a
    replay memory per Verifier would let a capture accepted by one be accepted again by
    another on the same templates. ``persist`` makes it keep accepted fingerprints in
    the store (from then on, for every user of the guard), ``write_behind`` in the
    background (see :class:`ReplayGuard`). A store that cannot be weakly referenced or
    hashed gets a guard of its own.
    """
    with _SHARED_LOCK:
        try:
            guard = _SHARED_GUARDS.get(store)
            if guard is None:
                guard = _SHARED_GUARDS[store] = ReplayGuard()
            kept = weakref.ref(store)  # not store: the table's entry would keep its own key alive
        except TypeError:
            guard, kept = ReplayGuard(), store
        if persist:
            guard._store = kept
        if write_behind:
            guard.write_behind = True
    return guard


#: How often the background writer of a write-behind guard looks for records to write.
#: It is not woken per record: waking it preempted the verification that queued the record
#: (Event.set took 1.5 ms median inside verify_stroke on a loaded two-core machine).
WRITE_BEHIND_S = 0.05


def _write_behind(guard_ref: "weakref.ref[ReplayGuard]") -> None:
    """A write-behind guard's writer thread: every WRITE_BEHIND_S, writes what is queued.
    It holds the guard only while looking, so a guard no longer used is collected (a
    :func:`shared_guard` with its store) and the thread ends."""
    while True:
        time.sleep(WRITE_BEHIND_S)
        guard = guard_ref()
        if guard is None:
            return
        if guard._pending:
            guard._write_queued()
        del guard


def _merged(stored: np.ndarray, memory: np.ndarray, keep: int) -> np.ndarray:
    """The stored table followed by the rows only memory holds (those not in it), the
    last ``keep`` rows of the two together."""
    extra = [row for row in memory if not (stored == row).all(axis=1).any()]
    table = np.vstack([stored, *extra]) if extra else stored
    return table[max(0, len(table) - keep):]


def _enrolled(store: TemplateStore, user_id: str) -> bool:
    """Whether the user has a record in ``store`` besides their replay memory."""
    return any(engine != REPLAY_RECORD for engine in store.engines(user_id))


def _replay_record(user_id: str, recent: np.ndarray) -> Template:
    """The store record of a user's recently accepted fingerprints."""
    return Template(user_id=user_id, engine=REPLAY_RECORD, model_version=_REPLAY_VERSION, references=(recent,),
                    stats={})


def _distances(query: np.ndarray, table: np.ndarray) -> np.ndarray:
    """:func:`fingerprint_distances` for a checked fingerprint and a checked (k, FP_SIZE) table."""
    return _copy_distances(query, table, FP_PATH_POINTS, FP_STEPS, MAX_ROTATION, STEP_PIECES,
                           PATH_TOL, TIME_TOL, STEP_TOL)


def _closest(query: np.ndarray, table: np.ndarray, tol: float) -> int | None:
    """:func:`near_duplicate` for a checked fingerprint and a checked (k, FP_SIZE) table."""
    if len(table) == 0:
        return None
    dists = _distances(query, table)
    best = int(dists.argmin())
    return best if dists[best] <= tol else None


def _as_fingerprint(value: Any, what: str) -> np.ndarray:
    if isinstance(value, np.ndarray) and value.dtype == np.float32:
        arr = value  # as fingerprint() returns it: nothing to convert, nothing to overflow
    else:
        try:
            with np.errstate(over="ignore"):
                arr = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{what} is not numeric; recompute it with fingerprint()") from None
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"{what} has non-finite values; recompute it with fingerprint()")
    if arr.shape != (FP_SIZE,):
        raise InvalidInputError(f"{what} has shape {arr.shape}, expected ({FP_SIZE},); re-enrol so the "
                                "references get current fingerprints")
    return arr


def _as_fingerprint_table(fingerprints: Sequence[Any]) -> np.ndarray:
    """The fingerprints as one (k, FP_SIZE) float32 array, or the first bad one's InvalidInputError.

    Converting the whole table at once (nothing to do for a float32 array) costs a fraction
    of one conversion per fingerprint; only a table that does not convert cleanly is gone
    through one by one, to name the bad entry.
    """
    if len(fingerprints) == 0:
        return _NO_FINGERPRINTS
    try:
        with np.errstate(over="ignore"):
            table = np.asarray(fingerprints, dtype=np.float32)
    except (TypeError, ValueError):
        table = None
    if table is not None and table.shape == (len(fingerprints), FP_SIZE) and np.isfinite(table).all():
        return table
    return np.stack([_as_fingerprint(f, f"fingerprint {i}") for i, f in enumerate(fingerprints)])


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
    return _jitter_reasons(_regular_step(pen.t, MIN_INTERVALS_FOR_JITTER, JITTER_EPS_MS))


def _jitter_reasons(step: float) -> list[str]:
    """The reason for a clock without jitter (``step`` is NaN when it jitters)."""
    if math.isnan(step):
        return []
    return [f"perfectly regular sampling ({step:g} ms, no jitter) from a device "
            "whose clock jitters: looks resampled or injected"]


def _motion_anomalies(pen: PenStream) -> list[str]:
    return _motion_reasons(pen.device, *_motion_stats(pen.t, pen.x, pen.y, pen.pen_down, SPEED_WINDOW_MS))


def _motion_reasons(device: DeviceInfo, diagonal: float, n_windows: int, mean: float, std: float,
                    peak: float) -> list[str]:
    """Reasons from the motion statistics (see :func:`_motion_stats`) of a stream from ``device``."""
    if diagonal == 0:
        return ["the pen never moves while touching: not a signature"]
    if n_windows < 10:
        return []
    reasons = []
    if mean > 0 and std / mean < MIN_SPEED_VARIATION:
        reasons.append(f"constant pen speed (variation {std / mean:.0%}): a hand speeds up and "
                       "slows down, this looks machine-drawn")
    upmm = device.units_per_mm
    if upmm:
        if peak / upmm > MAX_SPEED_MM_S:
            reasons.append(f"pen speed {peak / upmm / 1000:.1f} m/s is beyond any hand "
                           f"(limit {MAX_SPEED_MM_S / 1000:g} m/s)")
    elif peak / diagonal > MAX_SPEED_DIAGONALS_S:
        reasons.append(f"pen crosses the signature {peak / diagonal:.0f} times per second "
                       f"(limit {MAX_SPEED_DIAGONALS_S:g}): impossible speed")
    return reasons


# -- numba kernels -------------------------------------------------------------------
# numpy's error model: a division by zero or an overflow gives inf/NaN, not an exception.
_kernel = nb.njit(cache=True, nogil=True, error_model="numpy")

#: RMS radius (of positions scaled to at most 1) below which the pen did not move:
#: what is left there is rounding, not shape.
_STILL = 1e-9


@_kernel
def _copy_distances(query: np.ndarray, table: np.ndarray, n_path: int, n_steps: int, max_rotation: float,
                    pieces: int, path_tol: float, time_tol: float, step_tol: float) -> np.ndarray:
    """Per row: the smallest of the path distance / ``path_tol``, the time-view distance /
    ``time_tol`` and, for the same sample count, the step residual / ``step_tol``."""
    out = np.empty(table.shape[0])
    for row in range(table.shape[0]):
        ref = table[row]
        best = _path_distance(query, ref, n_path, max_rotation) / path_tol
        best = min(best, _rms_tail(query, ref, 1 + 2 * n_path + 2 * n_steps) / time_tol)
        if ref[0] == query[0]:
            best = min(best, _step_residual(query, ref, 1 + 2 * n_path, n_steps, pieces) / step_tol)
        out[row] = best
    return out


@_kernel
def _path_distance(query: np.ndarray, ref: np.ndarray, n: int, max_rotation: float) -> float:
    """RMS distance between two paths, the query turned by at most ``max_rotation`` onto
    the reference (the Procrustes angle, clamped)."""
    cross, dot = 0.0, 0.0
    for i in range(1, 1 + n):
        qx, qy, rx, ry = float(query[i]), float(query[i + n]), float(ref[i]), float(ref[i + n])
        cross += ry * qx - rx * qy
        dot += rx * qx + ry * qy
    angle = min(max(math.atan2(cross, dot), -max_rotation), max_rotation)
    c, s = math.cos(angle), math.sin(angle)
    total = 0.0
    for i in range(1, 1 + n):
        qx, qy, rx, ry = float(query[i]), float(query[i + n]), float(ref[i]), float(ref[i + n])
        dx, dy = rx - (c * qx - s * qy), ry - (s * qx + c * qy)
        total += dx * dx + dy * dy
    return math.sqrt(total / n)


@_kernel
def _rms_tail(query: np.ndarray, ref: np.ndarray, start: int) -> float:
    """RMS difference of the two fingerprints from ``start`` on (the time view)."""
    total = 0.0
    for i in range(start, query.size):
        d = float(ref[i]) - float(query[i])
        total += d * d
    return math.sqrt(total / (query.size - start))


@_kernel
def _step_residual(query: np.ndarray, ref: np.ndarray, start: int, n: int, pieces: int) -> float:
    """How much of the query's steps a similarity of the reference's leaves unexplained
    (RMS residual over RMS steps), one similarity (complex factor) per stretch of ``pieces``."""
    residual, total = 0.0, 0.0
    for piece in range(pieces):
        lo, hi = piece * n // pieces, (piece + 1) * n // pieces
        power, re, im = 0.0, 0.0, 0.0
        for i in range(start + lo, start + hi):
            rx, ry, qx, qy = float(ref[i]), float(ref[i + n]), float(query[i]), float(query[i + n])
            power += rx * rx + ry * ry
            re += rx * qx + ry * qy  # conj(r) * q
            im += rx * qy - ry * qx
        if power > 0:
            re, im = re / power, im / power
        for i in range(start + lo, start + hi):
            rx, ry, qx, qy = float(ref[i]), float(ref[i + n]), float(query[i]), float(query[i + n])
            ex, ey = qx - (re * rx - im * ry), qy - (re * ry + im * rx)
            residual += ex * ex + ey * ey
            total += qx * qx + qy * qy
    return math.sqrt(residual / total) if total > 0 else np.inf


#: Where the time view samples the normalised time axis: np.linspace(0, 1, FP_TIME_POINTS).
_TIME_GRID = np.linspace(0.0, 1.0, FP_TIME_POINTS)
_TIME_GRID.setflags(write=False)


@_kernel
def _fingerprint(t: np.ndarray, x: np.ndarray, y: np.ndarray, pressure: np.ndarray, down: np.ndarray,
                 n_path: int, n_steps: int, time_grid: np.ndarray) -> np.ndarray:
    """:func:`fingerprint`: the path and steps of the pen-down samples (all samples with
    fewer than two), the time view sampled at ``time_grid``."""
    pick = down if np.count_nonzero(down) >= 2 else np.ones(down.size, dtype=np.bool_)
    px, py = x[pick], y[pick]
    magnitude = max(_nan_max(np.abs(px)), _nan_max(np.abs(py)))
    if magnitude == 0:
        magnitude = 1.0
    px, py = px / magnitude, py / magnitude  # no overflow below, whatever the device units
    out = np.zeros(1 + 2 * n_path + 2 * n_steps + 3 * time_grid.size, dtype=np.float32)
    out[0] = px.size
    _fill_path(px, py, out[1:1 + 2 * n_path])
    _fill_steps(px, py, out[1 + 2 * n_path:1 + 2 * n_path + 2 * n_steps])
    out[1 + 2 * n_path + 2 * n_steps:] = _time_view(t, x, y, pressure, down, time_grid)
    return out


@_kernel
def _fill_path(px: np.ndarray, py: np.ndarray, out: np.ndarray) -> None:
    """``out`` = the path resampled evenly along its length, centred, at unit RMS radius
    (x then y); zeros for a pen that never moves."""
    n = out.size // 2
    length = path_length(px, py)
    if not length[-1] > 0:
        return
    grid = np.linspace(0.0, length[-1], n)
    fx, fy = np.interp(grid, length, px), np.interp(grid, length, py)
    fx, fy = fx - np.mean(fx), fy - np.mean(fy)
    radius = math.sqrt(np.mean(fx * fx + fy * fy))
    scale = radius if radius > _STILL else 1.0  # a still pen: do not blow rounding up to unit size
    out[:n] = fx / scale
    out[n:] = fy / scale


@_kernel
def _fill_steps(px: np.ndarray, py: np.ndarray, out: np.ndarray) -> None:
    """``out`` = the moves from sample i to i + 1 at evenly spaced i (x then y), at unit RMS."""
    n = out.size // 2
    if px.size < 2:
        return
    index = np.empty(n, dtype=np.int64)
    for k in range(n):
        index[k] = int(round(k * (px.size - 2) / (n - 1)))
    sx, sy = px[index + 1] - px[index], py[index + 1] - py[index]
    rms = math.sqrt(np.mean(sx * sx + sy * sy))
    if not rms > 0:
        return
    out[:n] = sx / rms
    out[n:] = sy / rms


@_kernel
def _time_view(t: np.ndarray, x: np.ndarray, y: np.ndarray, pressure: np.ndarray, down: np.ndarray,
               grid: np.ndarray) -> np.ndarray:
    """x, y (centred, unit RMS radius) and pressure sampled at ``grid`` on the pen-down span."""
    lo, hi = _pen_down_span(down)
    u = _unit_time(t[lo:hi])
    fx, fy = np.interp(grid, u, x[lo:hi]), np.interp(grid, u, y[lo:hi])
    ax, ay = _nan_max(np.abs(fx)), _nan_max(np.abs(fy))
    magnitude = ay if ay > ax else ax  # Python's max(ax, ay), NaN and all
    if magnitude == 0:
        magnitude = 1.0
    fx, fy = fx / magnitude, fy / magnitude  # no overflow below, whatever the device units
    fx, fy = fx - np.mean(fx), fy - np.mean(fy)
    radius = math.sqrt(np.mean(fx * fx + fy * fy))
    scale = radius if radius > _STILL else 1.0  # a still pen: do not blow rounding up to unit size
    out = np.empty(3 * grid.size, dtype=np.float32)
    out[:grid.size] = fx / scale
    out[grid.size:2 * grid.size] = fy / scale
    out[2 * grid.size:] = np.interp(grid, u, pressure[lo:hi])
    return out


@_kernel
def _pen_down_span(down: np.ndarray) -> tuple[int, int]:
    """First to one past the last pen-down sample; the whole stream with fewer than two."""
    lo, hi, count = 0, 0, 0
    for i in range(down.size):
        if down[i]:
            lo = i if count == 0 else lo
            hi = i + 1
            count += 1
    return (lo, hi) if count >= 2 else (0, down.size)


@_kernel
def _unit_time(t: np.ndarray) -> np.ndarray:
    """``t`` mapped onto [0, 1]; evenly spaced (as np.linspace) when it spans no time."""
    span = t[-1] - t[0]
    return (t - t[0]) / span if span > 0 else np.linspace(0.0, 1.0, t.size)


@_kernel
def _regular_step(t: np.ndarray, min_count: int, eps: float) -> float:
    """The median sampling step when at least ``min_count`` steps (pen-up gaps left out)
    lie within ``eps`` of each other, else NaN: a clock without jitter."""
    steps = np.diff(t)
    if steps.size == 0:
        return np.nan
    regular = steps[steps <= 1.5 * np.median(steps)]
    if regular.size < min_count or regular.max() - regular.min() > eps:
        return np.nan
    return np.median(regular)


@_kernel
def _motion_stats(t: np.ndarray, x: np.ndarray, y: np.ndarray, down: np.ndarray,
                  max_window_ms: float) -> tuple[float, int, float, float, float]:
    """(diagonal of the pen-down box, number of windowed speeds, their mean, std, peak)."""
    diagonal = math.hypot(_extent(x, down), _extent(y, down))
    speed = _windowed_speeds(t, x, y, down, _speed_window(t, max_window_ms))
    if speed.size == 0:
        return diagonal, 0, np.nan, np.nan, np.nan
    mean = np.mean(speed)
    deviation = speed - mean
    return diagonal, speed.size, mean, math.sqrt(np.mean(deviation * deviation)), _nan_max(speed)


@_kernel
def _speed_window(t: np.ndarray, max_window_ms: float) -> float:
    """Two median sampling steps, at most ``max_window_ms``."""
    steps = np.diff(t)
    positive = steps[steps > 0]
    if positive.size == 0:
        return max_window_ms
    window = 2.0 * np.median(positive)
    return window if window < max_window_ms else max_window_ms


@_kernel
def _windowed_speeds(t: np.ndarray, x: np.ndarray, y: np.ndarray, down: np.ndarray,
                     window: float) -> np.ndarray:
    """Path speeds (units/s) over windows inside pen-down strokes.

    A window spans at least SPEED_WINDOW_MS (two sampling steps when the stream samples
    faster), so a bursty pad's 1 ms packets do not read as jumps; the distance is the
    path length, not the chord, so a constant-speed redraw reads as constant on curves.
    Each pen-down sample opens a window that ends at the first sample ``window`` later
    (timestamps never decrease, so that end only moves forward); windows that run off
    the stream or out of their stroke are dropped.
    """
    n = t.size
    stroke = stroke_ids(down)
    path = path_length(x, y)
    speed = np.empty(n)
    count, last = 0, 0
    for first in range(n):
        if not down[first]:
            continue
        end = t[first] + window
        while last < n and t[last] < end:
            last += 1
        if last == n:
            break
        if stroke[first] == stroke[last]:
            speed[count] = (path[last] - path[first]) / (t[last] - t[first]) * 1000.0
            count += 1
    return speed[:count]


@_kernel
def _extent(v: np.ndarray, mask: np.ndarray) -> float:
    """max - min of ``v`` where ``mask`` (NaN if any is NaN, 0 if none)."""
    picked = v[mask]
    if picked.size == 0:
        return 0.0
    lowest = -_nan_max(-picked)
    return _nan_max(picked) - lowest


@_kernel
def _nan_max(v: np.ndarray) -> float:
    """The largest value, or NaN if there is one (as ndarray.max)."""
    best = v[0]
    for value in v:
        if value > best or math.isnan(value):
            best = value
    return best
