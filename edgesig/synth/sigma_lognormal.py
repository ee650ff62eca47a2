"""Synthetic online signatures from the kinematic theory of rapid human movements.

Why synthetic data at all: demos, tests and pretraining need many writers with genuine
signatures *and* skilled forgeries, with realistic dynamics, and without shipping
anybody's biometric data. Plamondon's sigma-lognormal model gives that: a handwriting
movement is a sum of overlapping strokes, each with a lognormal speed profile and a
direction that turns steadily from ``theta_s`` to ``theta_e``::

    |v_i(t)| = D_i / (sigma_i sqrt(2 pi) (t - t0_i)) exp(-(ln(t - t0_i) - mu_i)^2 / (2 sigma_i^2))
    phi_i(t) = theta_s + (theta_e - theta_s) F_i(t),   F_i = lognormal CDF

Since the direction is linear in the distance already travelled (``F_i``), each stroke
is a circular arc, so positions have a closed form and need no numerical integration.

A :class:`Writer` is a seeded prototype (the motor program: target-driven strokes for
one to three pen-down components, pen-up hover moves between segments) plus personal
traits. A genuine signature re-executes the program with small noise on every lognormal
parameter; a skilled forgery copies the *shape* but not the motor program: each stroke
is split into slower, hesitant sub-strokes, with tremor, shape errors and the forger's
own pressure and pen tilt. Units mimic a tablet (0.01 mm, SVC2004-like magnitudes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba as nb
import numpy as np

from edgesig.errors import InvalidInputError
from edgesig.pen import DeviceInfo, PenStream

#: Tablet resolution of the synthetic device: 0.01 mm per unit, like the SVC2004 WACOM.
UNITS_PER_MM = 100.0
#: Sample rate used unless a writer is made with another.
DEFAULT_RATE_HZ = 100.0
#: Pressure is reported in 1/PRESSURE_LEVELS steps, as a 10-bit pad would.
PRESSURE_LEVELS = 1023
#: Columns of a stroke table.
T0, DIST, MU, SIGMA, TH_S, TH_E = range(6)
#: Segment id of a pen-up (hover) stroke in a stroke table.
AIR = -1
#: Pen-down strokes of a prototype (SVC2004 signatures have roughly 10 to 40).
MIN_STROKES, MAX_STROKES = 12, 40
#: Range of a prototype's duration in seconds at the writer's own speed.
DURATION_S = (1.2, 5.0)
#: Shape noise of a practised forger copying a static image, in units of a typical
#: writer's own variability. At 1.7 a shape-only distance (pen-down path resampled to
#: 64 points) ranks forgeries behind genuine signatures about as often as on SVC2004.
FORGER_ERROR = 1.7

Rng = int | np.integer | np.random.Generator
#: A planned stroke: the chord (dx, dy) in mm it must cover, and how much it turns (rad).
Move = tuple[np.ndarray, float]
#: A planned pen-down segment: where it starts, and its moves.
Plan = tuple[np.ndarray, list[Move]]


@nb.njit(cache=True, nogil=True, fastmath=True)
def render_strokes(t: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """Positions and velocities (n, 4: x, y, vx, vy) of a sum of lognormal arcs at times ``t``.

    ``t`` must be increasing. ``strokes`` is (k, 6): t0, D, mu, sigma, theta_s, theta_e;
    units follow the table (seconds, mm, radians), so velocities are per second. Each
    stroke is evaluated only where it moves (|z| < 7); after that it adds its whole chord.
    """
    n, k = t.shape[0], strokes.shape[0]
    out = np.zeros((n, 4))
    settled = np.zeros((n + 1, 2))
    inv_sqrt2 = 1.0 / math.sqrt(2.0)
    inv_sqrt2pi = 1.0 / math.sqrt(2.0 * math.pi)
    for j in range(k):
        t0, dist, mu, sigma = strokes[j, 0], strokes[j, 1], strokes[j, 2], strokes[j, 3]
        ths = strokes[j, 4]
        turn = strokes[j, 5] - ths
        begin = np.searchsorted(t, t0 + math.exp(mu - 7.0 * sigma), side="right")
        end = np.searchsorted(t, t0 + math.exp(mu + 7.0 * sigma), side="right")
        for i in range(begin, end):
            dt = t[i] - t0
            z = (math.log(dt) - mu) / sigma
            cdf = 0.5 * (1.0 + math.erf(z * inv_sqrt2))
            half = 0.5 * turn * cdf
            sinc = math.sin(half) / half if abs(half) > 1e-8 else 1.0 - half * half / 6.0
            chord = dist * cdf * sinc
            out[i, 0] += chord * math.cos(ths + half)
            out[i, 1] += chord * math.sin(ths + half)
            speed = dist * inv_sqrt2pi / (sigma * dt) * math.exp(-0.5 * z * z)
            phi = ths + turn * cdf
            out[i, 2] += speed * math.cos(phi)
            out[i, 3] += speed * math.sin(phi)
        half = 0.5 * turn
        sinc = math.sin(half) / half if abs(half) > 1e-8 else 1.0
        settled[end, 0] += dist * sinc * math.cos(ths + half)
        settled[end, 1] += dist * sinc * math.sin(ths + half)
    acc_x = 0.0
    acc_y = 0.0
    for i in range(n):
        acc_x += settled[i, 0]
        acc_y += settled[i, 1]
        out[i, 0] += acc_x
        out[i, 1] += acc_y
    return out


@dataclass(frozen=True)
class PressureProfile:
    """How one person presses: level, how fast it builds and releases, and how it follows speed."""

    level: float          # plateau pressure, fraction of full scale
    rise_s: float         # time to build up after touch-down
    fall_s: float         # time to release before lift-off
    speed_gain: float     # relative change per unit of relative speed (negative: lighter when fast)
    down_gain: float      # relative extra pressure on down-strokes (pulling the pen towards the body)
    drift: float          # relative change from the start to the end of a segment
    wobble: float         # amplitude of slow random fluctuation


@dataclass(frozen=True)
class Hand:
    """Traits of the person holding the pen, shared by all their signatures."""

    slant_deg: float      # forward lean of the writing (shear), degrees
    speed: float          # time scale: > 1 writes faster than the prototype
    pressure: PressureProfile
    azimuth_deg: float    # pen azimuth while writing
    altitude_deg: float   # pen altitude (90 = upright)
    variability: float    # how inconsistent this person is (1 = typical)


@dataclass(frozen=True, eq=False)
class Writer:
    """A synthetic person: a signature prototype (motor program) and a hand.

    ``strokes`` is the (k, 6) lognormal table (columns T0, DIST, MU, SIGMA, TH_S, TH_E;
    seconds, mm, radians) before slant; ``segment`` gives each stroke's pen-down segment,
    or ``AIR`` for hover moves. ``x_height_mm`` is the size the prototype was planned at.
    """

    seed: int
    strokes: np.ndarray = field(repr=False)
    segment: np.ndarray = field(repr=False)
    hand: Hand
    x_height_mm: float
    sample_rate_hz: float = DEFAULT_RATE_HZ
    origin_mm: tuple[float, float] = (40.0, 45.0)
    device: DeviceInfo = field(init=False)

    def __post_init__(self) -> None:
        rate = self.sample_rate_hz
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.number)) or not 20.0 <= rate <= 1000.0:
            raise InvalidInputError(f"sample_rate_hz must be a number between 20 and 1000, got {rate!r}")
        object.__setattr__(self, "sample_rate_hz", float(rate))
        strokes = np.array(self.strokes, dtype=np.float64)
        segment = np.array(self.segment, dtype=np.int64)
        if strokes.ndim != 2 or strokes.shape[1] != 6 or segment.shape != (strokes.shape[0],):
            raise InvalidInputError(f"strokes must be (k, 6) with one segment id per stroke, got "
                                    f"{strokes.shape} and {segment.shape}")
        if not np.all(np.isfinite(strokes)) or np.any(strokes[:, SIGMA] <= 0) or not np.any(segment >= 0):
            raise InvalidInputError("strokes must be finite, with sigma > 0 and at least one pen-down stroke")
        for name, arr in (("strokes", strokes), ("segment", segment)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "device", DeviceInfo(
            name="edgesig.synth", units_per_mm=UNITS_PER_MM, sample_rate_hz=self.sample_rate_hz,
            timing_jitter=True))

    @property
    def n_segments(self) -> int:
        return int(self.segment.max()) + 1

    def genuine(self, rng: Rng) -> PenStream:
        """One genuine signature: the prototype re-executed with this person's natural variability."""
        gen = _generator(rng)
        v = self.hand.variability
        strokes = _jitter_strokes(gen, self.strokes, self.segment, v, v)
        shape = _Shape(scale=1.0 + gen.normal(0, 0.04 * v), aspect=1.0 + gen.normal(0, 0.03 * v),
                       rotation_deg=gen.normal(0, 2.0 * v), slant_deg=self.hand.slant_deg + gen.normal(0, 2.0 * v))
        speed = self.hand.speed * math.exp(gen.normal(0, 0.07 * v))
        hand = _vary_hand(gen, self.hand, 0.5 * v)
        return _sample(gen, strokes, self.segment, shape, speed, hand, tremor_mm=0.0,
                       origin_mm=self.origin_mm, device=self.device)

    def forgery(self, rng: Rng, skill: float = 1.0) -> PenStream:
        """A skilled forgery: the shape copied from a static image, by someone else's hand.

        ``skill`` in [0, 1]: 1 is a practised forger (close shape, fewer hesitations),
        0 an unpractised one (slower, more broken strokes, larger shape errors).
        """
        if isinstance(skill, bool) or not isinstance(skill, (int, float, np.number)) or not 0.0 <= skill <= 1.0:
            raise InvalidInputError(f"skill must be a number in [0, 1], got {skill!r}")
        gen = _generator(rng)
        clumsy = 1.0 - float(skill)
        err = FORGER_ERROR * (1.0 + 0.3 * clumsy)
        strokes = _jitter_strokes(gen, self.strokes, self.segment, err, 1.0)
        strokes, segment = _hesitate(gen, strokes, self.segment, clumsy)
        stretch = gen.uniform(1.1, 1.5) + clumsy
        shape = _Shape(scale=1.0 + gen.normal(0, 0.04 * err), aspect=1.0 + gen.normal(0, 0.03 * err),
                       rotation_deg=gen.normal(0, 2.0 * err), slant_deg=self.hand.slant_deg + gen.normal(0, 2.5 * err))
        forger = _random_hand(gen)
        tremor = gen.uniform(0.03, 0.08) * (1.0 + clumsy)
        return _sample(gen, strokes, segment, shape, self.hand.speed / stretch, forger, tremor_mm=tremor,
                       origin_mm=self.origin_mm, device=self.device)


