"""Preprocessing of pen streams: segmentation, normalisation, resampling, derived channels.

Everything an online engine needs before LNPS: the pen-down samples, positions freed of
where and how large the writer signed, and the dynamic channels (velocity, direction,
pressure) that carry what a forger cannot see on paper.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numba as nb
import numpy as np

from edgesig.errors import InvalidInputError, PenStreamError
from edgesig.features.lnps import lnps, zscore_columns
from edgesig.pen import MAX_POINTS, PenStream

#: Derived channels by name; see :func:`channels`.
CHANNELS = ("x", "y", "p", "vx", "vy", "speed", "cos", "sin", "ax", "ay", "dp", "curv")


def pen_down_segments(pen: PenStream) -> list[slice]:
    """Slices of consecutive pen-down samples (one per stroke group / word)."""
    down = np.concatenate(([False], pen.pen_down, [False]))
    edges = np.flatnonzero(np.diff(down.astype(np.int8)))
    return [slice(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


@nb.njit(cache=True, nogil=True)
def stroke_ids(down: np.ndarray) -> np.ndarray:
    """1, 2, ... for the samples of each pen-down stroke, -1 while the pen is up."""
    ids = np.empty(down.size, dtype=np.int64)
    stroke = 0
    for i in range(down.size):
        if down[i] and (i == 0 or not down[i - 1]):
            stroke += 1
        ids[i] = stroke if down[i] else -1
    return ids


@nb.njit(cache=True, nogil=True)
def path_length(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cumulative path length at each sample, from 0 at the first."""
    path = np.empty(x.size)
    path[0] = 0.0
    for i in range(1, x.size):
        path[i] = path[i - 1] + np.hypot(x[i] - x[i - 1], y[i] - y[i - 1])
    return path


