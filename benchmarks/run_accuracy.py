"""Regenerate the accuracy tables of benchmarks/RESULTS.md from the project's own commands.

Accuracy figures must come from commands anyone can re-run, so this script only runs
the CLIs that produce them and tabulates their JSON output:

* ``edgesig eval svc2004 DATA --engine NAME --refs 5 --users 21-40`` for every installed
  pen engine and ``edgesig eval offline DATA --engine NAME --refs 5 --users 1-10`` (clean
  renders) for every image engine: the shipped engines on writers they were not tuned
  or trained on;
* ``--tune``: ``edgesig tune svc2004 DATA --no-install`` (DTW grid on writers 1-20,
  reported once on 21-40);
* ``--train``: the writer-independent k-fold evaluations of the learned engines,
  ``python -m export online evaluate`` and ``python -m export offline cv``. They train
  one network per fold and take tens of minutes to hours on a CPU. Without ``--train``
  their last results (``build/online/cv.json``, ``build/offline/cv.json``,
  ``build/offline/ablation_fold*.json``) are tabulated when present, with the command
  recorded in them.

Commands that do not exist in this checkout are listed as skipped. The section between
the accuracy markers in RESULTS.md is replaced; everything else in the file is kept.

    PYTHONPATH=. python benchmarks/run_accuracy.py [--data DIR] [--tune] [--train] [--dry-run]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "svc2004_task2"
BEGIN = "<!-- edgesig-accuracy:begin (written by benchmarks/run_accuracy.py; edits inside are lost) -->"
END = "<!-- edgesig-accuracy:end -->"
PERCENT = ("eer", "far", "frr", "mean_user_eer")


@dataclass
class Run:
    """One command: what it is, how it went, and the JSON it left."""

    label: str
    argv: list[str]
    output: Path
    status: str = "pending"
    seconds: float = 0.0
    detail: str = ""
    data: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def command(self) -> str:
        """The command as a reader would type it: `python`, paths relative to the repository."""
        shown = ["python" if a == sys.executable else _relative(a) for a in self.argv]
        return " ".join(shlex.quote(a) for a in shown)


def _relative(arg: str) -> str:
    path = Path(arg)
    if not path.is_absolute():
        return arg
    return os.path.relpath(path, ROOT) if path.resolve().is_relative_to(ROOT.parent) else arg


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _help(argv: list[str]) -> str | None:
    """The --help text of a (sub)command, or None when it does not exist."""
    proc = subprocess.run(argv + ["--help"], capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=120)
    return proc.stdout if proc.returncode == 0 else None


def _has_subcommand(group: list[str], name: str) -> bool:
    text = _help(group)
    return text is not None and any(line.split()[:1] == [name] for line in text.splitlines())


def _edgesig() -> list[str]:
    return [sys.executable, "-m", "edgesig.cli"]


def _export() -> list[str]:
    return [sys.executable, "-m", "export"]


def eval_runs(data: Path, work: Path, models_dir: str | None) -> list[Run]:
    """``edgesig eval`` per installed engine (pen via svc2004, image via offline if present)."""
    sys.path.insert(0, str(ROOT))
    from edgesig.engines import ENGINE_TYPES
    from edgesig.runtime import Manifest
    entries = [e for e in Manifest(models_dir).entries.values() if e.name in ENGINE_TYPES]
    runs = []
    for entry in sorted(entries, key=lambda e: (e.modality, e.name)):
        sub = "svc2004" if entry.modality == "pen" else "offline"
        out = work / f"eval-{entry.name}"
        group = _edgesig() + ["eval"]
        if not _has_subcommand(group, sub):
            runs.append(Run(f"{entry.name} ({entry.modality})", group + [sub], out, "skipped",
                            detail=f"`edgesig eval {sub}` does not exist in this checkout"))
            continue
        options = _help(group + [sub]) or ""
        argv = group + [sub, str(data)]
        # pen engines were tuned on 1-20; the image models never saw 1-10 (eval offline's default)
        users = ("--users", "21-40") if entry.modality == "pen" else ("--users", "1-10")
        for flag, value in (("--engine", entry.name), ("--refs", "5"), users, ("--out", str(out))):
            if flag in options:
                argv += [flag, value]
        runs.append(Run(f"{entry.name} ({entry.modality})", argv, out / "report.json"))
    return runs


def tune_run(data: Path, work: Path) -> Run:
    out = work / "tune"
    return Run("dtw grid (tune on 1-20, test 21-40)",
               _edgesig() + ["tune", "svc2004", str(data), "--no-install", "--out", str(out)], out / "tuning.json")


def training_runs(data: Path, work: Path, train: bool) -> list[Run]:
    """k-fold CV of the learned engines: run with --train, else tabulate the last results."""
    runs = []
    specs = [("online GRU k-fold", ["online", "evaluate"], "--out", work / "online" / "cv.json", "online"),
             ("offline SDINet k-fold", ["offline", "cv"], "--work", work / "offline" / "cv.json", "offline")]
    for label, sub, flag, fresh, area in specs:
        group = _export() + sub[:1]
        if not _has_subcommand(group, sub[1]):
            runs.append(Run(label, group + sub[1:], fresh, "skipped",
                            detail=f"`python -m export {' '.join(sub)}` does not exist in this checkout"))
            continue
        target = fresh if flag == "--out" else fresh.parent
        argv = group + sub[1:] + ["--data", str(data), flag, str(target)]
        last = sorted((ROOT / "build" / area).glob("cv*.json"))
        if train:
            runs.append(Run(label, argv, fresh))
        elif not last:
            runs.append(Run(label, argv, fresh, "skipped",
                            detail=f"no previous result (build/{area}/cv*.json); run with --train"))
        runs += [Run(f"{label} ({path.stem})", argv, path, "reused") for path in last if not train]
    for path in sorted((ROOT / "build" / "offline").glob("ablation_fold*.json")):
        runs.append(Run(f"offline SDINet ablation ({path.stem})", [], path, "reused"))
    return runs


def execute(run: Run, dry_run: bool) -> None:
    if run.status in ("skipped",):
        return
    if run.status == "pending":
        if dry_run:
            run.status, run.detail = "dry run", "not executed"
            return
        print(f"$ {run.command}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        proc = subprocess.run(run.argv, cwd=ROOT, env=_env(), text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        run.seconds = time.perf_counter() - start
        if proc.returncode != 0:
            run.status = "failed"
            run.detail = " | ".join(proc.stdout.strip().splitlines()[-3:])
            return
        run.status = "ran"
    if run.output.is_file():
        run.data = json.loads(run.output.read_text())
    elif run.status == "ran":
        run.status, run.detail = "failed", f"{run.output} was not written"


# -- markdown -------------------------------------------------------------------------------
def _pct(value: Any) -> str:
    return f"{100 * value:.2f}" if isinstance(value, (int, float)) else "–"


def _metrics(d: dict[str, Any]) -> str:
    auc = d.get("auc")
    return " | ".join([_pct(d.get("eer")), _pct(d.get("far")), _pct(d.get("frr")),
                       f"{auc:.4f}" if isinstance(auc, (int, float)) else "–", _pct(d.get("mean_user_eer"))])


def _eval_table(runs: list[Run]) -> list[str]:
    lines = ["### Shipped engines on SVC2004 Task 2 (`edgesig eval`)", "",
             "Skilled forgeries, 5 references. Pen engines on writers 21-40 (the DTW engine was tuned "
             "on 1-20), image engines on clean renders of writers 1-10 (trained on 16-40). "
             "FAR/FRR at the engine's installed threshold. Values in %, AUC as a fraction. "
             "`manifest val_eer` is the figure recorded at install that `engine=\"auto\"` selects on "
             "(validation writers for DTW; mean k-fold test EER for learned engines, which for a "
             "network trained on all 40 writers is the honest figure, not the eval above).", "",
             "| engine | version | EER | FAR@thr | FRR@thr | AUC | mean user EER | manifest val_eer | status |",
             "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        d = run.data or {}
        metrics = d.get("engine_metrics", {})
        lines.append(f"| {run.label} | {d.get('engine_version', '–')} | {_metrics(d)} | "
                     f"{_pct(metrics.get('val_eer'))} | {run.status}{': ' + run.detail if run.detail else ''} |")
    return lines + [""]


def _tune_table(run: Run) -> list[str]:
    lines = ["### DTW tuning (`edgesig tune svc2004`)", ""]
    if not run.data:
        return lines + [f"{run.status}: {run.detail or 'not run (pass --tune)'}", ""]
    lines += ["| split | EER | FAR@val thr | FRR@val thr | AUC | mean user EER |", "|---|---|---|---|---|---|"]
    for split in ("validation", "test"):
        if split in run.data:
            lines.append(f"| {split} | {_metrics(run.data[split])} |")
    return lines + [""]


def _cv_table(runs: list[Run]) -> list[str]:
    lines = ["### Learned engines, writer-independent k-fold (`python -m export ...`)", "",
             "Per fold: test writers never seen in training; thresholds from validation writers. "
             "Values in %, AUC as a fraction.", "",
             "| run | fold | EER | FAR@val thr | FRR@val thr | AUC | mean user EER |", "|---|---|---|---|---|---|---|"]
    for run in runs:
        if not run.data:
            lines.append(f"| {run.label} | – | – | – | – | – | {run.status}: {run.detail} |")
            continue
        if "runs" in run.data:  # ablation: one row per variant
            for name, r in run.data["runs"].items():
                lines.append(f"| {run.label}: {name} | {r.get('fold', '–')} | {_metrics(r)} |")
            continue
        for f in run.data.get("folds", []):
            for cond, metrics in _conditions(f):
                lines.append(f"| {run.label}{cond} | {f.get('fold', '–')} | {_metrics(metrics)} |")
        for cond, metrics in _conditions(run.data.get("mean", {})):
            lines.append(f"| **{run.label}{cond}** | **mean** | {_metrics(metrics)} |")
    return lines + [""]


def _conditions(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The metric dicts of one result: itself, or one per test condition (``test.clean``,
    ``test.camera``, ... as the offline k-fold writes them)."""
    if "eer" in result:
        return [("", result)]
    nested = result.get("test", result)
    return [(f", {name}", m) for name, m in nested.items() if isinstance(m, dict) and "eer" in m]


