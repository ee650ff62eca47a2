"""edgesig-bench: latency, memory and speed-ratio benchmarks of the installed SDK.

Integrators choose an SDK on its latency figures and we must see every regression, but
benchmark machines are noisy (shared cores, turbo, other jobs). So every section reports
distributions (p50/p95/p99 over many calls after a warm-up) rather than single times,
comparisons are interleaved in one run and reported as ratios, and the CI gate
(``benchmarks/budgets.toml``) checks only those ratios. Inputs are generated (synthetic
writers, rendered images, fixed seed), so the benchmark runs on any machine.

Sections run only when their component is installed and say ``skipped: <why>`` otherwise.
"""
from edgesig.bench.record import Ratio, Report, Row, Section, Stats, Value

__all__ = ["Ratio", "Report", "Row", "Section", "Stats", "Value"]