@dataclass(frozen=True)
class _Shape:
    """A global affine change of one execution: size, proportions, rotation, slant."""

    scale: float
    aspect: float
    rotation_deg: float
    slant_deg: float

    def matrix(self) -> np.ndarray:
        shear = np.array([[1.0, math.tan(math.radians(self.slant_deg))], [0.0, 1.0]])
        a = math.radians(self.rotation_deg)
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        size = np.diag([self.scale * self.aspect, self.scale / self.aspect])
        return rot @ size @ shear


def make_writer(seed: int, sample_rate_hz: float = DEFAULT_RATE_HZ) -> Writer:
    """The synthetic writer for ``seed``: the same seed always gives the same person."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    gen = np.random.default_rng(int(seed))
    x_height = gen.uniform(9.0, 16.0)
    while True:  # redraw the rare layouts too short or too long to pass for a signature
        strokes, segment = _prototype(gen, x_height)
        if MIN_STROKES <= int(np.sum(segment != AIR)) <= MAX_STROKES:
            break
    origin = (gen.uniform(20.0, 40.0), gen.uniform(30.0, 50.0))
    return Writer(int(seed), strokes, segment, _random_hand(gen), x_height, sample_rate_hz, origin)


def make_population(n_writers: int, seed: int, sample_rate_hz: float = DEFAULT_RATE_HZ) -> list[Writer]:
    """``n_writers`` distinct writers; a larger population keeps the smaller one as its prefix."""
    if isinstance(n_writers, bool) or not isinstance(n_writers, (int, np.integer)) or n_writers < 1:
        raise InvalidInputError(f"n_writers must be a positive integer, got {n_writers!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    seeds = np.random.SeedSequence(int(seed)).generate_state(int(n_writers), dtype=np.uint32)
    return [make_writer(int(s), sample_rate_hz) for s in seeds]


def _generator(rng: Rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise InvalidInputError(f"rng must be a non-negative int seed or a numpy Generator, got {rng!r}")


def _random_hand(gen: np.random.Generator) -> Hand:
    pressure = PressureProfile(level=gen.uniform(0.4, 0.85), rise_s=gen.uniform(0.02, 0.07),
                               fall_s=gen.uniform(0.02, 0.06), speed_gain=gen.uniform(-0.35, 0.15),
                               down_gain=gen.uniform(0.05, 0.25),
                               drift=gen.uniform(-0.25, 0.2), wobble=gen.uniform(0.02, 0.08))
    return Hand(slant_deg=gen.normal(12.0, 10.0), speed=math.exp(gen.normal(0.0, 0.12)), pressure=pressure,
                azimuth_deg=gen.uniform(115.0, 160.0), altitude_deg=gen.uniform(42.0, 72.0),
                variability=math.exp(gen.normal(0.0, 0.25)))


def _vary_hand(gen: np.random.Generator, hand: Hand, v: float) -> Hand:
    """The same hand on another day: a little more or less pressure, a slightly different grip."""
    p = hand.pressure
    pressure = PressureProfile(level=float(np.clip(p.level * (1 + gen.normal(0, 0.1 * v)), 0.15, 0.95)),
                               rise_s=p.rise_s, fall_s=p.fall_s, speed_gain=p.speed_gain + gen.normal(0, 0.05 * v),
                               down_gain=p.down_gain,
                               drift=p.drift + gen.normal(0, 0.05 * v), wobble=p.wobble)
    return Hand(hand.slant_deg, hand.speed, pressure, hand.azimuth_deg + gen.normal(0, 4.0 * v),
                hand.altitude_deg + gen.normal(0, 3.0 * v), hand.variability)


# --------------------------------------------------------------------------- prototype

def _prototype(gen: np.random.Generator, h: float) -> tuple[np.ndarray, np.ndarray]:
    """The motor program: pen-down segments of target-driven arcs, joined by hover moves."""
    segments = _layout(gen, h)
    rows: list[np.ndarray] = []
    seg_ids: list[int] = []
    pos = np.zeros(2)
    t = 0.0
    mu0, sigma0 = gen.uniform(-2.25, -1.75), gen.uniform(0.2, 0.3)
    overlap = gen.uniform(0.4, 0.6)
    for s, (start, moves) in enumerate(segments):
        if s:
            air = _arcs(gen, [(start - pos, gen.uniform(-0.8, 0.8))], mu0 - 0.35, sigma0, t, overlap)
            rows.append(air)
            seg_ids.append(AIR)
            t = _end_time(air[-1]) - 0.02 + gen.uniform(0.0, 0.05)
        table = _arcs(gen, moves, mu0, sigma0, t, overlap, h)
        rows.append(table)
        seg_ids.extend([s] * len(table))
        pos = start + sum(m[0] for m in moves)
        t = _end_time(table[-1]) - 0.03
    strokes = np.vstack(rows)
    span = t - strokes[0, T0]
    stretch = float(np.clip(span, *DURATION_S)) / span  # very long names are written faster
    strokes[:, T0] *= stretch
    strokes[:, MU] += math.log(stretch)
    return strokes, np.asarray(seg_ids, dtype=np.int64)


def _end_time(row: np.ndarray) -> float:
    """When a stroke is practically over (its CDF at about 93 %)."""
    return float(row[T0] + math.exp(row[MU] + 1.5 * row[SIGMA]))


def _arcs(gen: np.random.Generator, moves: list[Move], mu0: float, sigma0: float,
          t_start: float, overlap: float, h: float | None = None) -> np.ndarray:
    """A stroke table reaching each chord (dx, dy) along an arc turning by the given angle.

    Bigger strokes take a little longer (partial isochrony); successive strokes overlap
    in time, which is what rounds corners into the loops of fluent cursive.
    """
    table = np.empty((len(moves), 6))
    t0 = t_start
    for k, (chord, turn) in enumerate(moves):
        length = max(float(np.hypot(*chord)), 1e-3)
        half = 0.5 * turn
        dist = length * (half / math.sin(half) if abs(half) > 1e-6 else 1.0)
        ref = h if h is not None else length
        mu = mu0 + 0.3 * math.log(max(dist, 0.2 * ref) / ref) + gen.normal(0, 0.06)
        sigma = float(np.clip(sigma0 + gen.normal(0, 0.03), 0.12, 0.45))
        angle = math.atan2(chord[1], chord[0])
        table[k] = (t0, dist, mu, sigma, angle - half, angle + half)
        t0 += overlap * math.exp(mu) * gen.uniform(0.85, 1.15)
    return table


def _layout(gen: np.random.Generator, h: float) -> list[Plan]:
    """Pen-down segments as (start point, moves): components like an initial, words, a flourish."""
    n_comp = int(gen.choice([1, 2, 3], p=[0.45, 0.45, 0.1]))
    segments: list[Plan] = []
    cursor = np.zeros(2)
    loop_bias = gen.uniform(0.6, 1.4)
    width = gen.uniform(0.45, 0.8)
    garland = gen.choice([-1.0, 1.0]) * gen.uniform(0.4, 1.2)
    for c in range(n_comp):
        n_seg = int(gen.choice([1, 2, 3, 4], p=[0.45, 0.3, 0.15, 0.1]))
        capital = gen.random() < (0.7 if c == 0 else 0.35)
        letters = int(gen.integers(2, 6)) + int(n_comp == 1)
        moves = (_capital(gen, h, loop_bias) if capital else []) + _word(gen, h, width, loop_bias, garland, letters)
        if c == n_comp - 1 and gen.random() < 0.4:
            moves += _flourish(gen, h, moves)
        cuts = np.sort(gen.choice(np.arange(2, len(moves) - 1), size=min(n_seg - 1, len(moves) - 3),
                                  replace=False)) if n_seg > 1 else np.array([], dtype=int)
        start = cursor.copy()
        for piece in np.split(np.arange(len(moves)), cuts):
            chunk = [moves[i] for i in piece]
            segments.append((start.copy(), chunk))
            end = start + sum(m[0] for m in chunk)
            start = end + np.array([gen.uniform(0.05, 0.4) * h, gen.uniform(-0.2, 0.3) * h])
        extent = _right_edge(segments[-1 - len(cuts):])
        if gen.random() < 0.3:
            segments.append((np.array([gen.uniform(cursor[0] + 0.5 * h, extent), gen.uniform(1.3, 1.8) * h]),
                             _mark(gen, h)))
        cursor = np.array([extent + gen.uniform(0.4, 1.1) * h, cursor[1] + gen.normal(0, 0.25 * h)])
    return segments


def _right_edge(segments: list[Plan]) -> float:
    """The largest x any planned target point reaches."""
    return max(float(np.max(start[0] + np.cumsum([0.0] + [m[0][0] for m in moves]))) for start, moves in segments)


def _word(gen: np.random.Generator, h: float, width: float, loop_bias: float, garland: float,
          letters: int) -> list[Move]:
    """Cursive letters: alternating up and down strokes between baseline, x-height,
    ascender and descender lines. Down strokes end in a rounded bottom; up strokes bend
    the writer's way, into garlands (u, w: ``garland`` > 0) or arcades (n, m: < 0)."""
    moves: list[Move] = [(np.array([0.4 * h, 0.5 * h]), gen.uniform(0.2, 0.8))]
    y = 0.5 * h
    for _ in range(letters):
        kind = gen.choice(["x", "asc", "desc", "round"], p=[0.5, 0.22, 0.13, 0.15])
        w = width * h * gen.uniform(0.7, 1.3)
        if kind == "asc":
            top = gen.uniform(1.9, 2.7) * h
            moves.append((np.array([0.45 * w, top - y]), loop_bias * gen.uniform(0.9, 1.8)))
            moves.append((np.array([-0.05 * w, -top]), loop_bias * gen.uniform(0.4, 1.0)))
            y = 0.0
        elif kind == "desc":
            moves.append((np.array([0.4 * w, h - y]), gen.normal(garland, 0.3)))
            bottom = -gen.uniform(0.9, 1.5) * h
            moves.append((np.array([0.05 * w, bottom - h]), gen.uniform(-0.5, 0.3)))
            moves.append((np.array([0.2 * w, 0.4 * h - bottom]), -loop_bias * gen.uniform(1.4, 2.4)))
            y = 0.4 * h
        elif kind == "round":
            moves.append((np.array([0.5 * w, h - y]), gen.normal(0.5 * garland, 0.3)))
            moves.append((np.array([-0.55 * w, -0.4 * h]), loop_bias * gen.uniform(1.2, 2.0)))
            moves.append((np.array([0.35 * w, -0.6 * h]), loop_bias * gen.uniform(1.0, 1.8)))
            y = 0.0
        else:
            moves.append((np.array([0.5 * w, h - y]), gen.normal(garland, 0.3)))
            moves.append((np.array([0.1 * w, -h]), gen.normal(0.7, 0.3)))
            y = 0.0
    moves.append((np.array([0.6 * width * h, gen.uniform(0.2, 0.8) * h - y]), gen.uniform(0.0, 0.8)))
    return moves