def _commands(runs: list[Run]) -> list[str]:
    lines = ["Commands (status, seconds):", "", "```"]
    for run in runs:
        recorded = run.data.get("command") if isinstance(run.data, dict) else None
        cmd = recorded if run.status == "reused" and recorded else run.command
        if cmd:
            lines.append(f"{cmd}    # {run.status}{f', {run.seconds:.0f} s' if run.seconds else ''}")
    return lines + ["```", ""]


def markdown(evals: list[Run], tune: Run | None, cvs: list[Run], data: Path) -> str:
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [BEGIN, "## Accuracy (SVC2004 Task 2, skilled forgeries)", "",
             f"Regenerated {date} by `PYTHONPATH=. python benchmarks/run_accuracy.py "
             f"{' '.join(shlex.quote(a) for a in sys.argv[1:])}` on `{data.name}`.", ""]
    lines += _eval_table(evals)
    if tune is not None:
        lines += _tune_table(tune)
    lines += _cv_table(cvs)
    extra = sorted(p.name for p in (ROOT / "benchmarks").glob("RESULTS_*.md"))
    if extra:
        lines += ["Detailed tables written by the training commands: "
                  + ", ".join(f"[{n}]({n})" for n in extra) + ".", ""]
    lines += _commands(evals + ([tune] if tune else []) + cvs)
    return "\n".join(lines + [END])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SVC2004 Task 2 folder")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "accuracy", help="outputs of the commands")
    parser.add_argument("--models-dir", default=None, help="evaluate the engines of this models folder")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--tune", action="store_true", help="also run the DTW grid search (minutes)")
    parser.add_argument("--train", action="store_true", help="re-run the k-fold training evaluations (hours on CPU)")
    parser.add_argument("--dry-run", action="store_true", help="list the commands, run nothing, write nothing")
    args = parser.parse_args()
    if not (args.data / "U1S1.TXT").is_file():
        print(f"error: SVC2004 Task 2 not found at {args.data}; pass --data DIR", file=sys.stderr)
        return 2
    evals = eval_runs(args.data, args.work, args.models_dir)
    tune = tune_run(args.data, args.work) if args.tune else None
    cvs = training_runs(args.data, args.work, args.train)
    for run in evals + ([tune] if tune else []) + cvs:
        execute(run, args.dry_run)
        print(f"{run.label}: {run.status} {run.detail}".rstrip(), file=sys.stderr)
    if args.dry_run:
        return 0
    sys.path.insert(0, str(ROOT))
    from edgesig.bench.report import replace_block
    block = markdown(evals, tune, cvs, args.data)
    old = args.results.read_text() if args.results.is_file() else "# edgesig benchmark results\n\n"
    print(f"updated {replace_block(args.results, old, block, BEGIN, END)}")
    return 1 if any(r.status == "failed" for r in evals + ([tune] if tune else []) + cvs) else 0


if __name__ == "__main__":
    sys.exit(main())
