"""Does a learned decision (``edgesig.eval.combiner``) beat the DTW engine's plain rule?

The engines' DTW parameters are the installed ones (chosen on fold 0's validation
writers); only the decision changes. Every writer of the four pen sets is scored once
into rows of named terms (``term_rows``, the protocol's own loop), then per fold the
combiner is fitted on that fold's training writers, its terms and L2 chosen either way
``choose_combiner`` offers (``pooled``: the mean over sets of its validation EER;
``lodo``, what ``edgesig tune online --combiner`` does by default: the mean over sets of
the validation EER of the combiner fitted without that set), one threshold fitted on all
its validation writers, and its test writers scored once; the plain rule (min + mean +
weight x the mean global deviation, the same weighted sum) gets its threshold the same way. Leave-one-dataset-out: the
combiner and threshold from the other sets' writers only, tested on the left-out set.
Where the installed entries carry a decision block, ``Engine.decide`` is timed with and
without it. Last, FAR by forger skill at each rule's threshold on synthetic writers.

    PYTHONPATH=. python benchmarks/online_combiner.py --out build/online/combiner.json
"""
from __future__ import annotations

import json
import pickle
import timeit
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

from edgesig.decision import Combiner, ReferenceStats, fit_calibration
from edgesig.engines import load_engine
from edgesig.engines.dtw import N_GLOBAL, DtwEngine
from edgesig.eval.combiner import SELECT, TermRows, choose_combiner, term_rows
from edgesig.eval.datasets import FOLDS, split
from edgesig.eval.protocols import ONLINE_SETS, Report, UserSamples, load_set, set_figures
from edgesig.runtime import Manifest, ModelEntry
from edgesig.synth import make_population

#: Each variant and the sets it runs on (the verifier sends pens without pressure to dtw-nopressure).
VARIANTS = {"dtw": ("svc2004-task2", "susig", "mcyt"), "dtw-nopressure": ONLINE_SETS}
Decide = Callable[[dict[str, TermRows], dict[str, TermRows]], Combiner]


def plain_rule(entry: ModelEntry) -> Combiner:
    """The entry's plain rule as a weighted sum of the same terms: min + mean + weight · mean deviation."""
    w = entry.params["global"]["weight"] / N_GLOBAL
    return Combiner(("min", "mean", *DtwEngine(entry).term_names[:N_GLOBAL]), (1.0, 1.0, *(w,) * N_GLOBAL))


def all_rows(entry: ModelEntry, sets: tuple[str, ...], cache: Path) -> dict[str, TermRows]:
    """Every writer with skilled forgeries of ``sets`` as term rows of ``entry``'s engine
    (cached: the DTW work)."""
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    engine = DtwEngine(entry)
    out = {}
    for name in sets:
        users = [u for part in ("train", "val", "test") for u in load_set(name, part)]
        out[name] = term_rows(engine, users)
        click.echo(f"{entry.name} {name}: {len(users)} writers", err=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(out))
    return out


def part(rows: TermRows, name: str, which: str, fold: int) -> TermRows:
    wanted = {int(w) for w in split(name, which, fold)}
    return replace(rows, users=[u for u in rows.users if u.user in wanted])


def run(rows: dict[str, TermRows], fold: int, decide: Decide, fit_on: tuple[str, ...],
        test_on: tuple[str, ...]) -> dict[str, Any]:
    """Decision from ``fit_on``'s training and validation writers, threshold from their
    validation writers, figures on ``test_on``'s test writers."""
    train = {s: part(rows[s], s, "train", fold) for s in fit_on}
    val = {s: part(rows[s], s, "val", fold) for s in fit_on}
    combiner = decide(train, val)
    val_reports = {s: v.report(combiner) for s, v in val.items()}
    pooled = Report([u for r in val_reports.values() for u in r.users])
    threshold = fit_calibration(pooled.genuine, pooled.forgery).threshold
    per_set = {s: set_figures(val_reports.get(s), part(rows[s], s, "test", fold).report(combiner), threshold)
               for s in test_on}
    return {"decision": combiner.to_dict(), "threshold": threshold, "per_set": per_set,
            "mean_val_eer": float(np.mean([r.summary()["eer"] for r in val_reports.values()]))}


def _pct(f: dict[str, Any], key: str) -> str:
    lo, hi = f.get(f"{key}_ci95", (None, None))
    return f"{100 * f[key]:.2f}" + (f" ({100 * lo:.1f}–{100 * hi:.1f})" if lo is not None else "")