def _capital(gen: np.random.Generator, h: float, loop_bias: float) -> list[Move]:
    """A large initial: a tall stem, a big bowl or loop, and an entry into the word."""
    tall = gen.uniform(2.0, 3.0) * h
    moves = [(np.array([gen.uniform(-0.2, 0.4) * h, tall]), gen.choice([-1, 1]) * gen.uniform(0.5, 1.8)),
             (np.array([gen.uniform(-0.3, 0.3) * h, -tall]), gen.uniform(0.2, 1.2))]
    if gen.random() < 0.7:
        moves.append((np.array([gen.uniform(0.6, 1.2) * h, gen.uniform(0.6, 1.2) * tall]),
                      -loop_bias * gen.uniform(1.5, 2.6)))
        moves.append((np.array([gen.uniform(0.2, 0.6) * h, -gen.uniform(0.5, 0.8) * tall]),
                      -loop_bias * gen.uniform(1.0, 2.2)))
    moves.append((np.array([gen.uniform(0.3, 0.7) * h, gen.uniform(-0.2, 0.2) * h]), gen.uniform(-0.6, 0.6)))
    return moves


def _flourish(gen: np.random.Generator, h: float, moves: list[Move]) -> list[Move]:
    """A paraph: a long sweep back under the name, or out to the right."""
    span = float(sum(m[0][0] for m in moves))
    if gen.random() < 0.6:
        return [(np.array([0.15 * h, -gen.uniform(0.6, 1.2) * h]), gen.uniform(-1.5, -0.6)),
                (np.array([-gen.uniform(0.5, 0.9) * span, -gen.uniform(0.0, 0.5) * h]), gen.uniform(-0.7, 0.3))]
    return [(np.array([gen.uniform(1.0, 2.5) * h, gen.uniform(-0.5, 0.8) * h]), gen.uniform(-1.2, 1.2))]


