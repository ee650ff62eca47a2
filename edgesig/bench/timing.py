"""Timing loops: warm-up, many calls, and interleaving for comparisons.

Single timings lie on a shared machine. Each operation is called after a warm-up (JIT,
caches, ONNX arena allocation) until both a minimum count and a minimum wall time are
reached, and the per-call times are kept. Comparisons run their contenders in
alternating rounds, so a burst of load from another process slows both sides alike and
the ratio stays meaningful; within a round the faster contender is called several
times, so both get a similar share of wall time and a useful number of samples.

Interleaved calls also record the calling thread's CPU time. On a machine whose cores
are shared with other jobs, a long call is preempted more often than a short one, which
biases wall-clock ratios between calls of different lengths; for single-threaded
contenders the ratio of CPU times is free of that bias, so comparisons use it.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class Effort:
    """How hard to measure: calls before timing, and when a timed loop may stop."""

    warmup: int
    min_calls: int
    max_calls: int
    min_time_s: float
    max_time_s: float

    def scaled(self, factor: float) -> "Effort":
        """Same counts, wall-time limits multiplied (for slow, less central operations)."""
        return Effort(self.warmup, self.min_calls, self.max_calls,
                      self.min_time_s * factor, self.max_time_s * factor)

    def lighter(self) -> "Effort":
        """For slow secondary operations (enrolment, process starts): fewer calls."""
        return Effort(max(1, self.warmup // 3), max(5, self.min_calls // 10), self.max_calls,
                      self.min_time_s / 2, self.max_time_s / 3)


QUICK = Effort(warmup=3, min_calls=15, max_calls=400, min_time_s=0.12, max_time_s=1.0)
FULL = Effort(warmup=10, min_calls=200, max_calls=5000, min_time_s=2.0, max_time_s=12.0)


@dataclass(frozen=True)
class Timed:
    """Per-call wall-clock and calling-thread CPU times of one contender, in ms."""

    wall: np.ndarray
    cpu: np.ndarray


def _call_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


def _call_both(fn: Callable[[], object]) -> tuple[float, float]:
    cpu, start = time.thread_time_ns(), time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6, (time.thread_time_ns() - cpu) / 1e6


def measure(fn: Callable[[], object], effort: Effort) -> Timed:
    """Per-call latencies (ms, wall and thread CPU) of ``fn`` after ``effort.warmup`` untimed calls.

    The garbage collector is paused while timing so one unlucky call does not pay for
    everybody's garbage; it runs between measurements.
    """
    return measure_staged(lambda: None, lambda _: fn(), effort)


def measure_staged(setup: Callable[[], T], fn: Callable[[T], object], effort: Effort) -> Timed:
    """Like :func:`measure`, but each timed ``fn(state)`` gets a fresh ``state = setup()``
    made untimed just before it: the last step of a longer process (a streaming session's
    pen-up) is what is timed, not the steps before it."""
    for _ in range(effort.warmup):
        fn(setup())
    gc.collect()
    gc.disable()
    try:
        out: list[tuple[float, float]] = []
        start = time.perf_counter()
        while len(out) < effort.max_calls:
            state = setup()
            out.append(_call_both(lambda: fn(state)))
            spent = time.perf_counter() - start
            if (len(out) >= effort.min_calls and spent >= effort.min_time_s) or spent >= effort.max_time_s:
                break
        return Timed(np.array([w for w, _ in out]), np.array([c for _, c in out]))
    finally:
        gc.enable()


def interleaved(fns: dict[str, Callable[[], object]], effort: Effort,
                min_rounds: int = 5) -> dict[str, Timed]:
    """Per-call latencies of several contenders measured in alternating rounds.

    After the warm-up, a contender that is k times faster than the slowest one is called
    k times per round (capped at 50), so every contender gets a similar share of time.
    """
    names = list(fns)
    guess = {}
    for name in names:
        for _ in range(effort.warmup):
            fns[name]()
        guess[name] = max(float(np.median([_call_ms(fns[name]) for _ in range(3)])), 1e-4)
    slowest = max(guess.values())
    reps = {n: int(min(50, max(1, round(slowest / guess[n])))) for n in names}
    out: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    gc.collect()
    gc.disable()
    try:
        start, rounds = time.perf_counter(), 0
        while True:
            order = names if rounds % 2 == 0 else names[::-1]
            for name in order:
                out[name].extend(_call_both(fns[name]) for _ in range(reps[name]))
            rounds += 1
            spent = time.perf_counter() - start
            if spent >= effort.max_time_s or min(len(v) for v in out.values()) >= effort.max_calls:
                break
            if rounds >= min_rounds and spent >= effort.min_time_s:
                break
        return {n: Timed(np.array([w for w, _ in v]), np.array([c for _, c in v])) for n, v in out.items()}
    finally:
        gc.enable()
