"""PenStream: the one canonical form of an online signature inside edgesig.

Every capture format is converted to a PenStream at the boundary, validated once, and
from then on the rest of the SDK trusts it. Arrays are copied and made read-only so a
stream can be shared between threads and cached without defensive copies.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edgesig.errors import PenStreamError

#: Fewest pen-down points a stream may have: below this no feature is meaningful.
MIN_PEN_DOWN_POINTS = 8
#: A clock that steps back by at most this much (ms) is resyncing, not reordering:
#: pads such as the SVC2004 WACOM do this; the samples themselves are in order.
MAX_CLOCK_STEP_BACK_MS = 50.0
#: Longest stream accepted; a 60 s signature at 1 kHz. Guards memory on a small device.
MAX_POINTS = 60_000


@dataclass(frozen=True)
class DeviceInfo:
    """What the capture device says about itself; used for unit conversion and checks."""

    name: str = "unknown"
    units_per_mm: float | None = None
    sample_rate_hz: float | None = None
    #: True when the device's clock is known to jitter (most USB pads): a capture
    #: with perfectly regular timestamps from such a device looks synthetic.
    timing_jitter: bool | None = None


@dataclass(frozen=True, eq=False)
class PenStream:
    """An online signature: time-stamped pen samples.

    t is in milliseconds, x/y in device units (or mm when ``device.units_per_mm`` is 1),
    pressure in [0, 1], pen_down True while the tip touches. Orientation is optional:
    azimuth/altitude in degrees, or tilt_x/tilt_y in degrees. Build with
    :meth:`from_arrays`, which validates; the bare constructor trusts its input.

    ``has_pressure`` is False when the device reported no pressure (SVC2004 Task 1, most
    phones and fingers): ``pressure`` then only repeats ``pen_down`` (1 down, 0 up), so an
    engine that reads the pressure channel must branch on this flag rather than learn
    from a constant.
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    pressure: np.ndarray
    pen_down: np.ndarray
    azimuth: np.ndarray | None = None
    altitude: np.ndarray | None = None
    tilt_x: np.ndarray | None = None
    tilt_y: np.ndarray | None = None
    device: DeviceInfo = field(default_factory=DeviceInfo)
    sequence: int | None = None
    nonce: bytes | None = None
    has_pressure: bool = True

    @classmethod
    def from_arrays(
        cls,
        x: Any,
        y: Any,
        t: Any = None,
        pressure: Any = None,
        pen_down: Any = None,
        *,
        azimuth: Any = None,
        altitude: Any = None,
        tilt_x: Any = None,
        tilt_y: Any = None,
        pressure_max: float = 1.0,
        sample_rate_hz: float | None = None,
        device: DeviceInfo | None = None,
        sequence: int | None = None,
        nonce: bytes | None = None,
    ) -> "PenStream":
        """Validate raw arrays and build a stream.

        ``t`` may be omitted when ``sample_rate_hz`` (or ``device.sample_rate_hz``) is
        given. ``pressure`` is divided by ``pressure_max``; omitted pressure means 1 while
        the pen is down and ``has_pressure`` False. ``pen_down`` defaults to ``pressure > 0``.
        """
        device = device or DeviceInfo(sample_rate_hz=sample_rate_hz)
        xs = _vector("x", x)
        n = xs.size
        if n == 0:
            raise PenStreamError("the pen stream is empty: capture at least a short signature")
        if n > MAX_POINTS:
            raise PenStreamError(f"the pen stream has {n} points, more than the {MAX_POINTS} accepted; "
                                 "split the capture or lower the sample rate")
        ys = _vector("y", y, n)
        ts = _time_axis(t, n, sample_rate_hz or device.sample_rate_hz)
        if not _is_positive_number(pressure_max):
            raise PenStreamError(f"pressure_max must be a positive number, got {pressure_max!r:.40}")
        if pressure is None:
            ps = np.ones(n) if pen_down is None else _vector("pen_down", pen_down, n).astype(bool).astype(float)
        else:
            ps = _vector("pressure", pressure, n) / float(pressure_max)
        if ps.min() < -1e-9 or ps.max() > 1 + 1e-9:
            raise PenStreamError(
                f"pressure must lie in [0, {pressure_max}] before scaling, got values in "
                f"[{ps.min() * pressure_max:g}, {ps.max() * pressure_max:g}]; pass pressure_max= "
                "with the device's full-scale value")
        ps = np.clip(ps, 0.0, 1.0)
        down = (ps > 0) if pen_down is None else _vector("pen_down", pen_down, n).astype(bool)
        if int(down.sum()) < MIN_PEN_DOWN_POINTS:
            raise PenStreamError(
                f"only {int(down.sum())} pen-down points (need at least {MIN_PEN_DOWN_POINTS}); "
                "the pen never touched long enough to form a signature")
        optional = {name: None if arr is None else _vector(name, arr, n)
                    for name, arr in (("azimuth", azimuth), ("altitude", altitude),
                                      ("tilt_x", tilt_x), ("tilt_y", tilt_y))}
        meta = _checked_meta({"device": device, "sequence": sequence, "nonce": nonce})
        arrays = {"t": ts, "x": xs, "y": ys, "pressure": ps, "pen_down": down, **optional}
        for arr in arrays.values():
            if arr is not None:
                arr.setflags(write=False)
        return cls(**arrays, **meta, has_pressure=pressure is not None)

    def __len__(self) -> int:
        return int(self.t.size)

    @property
    def n_down(self) -> int:
        """Number of pen-down samples."""
        return int(self.pen_down.sum())

    @property
    def duration_ms(self) -> float:
        return float(self.t[-1] - self.t[0])

    def with_meta(self, **changes: Any) -> "PenStream":
        """A copy with metadata (device, sequence, nonce, has_pressure) replaced; arrays are
        shared. The values are checked as :meth:`from_arrays` checks them: a str device
        failed only inside ``verify_stroke``, and a negative sequence became a pad's counter."""
        unknown = sorted(set(changes) - set(META_FIELDS))
        if unknown:
            raise PenStreamError(f"with_meta changes {', '.join(META_FIELDS[:-1])} and {META_FIELDS[-1]} only, "
                                 f"not {', '.join(unknown)}; build a new stream with PenStream.from_arrays")
        return replace(self, **_checked_meta(changes))

    def select(self, mask: np.ndarray | slice) -> "PenStream":
        """The samples where ``mask`` is True (or a slice of them), as a new stream sharing
        the metadata. Arrays stay read-only and contiguous, as the constructor makes them:
        a plain slice gives views, a stepped slice (thinning) copies, because the numba
        kernels take contiguous arrays only (a stepped view failed inside ``verify_stroke``)."""
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            if a is None:
                return None
            out = np.ascontiguousarray(a[mask])
            out.setflags(write=False)
            return out
        return replace(self, t=pick(self.t), x=pick(self.x), y=pick(self.y),
                       pressure=pick(self.pressure), pen_down=pick(self.pen_down),
                       azimuth=pick(self.azimuth), altitude=pick(self.altitude),
                       tilt_x=pick(self.tilt_x), tilt_y=pick(self.tilt_y))

    def without_pressure(self) -> "PenStream":
        """The stream as a pad without pressure would give it: 1 while down, 0 up.

        Pressure-free engine variants read every pen this way, so references from a pad
        with pressure and a query from one without meet on the same channels.
        """
        if not self.has_pressure:
            return self
        pressure = self.pen_down.astype(np.float64)
        pressure.setflags(write=False)
        return replace(self, pressure=pressure, has_pressure=False)


