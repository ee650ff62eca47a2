"""Timing loops: sample counts, warm-up, interleaving."""
from __future__ import annotations

import time

import numpy as np

from edgesig.bench.record import Ratio, Stats
from edgesig.bench.timing import Effort, interleaved, measure

FAST = Effort(warmup=2, min_calls=10, max_calls=50, min_time_s=0.0, max_time_s=2.0)


def test_measure_warms_up_then_times_at_least_min_calls():
    calls = []
    timed = measure(lambda: calls.append(1), FAST)
    assert timed.wall.size == timed.cpu.size == FAST.min_calls
    assert len(calls) == FAST.min_calls + FAST.warmup
    assert np.all(timed.wall >= 0) and np.all(timed.cpu >= 0)


def test_measure_stops_at_max_time():
    effort = Effort(warmup=0, min_calls=1000, max_calls=1000, min_time_s=0.0, max_time_s=0.05)
    timed = measure(lambda: time.sleep(0.01), effort)
    assert 1 <= timed.wall.size < 20


def test_interleaved_gives_the_faster_contender_more_calls_and_orders_ratios():
    out = interleaved({"fast": lambda: time.sleep(0.0005), "slow": lambda: time.sleep(0.004)}, FAST)
    assert out["fast"].wall.size >= out["slow"].wall.size >= 5
    ratio = Ratio.of("x", out["fast"].wall, out["slow"].wall, "fast", "slow", "", "wall")
    assert ratio.value > 2
    # sleeping costs no CPU: the CPU clock must not count it
    assert np.median(out["slow"].cpu) < 0.5 * np.median(out["slow"].wall)


def test_stats_percentiles_and_throughput():
    s = Stats.of(np.arange(1.0, 101.0))
    assert (s.n, s.min) == (100, 1.0)
    assert s.p50 == 50.5 and 95 < s.p95 < 96 and 99 < s.p99 < 100
    assert s.per_second == 1e3 / 50.5