@nb.njit(cache=True, nogil=True)
def gradient(values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``np.gradient(values, t)`` (second-order inside, one-sided at the ends); zeros below 2 samples.

    Compiled because it runs several times on every verification, where numpy's
    general version costs more in overhead than in arithmetic.
    """
    n = values.size
    out = np.zeros(n)
    if n < 2:
        return out
    out[0] = (values[1] - values[0]) / (t[1] - t[0])
    out[n - 1] = (values[n - 1] - values[n - 2]) / (t[n - 1] - t[n - 2])
    for i in range(1, n - 1):
        dx1 = t[i] - t[i - 1]
        dx2 = t[i + 1] - t[i]
        a = -dx2 / (dx1 * (dx1 + dx2))
        b = (dx2 - dx1) / (dx1 * dx2)
        c = dx1 / (dx2 * (dx1 + dx2))
        out[i] = a * values[i - 1] + b * values[i] + c * values[i + 1]
    return out


@nb.njit(cache=True, nogil=True)
def motion_table(t: np.ndarray, x: np.ndarray, y: np.ndarray, pressure: np.ndarray) -> np.ndarray:
    """Columns x, y, pressure, vx, vy, speed: one compiled pass for the channels every
    online engine and the global descriptor need.

    Positions are centred on the centroid and divided by the vertical spread: one scale
    factor for both axes keeps the aspect ratio, and the vertical spread is more stable
    across a writer's signatures than the width, which flourishes change. Velocities are
    per ms.
    """
    n = x.size
    out = np.empty((n, 6))
    scale = np.std(y)
    if scale <= 1e-9:
        scale = max(np.std(x), 1e-9)
    mx, my = np.mean(x), np.mean(y)
    for i in range(n):
        out[i, 0] = (x[i] - mx) / scale
        out[i, 1] = (y[i] - my) / scale
        out[i, 2] = pressure[i]
    rel = t - t[0]
    out[:, 3] = gradient(np.ascontiguousarray(out[:, 0]), rel)
    out[:, 4] = gradient(np.ascontiguousarray(out[:, 1]), rel)
    for i in range(n):
        out[i, 5] = np.hypot(out[i, 3], out[i, 4])
    return out


_MOTION = ("x", "y", "p", "vx", "vy", "speed")


def channels(pen: PenStream, names: tuple[str, ...], pen_up: bool = False) -> np.ndarray:
    """The named channels as an (n, len(names)) float64 array, not yet z-normalised.

    With ``pen_up`` False only pen-down samples are used (hover samples differ between
    devices); positions are normalised by :func:`motion_table`, velocities are per ms.
    """
    unknown = [n for n in names if n not in CHANNELS]
    if unknown:
        raise InvalidInputError(f"unknown channels {unknown}; known: {', '.join(CHANNELS)}")
    src = pen if pen_up else pen.select(pen.pen_down)
    t, x, y, pressure = src.t, src.x, src.y, src.pressure
    base = motion_table(t, x, y, pressure)
    table = dict(zip(_MOTION, base.T))
    wanted = set(names) - table.keys()
    if wanted:  # only what is asked for: this runs on every verification
        t = t - t[0]
        vx, vy = table["vx"], table["vy"]
        safe = np.maximum(table["speed"], 1e-12)
        if wanted & {"cos", "sin"}:
            table.update(cos=vx / safe, sin=vy / safe)
        if "dp" in wanted:
            table["dp"] = gradient(pressure, t)
        if wanted & {"ax", "ay", "curv"}:
            table.update(ax=gradient(vx, t), ay=gradient(vy, t))
        if "curv" in wanted:
            bend = (vx * table["ay"] - vy * table["ax"]) / safe ** 3
            table["curv"] = bend / (1.0 + np.abs(bend))
    return np.column_stack([table[n] for n in names])


def resample_uniform(table: np.ndarray, t: np.ndarray, step_ms: float) -> np.ndarray:
    """Linear resampling of each column to a uniform ``step_ms`` time grid."""
    grid = np.arange(t[0], t[-1] + 1e-9, step_ms)
    return np.column_stack([np.interp(grid, t, table[:, j]) for j in range(table.shape[1])])


@dataclass(frozen=True)
class FeatureConfig:
    """Which features an online engine computes; stored with the model so enrolment and
    verification always agree."""

    path: tuple[str, ...] = ("x", "y")       # channels forming the path for LNPS
    window: int = 9                          # LNPS window in samples (odd)
    level: int = 2                           # signature truncation level
    extra: tuple[str, ...] = ("x", "y", "vx", "vy", "p")  # raw channels appended
    pen_up: bool = False                     # include hover samples
    stride: int = 1                          # keep every stride-th feature row (speed)
    rate_hz: float | None = None             # first thin the pen to about this rate (None: keep all)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})

    @property
    def dim(self) -> int:
        from edgesig.features.lnps import signature_dim
        return (signature_dim(len(self.path), self.level) if self.level else 0) + len(self.extra)


def capture_rate(pen: PenStream, fallback: float) -> float:
    """The pad's sampling rate: the device's, else from the median sampling interval."""
    rate = pen.device.sample_rate_hz
    if rate:
        return rate
    step = _median_step(pen.t)
    return 1000.0 / step if step > 0 else fallback


def decimation(pen: PenStream, rate_hz: float | None) -> int:
    """Keep every k-th sample to come down to about ``rate_hz``: k = round(capture rate / rate_hz).

    A 200 Hz pad then gives the same features (LNPS windows spanning the same time) and
    the same DTW work as a 100 Hz one.
    """
    if rate_hz is None:
        return 1
    k = max(1, int(round(capture_rate(pen, rate_hz) / rate_hz)))
    return k if k == 1 or np.count_nonzero(pen.pen_down[::k]) >= 2 else 1


def upsampling(pen: PenStream, rate_hz: float | None) -> int:
    """How many samples each step of a slow pad becomes to come up to about ``rate_hz``:
    m = round(rate_hz / capture rate), 1 for a pad near or above it (``decimation``'s mirror).

    A factor that would take the stream past ``MAX_POINTS`` is no slow pad but a clock in
    another unit (µs, ns): a PenStreamError saying so, before anything is allocated."""
    if rate_hz is None:
        return 1
    rate = capture_rate(pen, rate_hz)
    m = max(1, int(round(min(rate_hz / rate, MAX_POINTS + 1))))  # min: a huge step would overflow int
    if m > 1 and len(pen) * m > MAX_POINTS:
        raise PenStreamError(
            f"the pen's samples are {1000.0 / rate:.3g} ms apart ({rate:.3g} Hz), {rate_hz / rate:.3g} times "
            f"slower than the enrolment's {rate_hz:.3g} Hz: timestamps must be in milliseconds "
            "(divide a µs clock by 1,000, a ns clock by 1,000,000)")
    return m


def filled_in(pen: PenStream, m: int) -> PenStream:
    """``pen`` with m - 1 samples interpolated inside each regular step (up to 1.5 median
    steps; a longer one is a lift the pad did not sample, left as it is), so that a 50 Hz
    pad's LNPS windows span the time a 100 Hz pad's do. An inserted sample is down when
    both ends of its step are; x, y and pressure are linear, orientation is not kept (no
    feature reads it)."""
    t = pen.t
    step = np.diff(t)
    regular = np.flatnonzero(step <= 1.5 * _median_step(t))
    inserted = (t[regular, None] + step[regular, None] * (np.arange(1, m) / m)).ravel()
    grid = np.concatenate([t, inserted])
    order = np.argsort(grid, kind="stable")
    grid = grid[order]
    start = np.concatenate([np.arange(len(t)), np.repeat(regular, m - 1)])[order]
    original = order < len(t)
    down = pen.pen_down[start] & (original | pen.pen_down[np.minimum(start + 1, len(t) - 1)])
    pressure = np.where(original | down, np.interp(grid, t, pen.pressure), 0.0) if pen.has_pressure else None
    device = replace(pen.device, sample_rate_hz=capture_rate(pen, 0.0) * m or None)
    return PenStream.from_arrays(np.interp(grid, t, pen.x), np.interp(grid, t, pen.y), grid, pressure, down,
                                 device=device, sequence=pen.sequence, nonce=pen.nonce)


def thinned(pen: PenStream, k: int) -> PenStream:
    """Every k-th sample, as a pad at 1/k of the rate gives it; the device rate follows, so
    that ``extract`` does not thin the result again."""
    rate = capture_rate(pen, 0.0) / k
    return pen.select(slice(None, None, k)).with_meta(device=replace(pen.device, sample_rate_hz=rate or None))


def at_rate(pen: PenStream, rate_hz: float | None) -> PenStream:
    """``pen`` as a pad at about ``rate_hz`` would give it: thinned or filled in by whole
    steps; ``pen`` itself when its rate is within a factor 1.5 of that.

    The verifier brings a query to the rate its user enrolled at: the features read
    samples, not milliseconds (an LNPS window is 9 samples), so a genuine signature
    enrolled on a 100 Hz pad and verified on a 50 Hz one was refused (FRR 32-100 % at the
    shipped threshold on the four sets' validation writers, ``benchmarks/online_rates.py``).
    ``extract`` itself keeps a slow pad's samples: filling them in there, for every pen,
    made same-pad EER worse on 2 of the 4 sets."""
    k = decimation(pen, rate_hz)
    if k > 1:
        return thinned(pen, k)
    m = upsampling(pen, rate_hz)
    return filled_in(pen, m) if m > 1 else pen


@nb.njit(cache=True, nogil=True)
def _median_step(t: np.ndarray) -> float:
    """Median of the positive sampling intervals (0 when there is none)."""
    steps = np.diff(t)
    steps = steps[steps > 0]
    return np.median(steps) if steps.size else 0.0


def extract(pen: PenStream, cfg: FeatureConfig) -> np.ndarray:
    """Per-sample feature sequence (n, cfg.dim), float64, each column z-normalised."""
    k = decimation(pen, cfg.rate_hz)
    if k > 1:
        pen = pen.select(slice(None, None, k))
    names = tuple(dict.fromkeys(cfg.path + cfg.extra))
    table = channels(pen, names, pen_up=cfg.pen_up)
    col = {n: i for i, n in enumerate(names)}
    parts = []
    if cfg.level:
        # positions are already size-normalised; LNPS divides by the window length anyway
        path = np.ascontiguousarray(table[:, [col[n] for n in cfg.path]])
        parts.append(lnps(path, cfg.window, cfg.level))
    if cfg.extra:
        parts.append(zscore_columns(np.ascontiguousarray(table[:, [col[n] for n in cfg.extra]])))
    feats = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    return np.ascontiguousarray(feats[::cfg.stride])
