"""Budgets: the CI gate on speed ratios, and the absolute targets that are only reported.

Absolute times depend on the machine and on whatever else runs on it, so they never
fail a build; ratios measured interleaved in one run do not, so they can. The budget
file (TOML) has three tables:

* ``[ratios.KEY]`` with ``min`` (fails the run when a measured ratio is below it) and
  optionally ``target`` (the issue's goal, reported) and ``why``. KEY may be a shell
  pattern (``"*_int8_vs_torch_t1"``). A ratio that was not measured is "not measured",
  never a failure: components land independently.
* ``[targets.ROW_PATTERN]`` with ``max_ms``, ``stat`` (p50/p95/p99), ``pick`` ("best"
  of the matching rows, or "each") and ``what``: reported as met / missed.
* ``[values.KEY]`` with ``max`` (and ``what``): scalar targets, reported likewise.
"""
from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

from edgesig.bench.record import Report

BUDGETS_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "budgets.toml"


class BudgetFileError(Exception):
    """The budget file cannot be read (missing, invalid TOML, no TOML parser)."""


def load(path: str | Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise BudgetFileError("reading budgets needs Python 3.11+ (tomllib) or `pip install tomli` "
                                  "on Python 3.10; budgets were not checked") from None
    path = Path(path)
    if not path.is_file():
        raise BudgetFileError(f"budget file {path} not found; pass --budgets PATH or --no-budgets")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BudgetFileError(f"budget file {path} is not valid TOML: {exc}") from None


def check_ratios(report: Report, budgets: dict[str, Any]) -> list[dict[str, Any]]:
    """One verdict per budget line: pass, fail (measured below min) or not measured."""
    measured = report.ratios()
    out = []
    for pattern, rule in budgets.get("ratios", {}).items():
        keys = sorted(k for k in measured if fnmatch.fnmatchcase(k, pattern))
        if not keys:
            out.append({"budget": pattern, "status": "not measured", "min": rule["min"],
                        "target": rule.get("target"), "why": rule.get("why", "")})
        for key in keys:
            value = measured[key].value
            target = rule.get("target")
            out.append({"budget": pattern, "ratio": key, "value": value, "min": rule["min"], "target": target,
                        "status": "pass" if value >= rule["min"] else "fail",
                        "target_met": None if target is None else value >= target, "why": rule.get("why", "")})
    return out


def check_targets(report: Report, budgets: dict[str, Any]) -> list[dict[str, Any]]:
    """Absolute targets, reported as met / missed / not measured; never a failure."""
    rows, values = report.rows(), report.values()
    out = []
    for pattern, rule in budgets.get("targets", {}).items():
        stat = rule.get("stat", "p50")
        hits = [rows[k] for k in sorted(rows) if fnmatch.fnmatchcase(k, pattern)]
        if rule.get("pick", "each") == "best" and hits:
            hits = [min(hits, key=lambda r: getattr(r.stats, stat))]
        if not hits:
            out.append({"target": pattern, "what": rule.get("what", ""), "status": "not measured",
                        "max": rule["max_ms"], "unit": "ms"})
        for row in hits:
            value = getattr(row.stats, stat)
            out.append({"target": pattern, "what": rule.get("what", ""), "row": row.key, "stat": stat,
                        "value": value, "cpu_p50": row.stats.cpu_p50, "max": rule["max_ms"], "unit": "ms",
                        "status": "met" if value <= rule["max_ms"] else "missed"})
    for pattern, rule in budgets.get("values", {}).items():
        hits = [values[k] for k in sorted(values) if fnmatch.fnmatchcase(k, pattern)]
        if not hits:
            out.append({"target": pattern, "what": rule.get("what", ""), "status": "not measured",
                        "max": rule["max"], "unit": rule.get("unit", "")})
        for v in hits:
            out.append({"target": pattern, "what": rule.get("what", ""), "row": v.key, "value": v.value,
                        "max": rule["max"], "unit": v.unit, "status": "met" if v.value <= rule["max"] else "missed"})
    return out
