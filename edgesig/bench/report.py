"""Turning a run into a plain-text table, JSON, a RESULTS.md section and a latency plot.

RESULTS.md is shared: the accuracy runner and other tools write their own sections, so
this module only replaces the text between its own markers and keeps everything else.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from edgesig.bench.record import Report, Row, Section

BEGIN = "<!-- edgesig-bench:begin (written by `edgesig-bench --markdown`; edits inside are lost) -->"
END = "<!-- edgesig-bench:end -->"
RESULTS_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "RESULTS.md"
PACKAGES = ("numpy", "numba", "onnxruntime", "opencv-python-headless", "cryptography", "torch",
            "iisignature", "pysiglib", "matplotlib")


def machine_meta(quick: bool, seed: int, threads: Iterable[int], lengths: Iterable[int],
                 argv: list[str]) -> dict[str, Any]:
    """Where and with what the run happened (no torch import: versions come from metadata)."""
    import edgesig
    versions = {"python": platform.python_version(), "edgesig": _version("edgesig") or edgesig.__version__}
    versions.update({p: v for p in PACKAGES if (v := _version(p))})
    return {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "mode": "quick" if quick else "full", "seed": seed, "threads": list(threads),
            "lengths": list(lengths), "command": "edgesig-bench " + " ".join(argv),
            "machine": {"cpu": _cpu_name(), "logical_cpus": os.cpu_count(), "memory_gib": _memory_gib(),
                        "os": platform.platform(), "load_average_start": _loadavg()},
            "versions": versions, "git": _git_revision()}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    return None


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _git_revision() -> str | None:
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+uncommitted changes" if dirty else "")) or None


def finish_meta(report: Report) -> None:
    report.meta["machine"]["load_average_end"] = _loadavg()


def overload_warning(meta: dict[str, Any]) -> str | None:
    """A warning when other jobs kept more runnable threads than there are CPUs."""
    mach = meta.get("machine", {})
    loads = [x for x in (mach.get("load_average_start"), mach.get("load_average_end")) if x]
    cpus = mach.get("logical_cpus") or 1
    peak = max((x[0] for x in loads), default=0.0)
    if peak <= cpus:
        return None
    return (f"the machine was overloaded (1-minute load average up to {peak:g} on {cpus} logical CPUs): "
            "wall-clock times and their tails are inflated, and 2-thread figures (thread pools that wait "
            "for each other) are unreliable; compare `cpu p50` and the CPU-time ratios")


# -- plain text -------------------------------------------------------------------------
def text(report: Report) -> str:
    m = report.meta
    lines = [f"edgesig-bench ({m['mode']}), {m['date']}, seed {m['seed']}",
             f"machine: {m['machine']['cpu']}, {m['machine']['logical_cpus']} logical CPUs, "
             f"load average {m['machine']['load_average_start']} -> {m['machine'].get('load_average_end')}",
             "versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items())]
    warning = overload_warning(m)
    lines += ([f"WARNING: {warning}"] if warning else []) + [""]
    for section in report.sections:
        lines += _text_section(section)
    lines += _text_verdicts(report)
    return "\n".join(lines)


def _text_section(section: Section) -> list[str]:
    head = f"== {section.title} =="
    if section.error:
        return [head, f"ERROR: {section.error}", ""]
    if section.skipped:
        return [head, f"skipped: {section.skipped}", ""]
    lines = [head]
    if section.rows:
        width = max(len(r.name) for r in section.rows)
        lines.append(f"{'':{width}}  threads      n   p50 ms   p95 ms   p99 ms      per s  cpu p50")
        for r in section.rows:
            s = r.stats
            lines.append(f"{r.name:{width}}  {_threads(r):>7} {s.n:>6} {s.p50:8.3f} {s.p95:8.3f} "
                         f"{s.p99:8.3f} {s.per_second:10.1f} {_cpu(s.cpu_p50):>8}")
    lines += [f"  {v.name}: {v.value:g} {v.unit}" for v in section.values]
    lines += [f"  ratio {r.key} = {r.value:.2f}x (median {r.clock} time of {r.slow} / {r.fast}; {r.note})"
              for r in section.ratios]
    lines += [f"  note: {n}" for n in section.notes]
    return lines + [f"  ({section.seconds:.1f} s)", ""]


def _text_verdicts(report: Report) -> list[str]:
    lines = []
    if report.targets:
        lines.append("== Targets (absolute; reported, never fail) ==")
        for t in report.targets:
            lines.append(f"  {t['status']:>12}  {t.get('what') or t['target']}: " + _target_value(t))
        lines.append("")
    if report.budgets:
        lines.append("== Ratio budgets (fail the run below min) ==")
        for b in report.budgets:
            value = f"{b['value']:.2f}x" if "value" in b else "-"
            lines.append(f"  {b['status']:>12}  {b.get('ratio', b['budget'])} = {value} (min {b['min']}"
                         + (f", target {b['target']}" if b.get("target") else "") + ")")
        lines.append("budgets: " + ("all pass" if report.budgets_ok else "FAILED"))
    return lines


def _target_value(t: dict[str, Any]) -> str:
    if "value" not in t:
        return f"(limit {t['max']} {t['unit']})"
    stat = f" {t['stat']}" if t.get("stat") else ""
    cpu = f", cpu p50 {t['cpu_p50']:.3g} ms" if t.get("cpu_p50") is not None else ""
    return f"{t['row']}{stat} = {_num(t['value'])} {t['unit']}{cpu} (limit {t['max']})"


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _threads(row: Row) -> str:
    return "-" if row.threads is None else str(row.threads)


# -- JSON ---------------------------------------------------------------------------------
def write_json(report: Report, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=1, default=_plain) + "\n")
    return path


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")


# -- markdown -----------------------------------------------------------------------------
def markdown(report: Report, plot: str | None) -> str:
    m = report.meta
    mach = m["machine"]
    lines = [BEGIN, "## Latency and speed ratios (`edgesig-bench`)", "",
             f"Run {m['date']}, mode **{m['mode']}**, seed {m['seed']}, git {m.get('git') or 'n/a'}. "
             f"Command: `{m['command']}`.", "",
             f"Machine: {mach['cpu']}, {mach['logical_cpus']} logical CPUs, {mach['memory_gib']} GiB, "
             f"{mach['os']}. Load average (1/5/15 min) {mach['load_average_start']} at the start, "
             f"{mach.get('load_average_end')} at the end: other jobs shared the cores, so absolute "
             "times are upper bounds and the ratios (interleaved, one run) are the robust figures. "
             "`cpu p50` is the median CPU time of the calling thread (single-threaded work only): "
             "what a call costs without waiting for a core.", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".", ""]
    warning = overload_warning(m)
    if warning:
        lines += [f"**Warning:** {warning}.", ""]
    lines += _md_verdicts(report)
    if plot:
        lines += [f"![latency distributions]({plot})", ""]
    for section in report.sections:
        lines += _md_section(section)
    lines.append(END)
    return "\n".join(lines)


def _md_verdicts(report: Report) -> list[str]:
    lines = []
    if report.targets:
        lines += ["### Targets (absolute; reported, never fail the run)", "",
                  "| target | measured | limit | status |", "|---|---|---|---|"]
        for t in report.targets:
            cpu = f"; cpu p50 {t['cpu_p50']:.3g} ms" if t.get("cpu_p50") is not None else ""
            got = f"{_num(t['value'])} {t['unit']} (`{t['row']}`{' ' + t['stat'] if t.get('stat') else ''}{cpu})" \
                if "value" in t else "–"
            lines.append(f"| {t.get('what') or t['target']} | {got} | {t['max']} {t['unit']} | {t['status']} |")
        lines.append("")
    if report.budgets:
        lines += ["### Ratio budgets (`benchmarks/budgets.toml`; below min fails the run)", "",
                  "| ratio | measured | min (CI) | target | status |", "|---|---|---|---|---|"]
        for b in report.budgets:
            value = f"{b['value']:.2f}×" if "value" in b else "–"
            target = "–" if b.get("target") is None else f"{b['target']}×"
            met = {True: ", target met", False: ", target missed"}.get(b.get("target_met"), "")
            lines.append(f"| `{b.get('ratio', b['budget'])}` | {value} | {b['min']}× | {target} | "
                         f"{b['status']}{met} |")
        lines.append("")
    return lines


def _md_section(section: Section) -> list[str]:
    lines = [f"### {section.title}", ""]
    if section.error:
        return lines + [f"error: {section.error}", ""]
    if section.skipped:
        return lines + [f"skipped: {section.skipped}", ""]
    if section.rows:
        lines += ["| operation | threads | n | p50 ms | p95 ms | p99 ms | per s | cpu p50 ms |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in section.rows:
            s = r.stats
            lines.append(f"| {r.name} | {_threads(r)} | {s.n} | {s.p50:.3f} | {s.p95:.3f} | {s.p99:.3f} | "
                         f"{s.per_second:.1f} | {_cpu(s.cpu_p50)} |")
        lines.append("")
    lines += [f"- {v.name}: **{v.value:g} {v.unit}**" for v in section.values]
    lines += [f"- ratio `{r.key}` = **{r.value:.2f}×** (median {r.clock} time of {r.slow} / {r.fast}; {r.note})"
              for r in section.ratios]
    lines += [f"- {n}" for n in section.notes]
    return lines + [""]


def update_results(block: str, path: str | Path = RESULTS_FILE) -> Path:
    """Replace this tool's section of RESULTS.md (or append it), keeping the rest."""
    path = Path(path)
    old = path.read_text() if path.is_file() else "# edgesig benchmark results\n\n"
    return replace_block(path, old, block, BEGIN, END)


