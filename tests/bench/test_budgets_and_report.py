"""Budgets fail only on measured ratios; RESULTS.md keeps the sections it does not own."""
from __future__ import annotations

import numpy as np
import pytest

from edgesig.bench import budgets, report
from edgesig.bench.record import Ratio, Report, Row, Section, Stats, Value

RULES = {
    "ratios": {"lnps_numba_vs_iisignature_batched": {"min": 3.0, "target": 4.0},
               "*_int8_vs_torch_t1": {"min": 3.0}, "never_measured": {"min": 2.0}},
    "targets": {"online.*.verify.n1000.t[1-]": {"max_ms": 3.0, "pick": "best", "stat": "p50"}},
    "values": {"store.verify_overhead_ms": {"max": 0.5}},
}


def _report(lnps_ratio: float) -> Report:
    rows = [Row("a", Stats.of(np.array([5.0, 6.0])), None, key="online.dtw.verify.n1000.t-"),
            Row("b", Stats.of(np.array([2.0, 2.5])), 1, key="online.gru.verify.n1000.t1")]
    sec = Section("x", "X", rows=rows, values=[Value("overhead", 0.7, "ms", key="store.verify_overhead_ms")],
                  ratios=[Ratio("lnps_numba_vs_iisignature_batched", lnps_ratio, "numba", "iisignature"),
                          Ratio("gru_int8_vs_torch_t1", 3.5, "int8", "torch")])
    return Report({"mode": "quick"}, [sec, Section("y", "Y", skipped="not installed")])


def test_ratio_below_min_fails_and_unmeasured_is_not_a_failure():
    rep = _report(2.0)
    rep.budgets = budgets.check_ratios(rep, RULES)
    status = {b["budget"]: b["status"] for b in rep.budgets}
    assert status == {"lnps_numba_vs_iisignature_batched": "fail", "*_int8_vs_torch_t1": "pass",
                      "never_measured": "not measured"}
    assert not rep.budgets_ok
    rep = _report(3.2)
    rep.budgets = budgets.check_ratios(rep, RULES)
    assert rep.budgets_ok
    lnps = next(b for b in rep.budgets if b["budget"].startswith("lnps"))
    assert lnps["target_met"] is False


def test_absolute_targets_are_reported_never_failed():
    rep = _report(3.2)
    targets = budgets.check_targets(rep, RULES)
    best = next(t for t in targets if t["target"].startswith("online"))
    assert best["row"] == "online.gru.verify.n1000.t1" and best["status"] == "met"
    overhead = next(t for t in targets if t["target"].startswith("store"))
    assert overhead["status"] == "missed"
    rep.targets = targets
    assert rep.budgets_ok  # missed targets do not fail the run


def test_budget_file_errors_are_typed(tmp_path):
    with pytest.raises(budgets.BudgetFileError, match="not found"):
        budgets.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[ratios\n")
    with pytest.raises(budgets.BudgetFileError, match="not valid TOML"):
        budgets.load(bad)


def test_shipped_budget_file_has_only_ratio_gates():
    rules = budgets.load(budgets.BUDGETS_FILE)
    assert rules["ratios"] and all("min" in r for r in rules["ratios"].values())
    assert all("min" not in r for r in rules.get("targets", {}).values())


def test_markdown_replaces_only_its_own_block(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# results\n\nintro\n\n<!-- edgesig-accuracy:begin -->\nEER table\n"
                       "<!-- edgesig-accuracy:end -->\n")
    rep = _report(3.2)
    rep.meta = {"mode": "quick", "date": "d", "seed": 1, "command": "edgesig-bench", "git": None,
                "machine": {"cpu": "c", "logical_cpus": 2, "memory_gib": 1, "os": "o",
                            "load_average_start": [1, 1, 1], "load_average_end": [1, 1, 1]},
                "versions": {"numpy": "2"}}
    report.update_results(report.markdown(rep, None), results)
    first = results.read_text()
    assert "EER table" in first and "intro" in first and first.count(report.END) == 1
    assert "skipped: not installed" in first
    report.update_results(report.markdown(rep, "latency.png"), results)
    second = results.read_text()
    assert second.count(report.END) == 1 and "latency.png" in second and "EER table" in second


def test_text_table_lists_rows_ratios_and_skips():
    rep = _report(3.2)
    rep.meta = {"mode": "quick", "date": "d", "seed": 1,
                "machine": {"cpu": "c", "logical_cpus": 2, "load_average_start": None}, "versions": {}}
    out = report.text(rep)
    assert "p50 ms" in out
    assert "ratio lnps_numba_vs_iisignature_batched = 3.20x (median wall time of iisignature / numba" in out
    assert "skipped: not installed" in out