def table(variant: str, res: dict[str, Any]) -> list[str]:
    """Markdown rows: per fold and set, each rule's figures; then leave-one-dataset-out."""
    rules = list(res)
    names = " / ".join(rules)

    def cells(figs: list[dict[str, Any]], key: str) -> str:
        return " / ".join(_pct(f, key) for f in figs)

    def rates(figs: list[dict[str, Any]]) -> str:
        return " ; ".join(f"{100 * f['test_far']:.2f} / {100 * f['test_frr']:.2f}" for f in figs)
    out = [f"\n{variant}: fold | set | validation {names} | test {names} | FAR / FRR {names}", "|---|---|---|---|---|"]
    for k in range(FOLDS):
        folds = [res[r]["folds"][k] for r in rules]
        for s in folds[0]["per_set"]:
            figs = [f["per_set"][s] for f in folds]
            out.append(f"| {k} | {s} | {cells(figs, 'val_eer')} | {cells(figs, 'test_eer')} | {rates(figs)} |")
        means = " / ".join(f"{100 * f['mean_val_eer']:.2f}" for f in folds)
        out.append(f"| {k} | mean | {means} | | |")
    out += [f"\n{variant} left out: set | test {names} | FAR / FRR {names}", "|---|---|---|"]
    for s in res[rules[0]]["leave_one_out"]:
        figs = [res[r]["leave_one_out"][s]["per_set"][s] for r in rules]
        out.append(f"| {s} | {cells(figs, 'test_eer')} | {rates(figs)} |")
    return out


def decide_cost(name: str, repeats: int = 2000) -> tuple[float, float]:
    """Microseconds per ``Engine.decide`` of the installed entry without and with its decision
    block, on one SVC2004 Task 2 test writer's first query (the distances are computed once:
    the decision adds no DTW run)."""
    learned = load_engine(name, Manifest())
    plain = type(learned)(replace(learned.entry, params={k: v for k, v in learned.entry.params.items()
                                                          if k != "decision"}))
    user = load_set("svc2004-task2", "test")[0]
    refs = [learned.prepare(p) for p in user.genuine[:5]]
    query = learned.prepare(user.genuine[5])
    distances, stats = learned.distances(query, refs), ReferenceStats.from_matrix(learned.pairwise(refs))
    out = []
    for engine in (plain, learned):
        times = timeit.repeat(lambda: engine.decide(distances, stats, query, refs), number=repeats, repeat=5)
        out.append(min(times) / repeats * 1e6)
    return out[0], out[1]


def synthetic_far(entry: ModelEntry, folds: dict[str, dict[str, Any]], writers: int = 30,
                  skills: tuple[float, ...] = (0.0, 0.5, 1.0)) -> dict[str, dict[str, float]]:
    """FAR / FRR at each rule's fold-0 threshold on sigma-lognormal writers (a pad neither
    rule was fitted on), with 5 forgeries of each skill per writer: what the serve demo's
    synthetic forgeries meet."""
    rng = np.random.default_rng(0)
    users = [UserSamples(i, [w.genuine(rng) for _ in range(10)],
                         [w.forgery(rng, skill=k) for k in skills for _ in range(5)])
             for i, w in enumerate(make_population(writers, 11))]
    rows = term_rows(DtwEngine(entry), users)
    out = {}
    for rule, fold in folds.items():
        report = rows.report(Combiner.from_dict(fold["decision"]))
        forged = np.array([u.forgery for u in report.users]).reshape(writers, len(skills), 5) <= fold["threshold"]
        out[rule] = {"frr": float((report.genuine > fold["threshold"]).mean()),
                     **{f"far_skill_{k:g}": float(forged[:, i].mean()) for i, k in enumerate(skills)}}
    return out


@click.command()
@click.option("--out", default="build/online/combiner.json", show_default=True)
@click.option("--cache", default="build/online/combiner_rows", show_default=True,
              help="folder for the scored term rows (delete it after changing the engines)")
def main(out: str, cache: str) -> None:
    manifest = Manifest()
    result: dict[str, Any] = {}
    for variant, sets in VARIANTS.items():
        entry = manifest.get(variant)
        rows = all_rows(entry, sets, Path(cache) / f"{variant}.pkl")
        rules: dict[str, Decide] = {"plain": lambda train, val: plain_rule(entry),
                                    **{select: lambda train, val, select=select: choose_combiner(
                                        train, val, select=select).combiner for select in SELECT}}
        result[variant] = {rule: {"folds": [run(rows, k, decide, sets, sets) for k in range(FOLDS)],
                                  "leave_one_out": {s: run(rows, 0, decide, tuple(x for x in sets if x != s), (s,))
                                                    for s in sets}}
                           for rule, decide in rules.items()}
        for line in table(variant, result[variant]):
            click.echo(line)
        result[variant]["synthetic"] = synthetic_far(entry, {r: result[variant][r]["folds"][0] for r in rules})
        click.echo(f"{variant} synthetic writers, at the fold-0 thresholds: " + "; ".join(
            f"{r} " + ", ".join(f"{k} {100 * v:.1f}" for k, v in f.items()) for r, f in result[variant]["synthetic"].items()))
        if "decision" in entry.params:
            result[variant]["decide_us"] = decide_cost(variant)
            click.echo(f"{variant} decide: plain rule {result[variant]['decide_us'][0]:.1f} µs, "
                       f"learned {result[variant]['decide_us'][1]:.1f} µs")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