#: What ``with_meta`` may change: the capture's metadata, never its samples.
META_FIELDS = ("device", "sequence", "nonce", "has_pressure")


def _checked_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` (any of META_FIELDS) with sequence as int and nonce as bytes, or a
    PenStreamError for a value the replay checks and the engines cannot use."""
    out = dict(meta)
    if "device" in meta and not isinstance(meta["device"], DeviceInfo):
        raise PenStreamError(f"device must be a DeviceInfo, got {type(meta['device']).__name__}; "
                             "e.g. DeviceInfo(name='pad-7')")
    sequence = meta.get("sequence")
    if sequence is not None:
        if not isinstance(sequence, (int, np.integer)) or isinstance(sequence, bool) or sequence < 0:
            raise PenStreamError(f"sequence must be a non-negative integer, got {sequence!r:.40}")
        out["sequence"] = int(sequence)
    nonce = meta.get("nonce")
    if nonce is not None:
        if not isinstance(nonce, (bytes, bytearray)):
            raise PenStreamError(f"nonce must be bytes, got {type(nonce).__name__}")
        out["nonce"] = bytes(nonce)
    if "has_pressure" in meta:
        if not isinstance(meta["has_pressure"], (bool, np.bool_)):
            raise PenStreamError(f"has_pressure must be True or False, got {meta['has_pressure']!r:.40}")
        out["has_pressure"] = bool(meta["has_pressure"])
    return out


def _vector(name: str, value: Any, n: int | None = None) -> np.ndarray:
    """A finite 1-D float64 copy of ``value`` of length ``n``, or a PenStreamError."""
    try:
        complex_values = np.iscomplexobj(value)
        arr = None if complex_values else np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise PenStreamError(f"{name} must be a sequence of numbers ({exc})") from None
    if arr is None:
        raise PenStreamError(f"{name} must be real numbers, got complex values")
    if arr.ndim != 1:
        raise PenStreamError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if n is not None and arr.size != n:
        raise PenStreamError(f"{name} has {arr.size} values but x has {n}; every channel needs one value per sample")
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise PenStreamError(f"{name} contains NaN or infinity (first at sample {bad}); drop or repair those samples")
    return arr


def _time_axis(t: Any, n: int, rate_hz: float | None) -> np.ndarray:
    """Timestamps in ms: validated, non-decreasing, with repeated stamps spread out.

    Pads that send packets in bursts repeat a timestamp for several samples; we spread
    such runs evenly up to the next distinct stamp so velocities stay finite.
    """
    if t is None:
        if rate_hz is None:
            raise PenStreamError("no timestamps given: pass t= (ms) or sample_rate_hz=",
                                 cli_message="the pen file has no timestamps: pass --sample-rate HZ")
        if not _is_positive_number(rate_hz):
            raise PenStreamError(f"sample_rate_hz must be a positive finite number, got {rate_hz!r:.40}")
        return np.arange(n, dtype=np.float64) * (1000.0 / rate_hz)
    ts = _vector("t", t, n)
    steps = np.diff(ts)
    if n > 1 and steps.min() > 0:  # strictly increasing, as most pads send it: nothing to check or repair
        return ts
    backwards = steps < 0
    # an isolated small step back is a clock resync; many, or a large one, is disorder
    if np.any(steps < -MAX_CLOCK_STEP_BACK_MS) or backwards.sum() > max(2, 0.02 * n):
        bad = int(np.flatnonzero(steps < -MAX_CLOCK_STEP_BACK_MS if np.any(steps < -MAX_CLOCK_STEP_BACK_MS)
                                 else backwards)[0]) + 1
        raise PenStreamError(f"time goes backwards at sample {bad} ({ts[bad - 1]:g} -> {ts[bad]:g} ms); "
                             "sort the samples or fix the device clock")
    if np.any(backwards):  # clock resync: keep sample order, hold time until it catches up
        ts = np.maximum.accumulate(ts)
        steps = np.diff(ts)
    if n > 1 and ts[-1] == ts[0]:
        raise PenStreamError("all samples share one timestamp; pass real timestamps or sample_rate_hz=",
                             cli_message="all samples share one timestamp: pass --sample-rate HZ")
    return _spread_repeats(ts) if np.any(steps == 0) else ts


def _is_positive_number(value: Any) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and bool(np.isfinite(value)) and value > 0)


def _spread_repeats(ts: np.ndarray) -> np.ndarray:
    out = ts.copy()
    positive = np.diff(ts)[np.diff(ts) > 0]
    fallback = float(np.median(positive)) if positive.size else 1.0
    start = 0
    n = ts.size
    while start < n:
        end = start
        while end + 1 < n and ts[end + 1] == ts[start]:
            end += 1
        run = end - start + 1
        if run > 1:
            gap = (ts[end + 1] - ts[start]) if end + 1 < n else fallback
            out[start:end + 1] = ts[start] + gap * np.arange(run) / run
        start = end + 1
    return out