def _mark(gen: np.random.Generator, h: float) -> list[Move]:
    """An i-dot or a t-bar: one short stroke made after the word."""
    if gen.random() < 0.5:
        return [(np.array([0.1 * h, -0.05 * h]), gen.uniform(-0.5, 0.5))]
    return [(np.array([gen.uniform(0.8, 1.6) * h, gen.uniform(-0.1, 0.2) * h]), gen.uniform(-0.4, 0.4))]


# --------------------------------------------------------------------------- executions

def _jitter_strokes(gen: np.random.Generator, strokes: np.ndarray, segment: np.ndarray, shape_v: float,
                    timing_v: float) -> np.ndarray:
    """Every lognormal parameter moved a little: the same motor program, another execution.

    ``shape_v`` scales the noise on sizes and angles, ``timing_v`` that on onsets and
    durations; hover moves, which leave no ink, vary more.
    """
    out = strokes.copy()
    k = len(out)
    air = (segment == AIR).astype(float)
    gaps = np.diff(out[:, T0]) * np.exp(gen.normal(0, 0.06 * timing_v, k - 1) * (1 + air[1:]))
    out[1:, T0] = out[0, T0] + np.cumsum(gaps)
    out[:, MU] += gen.normal(0, 0.035 * timing_v, k)
    out[:, SIGMA] = np.clip(out[:, SIGMA] * np.exp(gen.normal(0, 0.05 * timing_v, k)), 0.08, 0.6)
    out[:, DIST] *= np.exp(gen.normal(0, 0.04 * shape_v, k) * (1 + 2 * air))
    shift = gen.normal(0, 0.03 * shape_v, k) * (1 + 2 * air)
    out[:, TH_S] += shift + gen.normal(0, 0.02 * shape_v, k)
    out[:, TH_E] += shift + gen.normal(0, 0.02 * shape_v, k)
    return out


