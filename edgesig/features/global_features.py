"""Global features: a handful of numbers that sum up how a signature was written.

The local features DTW compares are z-normalised per signature, so DTW cannot see
how long the signing took, how fast or how hard the pen moved: exactly what a forger
who copies the shape from paper gets wrong. These descriptors add that back; the
DTW engine compares them with the mean of the user's references (see
``edgesig.engines.dtw``). Positions are size-normalised like the local features, so
the descriptor does not depend on the pad's resolution.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from edgesig.features.kinematics import gradient, motion_table, path_length, stroke_ids
from edgesig.pen import PenStream

#: Names of the descriptor's entries, in order.
GLOBAL_FEATURES = ("log_duration", "log_strokes", "log_mean_speed", "log_p95_speed", "mean_pressure",
                   "std_pressure", "down_fraction", "log_width", "log_path_length")
#: The descriptor's names with ``global_features(pen, up_time=True)``: the pen-up share by
#: time (``up_time_fraction``) in place of ``down_fraction``, the share of samples with the
#: pen down. Why: a pad that streams samples while the pen hovers (MCYT's) moves the sample
#: share 6-10x as much between a writer's signatures as pads that send none, so a decision
#: fitted on the latter rejects the former's genuine signatures; time varies alike on every pad.
UP_TIME_FEATURES = tuple("up_time_fraction" if n == "down_fraction" else n for n in GLOBAL_FEATURES)
#: Names of the extended descriptor's further entries (``global_features(pen, extended=True)``),
#: in order after ``GLOBAL_FEATURES``: how the pen moved (spread and rhythm of velocity,
#: acceleration, jerk, when it was fastest, which way it went) and how it pressed over
#: time, which a forger copying the shape does not see. Times are fractions of the
#: duration, rates per second, sizes in the size-normalised units of ``motion_table``.
EXTENDED_FEATURES = ("log_height", "up_time_fraction", "log_std_vx", "log_std_vy", "log_mean_acceleration",
                     "log_mean_jerk", "peak_speed_time", "vx_sign_changes", "vy_sign_changes",
                     *(f"direction_{k}" for k in range(8)), "max_pressure", "max_pressure_time",
                     "pressure_first_third", "pressure_second_third", "pressure_last_third",
                     "start_cos", "start_sin", "end_cos", "end_sin", "centroid_x", "centroid_y")
_FLOOR = 1e-6
#: The floor of per-ms derivatives under a log: jerk is about 1e-5 per ms³ for ordinary
#: signing, so the size floor would clip it.
_DERIVATIVE_FLOOR = 1e-15
#: A gap longer than this many median sampling steps is a pen lift, also on pads that
#: send no pen-up samples (they only leave a hole in the timestamps).
_LIFT_STEPS = 4.0
#: The share of the path whose chord gives the start and end directions.
_END_SHARE = 0.05


def global_features(pen: PenStream, extended: bool = False, up_time: bool = False) -> np.ndarray:
    """The descriptor of ``pen`` as a float64 array of ``len(GLOBAL_FEATURES)`` values, then
    with ``extended`` the ``len(EXTENDED_FEATURES)`` further ones (the first values unchanged).
    With ``up_time`` the entries are ``UP_TIME_FEATURES`` (only ``down_fraction``'s differs).

    Pressure entries of a pen without pressure (1 while down) are the same constants for
    every signature, so their deviations are 0: neutral, never misleading.
    """
    return _describe(pen.t, pen.x, pen.y, pen.pressure, pen.pen_down, extended, up_time)


@nb.njit(cache=True, nogil=True)
def _describe(t: np.ndarray, x: np.ndarray, y: np.ndarray, pressure: np.ndarray,
              down: np.ndarray, extended: bool, up_time: bool) -> np.ndarray:
    """The descriptor from the stream's arrays; compiled, as it runs on every verification."""
    keep = np.flatnonzero(down)
    table = motion_table(t[keep], x[keep], y[keep], pressure[keep])  # pen-down, size-normalised
    xs, ys, speed, p = table[:, 0], table[:, 1], table[:, 5], table[:, 2]
    out = np.empty(9 + (len(EXTENDED_FEATURES) if extended else 0))
    out[0] = np.log(max(t[-1] - t[0], 1.0))
    out[1] = np.log(stroke_ids(down).max())
    out[2] = np.log(max(np.mean(speed), _FLOOR))
    out[3] = np.log(max(np.percentile(speed, 95.0), _FLOOR))
    out[4] = np.mean(p)
    out[5] = np.std(p)
    out[6] = _up_time(t, down, _lift_gap(t)) / max(t[-1] - t[0], 1.0) if up_time else keep.size / down.size
    out[7] = np.log(max(xs.max() - xs.min(), _FLOOR))
    path = path_length(xs, ys)
    out[8] = np.log(max(path[-1], _FLOOR))
    if extended:
        _extend(out[9:], t, down, keep, table, path)
    return out


@nb.njit(cache=True, nogil=True)
def _extend(out: np.ndarray, t: np.ndarray, down: np.ndarray, keep: np.ndarray, table: np.ndarray,
            path: np.ndarray) -> None:
    """The ``EXTENDED_FEATURES`` into ``out`` from the pen-down ``table`` of ``motion_table``
    and its cumulative ``path``; loops rather than masks, as this runs at every pen-up."""
    xs, ys, p = table[:, 0], table[:, 1], table[:, 2]
    vx, vy, speed = np.ascontiguousarray(table[:, 3]), np.ascontiguousarray(table[:, 4]), table[:, 5]
    duration = max(t[-1] - t[0], 1.0)
    td = t[keep] - t[0]
    ax, ay = gradient(vx, td), gradient(vy, td)
    jx, jy = gradient(ax, td), gradient(ay, td)
    acceleration = jerk = 0.0
    for i in range(td.size):
        acceleration += np.sqrt(ax[i] * ax[i] + ay[i] * ay[i])
        jerk += np.sqrt(jx[i] * jx[i] + jy[i] * jy[i])
    out[0] = np.log(max(ys.max() - ys.min(), _FLOOR))
    gap = _lift_gap(t)
    out[1] = _up_time(t, down, gap) / duration
    out[2] = np.log(max(np.std(vx), _DERIVATIVE_FLOOR))
    out[3] = np.log(max(np.std(vy), _DERIVATIVE_FLOOR))
    out[4] = np.log(max(acceleration / td.size, _DERIVATIVE_FLOOR))
    out[5] = np.log(max(jerk / td.size, _DERIVATIVE_FLOOR))
    out[6] = td[np.argmax(speed)] / duration
    out[7] = _sign_changes(vx) * 1000.0 / duration
    out[8] = _sign_changes(vy) * 1000.0 / duration
    _direction_histogram(out[9:17], xs, ys, t, keep, gap)
    out[17] = p.max()
    out[18] = td[np.argmax(p)] / duration
    _pressure_thirds(out[19:22], p, td, duration)
    out[22:24] = _chord(xs, ys, path, True)
    out[24:26] = _chord(xs, ys, path, False)
    out[26] = -xs.min() / max(xs.max() - xs.min(), _FLOOR)  # positions are centred on the centroid
    out[27] = -ys.min() / max(ys.max() - ys.min(), _FLOOR)


@nb.njit(cache=True, nogil=True)
def _lift_gap(t: np.ndarray) -> float:
    """The sampling interval above which the pen counts as lifted (``_LIFT_STEPS`` median steps)."""
    steps = np.diff(t)
    positive = steps[steps > 0]
    return _LIFT_STEPS * np.median(positive) if positive.size else np.inf


@nb.njit(cache=True, nogil=True)
def _up_time(t: np.ndarray, down: np.ndarray, gap: float) -> float:
    """Time in intervals with an end up, or longer than ``gap`` (a hole in time)."""
    total = 0.0
    for i in range(t.size - 1):
        step = t[i + 1] - t[i]
        if not (down[i] and down[i + 1]) or step > gap:
            total += step
    return total


@nb.njit(cache=True, nogil=True)
def _sign_changes(v: np.ndarray) -> int:
    """How often ``v`` changes sign (zeros skipped): strokes back and forth."""
    count, last = 0, 0.0
    for value in v:
        if value != 0.0:
            count += last * value < 0.0
            last = value
    return count


@nb.njit(cache=True, nogil=True)
def _direction_histogram(out: np.ndarray, xs: np.ndarray, ys: np.ndarray, t: np.ndarray, keep: np.ndarray,
                         gap: float) -> None:
    """Share of the pen-down path in each of 8 direction sectors of 45° (sector 0 from
    −180°, as atan2 counts) into ``out``; segments across a lift (non-consecutive samples,
    or a step longer than ``gap``) left out; even shares where there is no such path."""
    out[:] = 0.0
    for i in range(xs.size - 1):
        if keep[i + 1] == keep[i] + 1 and t[keep[i + 1]] - t[keep[i]] <= gap:
            dx, dy = xs[i + 1] - xs[i], ys[i + 1] - ys[i]
            out[_sector(dx, dy)] += np.sqrt(dx * dx + dy * dy)
    total = out.sum()
    if total > 0.0:
        out /= total
    else:
        out[:] = 0.125


@nb.njit(cache=True, nogil=True)
def _sector(dx: float, dy: float) -> int:
    """floor((atan2(dy, dx) + π) / 45°) mod 8 by comparisons (atan2 costs more than the rest)."""
    if dy < 0.0:
        if dx < 0.0:
            return 0 if -dx > -dy else 1
        return 2 if -dy > dx else 3
    if dx > 0.0:
        return 4 if dy < dx else 5
    if dy == 0.0:  # pointing back along the x axis (atan2 gives π)
        return 0
    return 6 if dy > -dx else 7


@nb.njit(cache=True, nogil=True)
def _pressure_thirds(out: np.ndarray, p: np.ndarray, td: np.ndarray, duration: float) -> None:
    """Mean pressure in each third of the duration into ``out``; the overall mean for a
    third without pen-down samples (a long lift)."""
    sums, counts = np.zeros(3), np.zeros(3)
    for i in range(p.size):
        k = min(int(3.0 * td[i] / duration), 2)
        sums[k] += p[i]
        counts[k] += 1.0
    for k in range(3):
        out[k] = sums[k] / counts[k] if counts[k] else p.mean()


@nb.njit(cache=True, nogil=True)
def _chord(xs: np.ndarray, ys: np.ndarray, path: np.ndarray, start: bool) -> np.ndarray:
    """Cosine and sine of the chord over the first (``start``) or last ``_END_SHARE`` of
    the cumulative ``path``: which way the signature sets off and ends; (1, 0) for a pen
    that stays put."""
    reach = _END_SHARE * path[-1]
    if start:
        j = min(np.searchsorted(path, reach), xs.size - 1)
        dx, dy = xs[j] - xs[0], ys[j] - ys[0]
    else:
        j = max(np.searchsorted(path, path[-1] - reach) - 1, 0)
        dx, dy = xs[-1] - xs[j], ys[-1] - ys[j]
    norm = np.sqrt(dx * dx + dy * dy)
    return np.array([dx / norm, dy / norm]) if norm > 0.0 else np.array([1.0, 0.0])


def deviation(query: np.ndarray, references: np.ndarray, scale: np.ndarray) -> float:
    """Mean over entries of |query − mean of the references| / scale.

    ``scale`` is each entry's typical deviation for genuine signatures (learnt on
    validation writers), so every entry counts on one scale and 1.0 is ordinary.
    """
    return float(np.mean(np.abs(query - np.mean(references, axis=0)) / scale))