def replace_block(path: Path, old: str, block: str, begin: str, end: str) -> Path:
    """Write ``old`` with the text from ``begin`` to ``end`` replaced by ``block`` (appended if absent)."""
    head = begin.split("(")[0].rstrip()
    start = old.find(head)
    stop = old.find(end, start) if start >= 0 else -1
    if start >= 0 and stop >= 0:
        new = old[:start] + block + old[stop + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new if new.endswith("\n") else new + "\n")
    return path


# -- plot ---------------------------------------------------------------------------------
def plot(report: Report, path: str | Path) -> tuple[Path | None, str]:
    """Box plots of per-call latency for every verify row; (path, note)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None, "plot: skipped: matplotlib is not installed (pip install 'edgesig[plots]')"
    rows = [r for s in report.sections if s.key in ("online", "offline", "store")
            for r in s.rows if r.samples_ms is not None and r.samples_ms.size and
            (".verify." in r.key or ".pair." in r.key or r.key.startswith("store.verify"))]
    if not rows:
        return None, "plot: skipped: no verify latencies were measured"
    labels = [r.name + ("" if r.threads is None else f" [{r.threads} thread{'s' if r.threads > 1 else ''}]")
              for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.6))
    ax.boxplot([r.samples_ms for r in rows], vert=False, whis=(1, 99), showfliers=True,
               flierprops={"markersize": 2})
    ax.set_yticks(range(1, len(rows) + 1), labels, fontsize=8)
    ax.invert_yaxis()  # first row on top, as in the tables
    ax.set_xscale("log")
    ax.set_xlabel("latency per call (ms, log scale); box = quartiles, whiskers = p1..p99")
    ax.set_title(f"edgesig verify latency per engine ({report.meta['mode']} run, {report.meta['date']})",
                 fontsize=10)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path, f"plot: wrote {path}"


def _num(value: float) -> str:
    """Three significant digits, without an exponent for values of a thousand and more."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"