def _hesitate(gen: np.random.Generator, strokes: np.ndarray, segment: np.ndarray,
              clumsy: float) -> tuple[np.ndarray, np.ndarray]:
    """A forger's execution: strokes cut into shorter sub-strokes with pauses, lifts added.

    Each sub-stroke covers part of the original arc (same turning rate), so the drawn
    shape stays that of the model while the speed profile loses its fluency. A pause
    delays everything after it; an added lift starts a new pen-down segment.
    """
    k = len(strokes)
    air = segment == AIR
    p_split = 0.03 + 0.2 * clumsy
    parts = 1 + (gen.random(k) < p_split).astype(np.int64) + (gen.random(k) < 0.4 * p_split)
    parts[air | (strokes[:, DIST] < 2.0)] = 1
    parent = np.repeat(np.arange(k), parts)
    first = np.concatenate(([0], np.cumsum(parts)[:-1]))
    weight = gen.uniform(0.5, 1.5, parent.size)
    frac = weight / np.add.reduceat(weight, first)[parent]
    done = np.cumsum(frac) - frac
    before = (done - done[first][parent])  # share of the parent arc drawn before this piece
    out = strokes[parent].copy()
    turn = out[:, TH_E] - out[:, TH_S]
    out[:, DIST] *= frac
    out[:, TH_E] = out[:, TH_S] + turn * (before + frac)
    out[:, TH_S] += turn * before
    hand = ~air[parent]
    n = int(hand.sum())
    out[hand, MU] += 0.6 * np.log(np.maximum(frac[hand], 0.15)) + gen.normal(0, 0.05 + 0.03 * clumsy, n)
    out[hand, SIGMA] = np.clip(out[hand, SIGMA] * gen.uniform(0.9, 1.15 + 0.15 * clumsy, n), 0.1, 0.5)
    last = np.zeros(parent.size, dtype=bool)
    last[np.cumsum(parts) - 1] = True
    pause = np.where(last, 0.0, np.exp(strokes[parent, MU]) * frac * gen.uniform(0.3, 0.6 + 0.2 * clumsy, parent.size)
                     + gen.exponential(0.01 + 0.03 * clumsy, parent.size))
    same_next = np.concatenate((segment[1:] == segment[:-1], [False])) & ~air
    lift = same_next & (gen.random(k) < 0.02 + 0.05 * clumsy)
    pause[np.cumsum(parts) - 1] += np.where(lift, 0.12 + gen.exponential(0.1, k), 0.0)
    out[:, T0] += np.cumsum(pause) - pause
    shift = (np.cumsum(lift) - lift)[parent]
    segs = np.where(air[parent], AIR, segment[parent] + shift)
    return out, segs.astype(np.int64)


