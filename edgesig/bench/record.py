"""What a benchmark run produces: latency rows, scalar values, ratios, grouped by section.

Plain dataclasses so one run can be printed as a table, written as JSON for machines,
rendered into RESULTS.md and plotted, all from the same numbers. Raw per-call samples
are kept in memory for the plot but left out of the JSON (summaries are what CI reads).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgesig.bench.timing import Timed


@dataclass(frozen=True)
class Stats:
    """Summary of per-call latencies in milliseconds."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    min: float
    cpu_p50: float | None = None     # median CPU time of the calling thread (single-threaded work)

    @classmethod
    def of(cls, samples_ms: np.ndarray, cpu_ms: np.ndarray | None = None) -> "Stats":
        s = np.asarray(samples_ms, dtype=np.float64)
        p50, p95, p99 = np.percentile(s, [50, 95, 99])
        cpu = None if cpu_ms is None else float(np.median(cpu_ms))
        return cls(int(s.size), float(p50), float(p95), float(p99), float(s.mean()), float(s.min()), cpu)

    @property
    def per_second(self) -> float:
        """Throughput of one caller: calls per second at the mean latency."""
        return 1e3 / self.mean if self.mean > 0 else float("inf")

    def to_dict(self) -> dict[str, float]:
        return {"n": self.n, "p50_ms": self.p50, "p95_ms": self.p95, "p99_ms": self.p99,
                "mean_ms": self.mean, "min_ms": self.min, "per_second": self.per_second,
                "cpu_p50_ms": self.cpu_p50}


@dataclass
class Row:
    """One timed operation. ``threads`` is None where the thread setting does not apply
    (single-threaded numba kernels, pure Python)."""

    name: str
    stats: Stats
    threads: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    samples_ms: np.ndarray | None = field(default=None, repr=False)
    key: str = ""            # stable id used by ratios, the plot and the JSON

    @classmethod
    def of(cls, name: str, timed: Timed, threads: int | None, params: dict[str, Any], key: str) -> "Row":
        """A row from timed calls; the CPU median is kept only where the work stays on the
        calling thread (one thread, or no thread setting)."""
        cpu = timed.cpu if threads in (None, 1) else None
        return cls(name, Stats.of(timed.wall, cpu), threads, params, timed.wall, key)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key or self.name, "name": self.name, "threads": self.threads,
                "params": self.params, **self.stats.to_dict()}


@dataclass(frozen=True)
class Value:
    """A measured scalar that is not a latency distribution (bytes, MiB, seconds once)."""

    name: str
    value: float
    unit: str
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key or self.name, "name": self.name, "value": self.value, "unit": self.unit}


@dataclass(frozen=True)
class Ratio:
    """How many times faster ``fast`` is than ``slow``: median over median, same run, interleaved.

    ``key`` is the name budgets refer to, e.g. ``lnps_numba_vs_iisignature_batched``;
    ``clock`` says whether per-call thread CPU times ("cpu", for single-threaded
    contenders) or wall-clock times ("wall") were compared.
    """

    key: str
    value: float
    fast: str
    slow: str
    note: str = ""
    clock: str = "wall"

    @classmethod
    def of(cls, key: str, fast_ms: np.ndarray, slow_ms: np.ndarray, fast: str, slow: str, note: str,
           clock: str) -> "Ratio":
        return cls(key, float(np.median(slow_ms) / np.median(fast_ms)), fast, slow, note, clock)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "fast": self.fast, "slow": self.slow,
                "note": self.note, "clock": self.clock}


@dataclass
class Section:
    """One benchmark section; ``skipped`` holds the reason when it could not run at all."""

    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    values: list[Value] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None          # the section crashed: a bug, not a missing component
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return "error" if self.error else "skipped" if self.skipped else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "status": self.status, "skipped": self.skipped,
                "error": self.error,
                "rows": [r.to_dict() for r in self.rows], "values": [v.to_dict() for v in self.values],
                "ratios": [r.to_dict() for r in self.ratios], "notes": list(self.notes),
                "seconds": self.seconds}


@dataclass
class Report:
    """A whole run: machine and version facts, the sections, and the budget verdicts."""

    meta: dict[str, Any]
    sections: list[Section] = field(default_factory=list)
    budgets: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)

    def ratios(self) -> dict[str, Ratio]:
        return {r.key: r for s in self.sections for r in s.ratios}

    def rows(self) -> dict[str, Row]:
        return {r.key: r for s in self.sections for r in s.rows if r.key}

    def values(self) -> dict[str, Value]:
        return {v.key: v for s in self.sections for v in s.values if v.key}

    @property
    def budgets_ok(self) -> bool:
        return all(b["status"] != "fail" for b in self.budgets)

    def to_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "sections": [s.to_dict() for s in self.sections],
                "ratios": {k: r.value for k, r in self.ratios().items()},
                "budgets": self.budgets, "budgets_ok": self.budgets_ok, "targets": self.targets}