def _pen_intervals(strokes: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """(n_segments, 2) touch-down and lift-off times, in seconds.

    The pen lands as the first stroke of a segment starts moving and lifts when the
    last one is nearly done, so lift-off happens while still decelerating.
    """
    ids = np.unique(segment[segment != AIR])
    spans = np.empty((len(ids), 2))
    for i, s in enumerate(ids):
        rows = strokes[segment == s]
        onset = rows[:, T0] + np.exp(rows[:, MU] - 2.5 * rows[:, SIGMA])
        offset = rows[:, T0] + np.exp(rows[:, MU] + 1.3 * rows[:, SIGMA])
        spans[i] = onset.min(), offset.max()
    order = np.argsort(spans[:, 0])
    spans = spans[order]
    for i in range(1, len(spans)):  # keep segments apart: a lift is at least one sample long
        spans[i, 0] = max(spans[i, 0], spans[i - 1, 1] + 0.025)
        spans[i, 1] = max(spans[i, 1], spans[i, 0] + 0.03)
    return spans


def _sample(gen: np.random.Generator, strokes: np.ndarray, segment: np.ndarray, shape: _Shape, speed: float,
            hand: Hand, tremor_mm: float, origin_mm: tuple[float, float], device: DeviceInfo) -> PenStream:
    """Render a stroke table into what a tablet would report."""
    strokes = strokes.copy()
    strokes[:, T0] /= speed
    strokes[:, MU] -= math.log(speed)
    spans = _pen_intervals(strokes, segment)
    dt = 1.0 / float(device.sample_rate_hz)
    start = spans[0, 0] - int(gen.integers(1, 4)) * dt  # hover samples before and after
    t = start + dt * np.arange(int(math.ceil((spans[-1, 1] - start) / dt)) + int(gen.integers(1, 4)))
    keep = gen.random(t.size) > 0.004  # the odd dropped USB packet
    keep[[0, -1]] = True
    t = t[keep]
    kin = render_strokes(t, np.ascontiguousarray(strokes))
    pos, vel = kin[:, :2], kin[:, 2:]
    if tremor_mm > 0:
        pos = pos + _tremor(gen, t, tremor_mm)
    m = shape.matrix()
    pos = pos @ m.T
    vel = vel @ m.T
    down = np.zeros(t.size, dtype=bool)
    for a, b in spans:
        down |= (t >= a) & (t < b)
    pressure = _pressure(gen, t, spans, vel, down, hand.pressure)
    az, alt = _tilt(gen, t, pos, hand)
    offset = np.asarray(origin_mm) + gen.normal(0, 3.0, 2) - pos.min(axis=0)
    xy = np.round((pos + offset) * UNITS_PER_MM)
    stamps = np.round(1000.0 * (t - t[0]) + gen.normal(0, 0.3, t.size))
    return PenStream.from_arrays(xy[:, 0], xy[:, 1], np.maximum.accumulate(stamps), pressure, down,
                                 azimuth=az, altitude=alt, device=device)


def _tremor(gen: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
    """Physiological tremor of a slow, careful hand: a few 5-10 Hz components."""
    out = np.zeros((t.size, 2))
    for _ in range(3):
        freq = gen.uniform(5.0, 10.0)
        phase = gen.uniform(0, 2 * np.pi, 2)
        out += amplitude * gen.uniform(0.3, 1.0, 2) * np.sin(2 * np.pi * freq * t[:, None] + phase)
    return out


def _smooth_noise(gen: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
    """Slow random variation (below ~3 Hz), as a sum of a few sinusoids."""
    freqs = gen.uniform(0.3, 3.0, 4)
    phases = gen.uniform(0, 2 * np.pi, 4)
    return amplitude * np.sin(2 * np.pi * freqs * t[:, None] + phases).sum(axis=1) / 2.0


def _pressure(gen: np.random.Generator, t: np.ndarray, spans: np.ndarray, vel: np.ndarray, down: np.ndarray,
              profile: PressureProfile) -> np.ndarray:
    """Pressure rises after touch-down, falls before lift-off, and in between follows
    speed and direction (everybody presses a little harder on down-strokes)."""
    p = np.zeros(t.size)
    speed = np.hypot(vel[:, 0], vel[:, 1])
    downward = -vel[:, 1] / np.maximum(speed, 1e-9)
    mean_speed = float(speed[down].mean()) if down.any() else 1.0
    rel = speed / max(mean_speed, 1e-9) - 1.0
    wobble = _smooth_noise(gen, t, profile.wobble)
    for a, b in spans:
        idx = (t >= a) & (t < b)
        u = (t[idx] - a) / max(b - a, 1e-9)
        env = _smoothstep((t[idx] - a) / profile.rise_s) * _smoothstep((b - t[idx]) / profile.fall_s)
        level = profile.level * (1 + profile.drift * (u - 0.5)) * (1 + profile.speed_gain * np.clip(rel[idx], -1, 2)
                                                                     + profile.down_gain * downward[idx])
        p[idx] = 0.15 + (level - 0.15 + wobble[idx]) * env
    p = np.where(down, np.clip(p, 1.0 / PRESSURE_LEVELS, 1.0), 0.0)
    return np.round(p * PRESSURE_LEVELS) / PRESSURE_LEVELS


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _tilt(gen: np.random.Generator, t: np.ndarray, pos: np.ndarray, hand: Hand) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and altitude in whole degrees: the grip's own angle, turning slightly as the
    hand travels right, with slow wrist movement."""
    travel = (pos[:, 0] - pos[:, 0].mean()) / max(float(np.ptp(pos[:, 0])), 1e-9)
    az = hand.azimuth_deg + 8.0 * travel + _smooth_noise(gen, t, 3.0)
    alt = hand.altitude_deg - 4.0 * travel + _smooth_noise(gen, t, 2.0)
    return np.round(np.mod(az, 360.0)), np.round(np.clip(alt, 20.0, 90.0))


# --------------------------------------------------------------------------- datasets

@dataclass(frozen=True, eq=False)
class SynthSample:
    """One labelled signature: ``writer`` is the claimed identity (the forged writer for a
    forgery); ``kind`` is "genuine", "skilled" (forgery) or "random" (another writer's genuine)."""

    writer: int
    kind: str
    pen: PenStream

    @property
    def is_genuine(self) -> bool:
        return self.kind == "genuine"


def demo_dataset(n_writers: int, n_genuine: int, n_forgeries: int, seed: int, n_random: int = 0,
                 skill: float = 1.0) -> list[SynthSample]:
    """A small labelled corpus: per writer, genuine signatures, skilled forgeries and,
    if asked, random forgeries (genuine signatures of other writers claimed as this one)."""
    writers = make_population(n_writers, seed)
    for name, value in (("n_genuine", n_genuine), ("n_forgeries", n_forgeries), ("n_random", n_random)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}")
    if n_random and len(writers) < 2:
        raise InvalidInputError("random forgeries need at least 2 writers: raise n_writers or set n_random=0")
    # a stream apart from the one that drew the writers; one child per writer and kind, so
    # asking for more forgeries leaves the genuine signatures as they were
    root = np.random.SeedSequence([int(seed), 1])
    out: list[SynthSample] = []
    for w, (writer, child) in enumerate(zip(writers, root.spawn(len(writers)))):
        gen_g, gen_f, gen_r = (np.random.default_rng(c) for c in child.spawn(3))
        out += [SynthSample(w, "genuine", writer.genuine(gen_g)) for _ in range(n_genuine)]
        out += [SynthSample(w, "skilled", writer.forgery(gen_f, skill)) for _ in range(n_forgeries)]
        for _ in range(n_random):
            other = int(gen_r.integers(0, len(writers) - 1))
            other += other >= w
            out.append(SynthSample(w, "random", writers[other].genuine(gen_r)))
    return out
