"""Why a learned decision's threshold does not carry to a pad it was not fitted on.

For each pen set S (fold 0), a decision of the given term families is fitted on the other
sets' training writers and thresholded at the EER point of their validation writers, as
``choose_combiner(select="lodo")`` does; then S's training and validation writers (never
its test writers) are scored at that threshold. Printed per set: FAR / FRR at the carried
threshold, and, term by term, the decision's weight times the mean of the term over each
set's genuine tests (its contribution to a genuine signature's score): a term whose
contribution on S is far above the other sets' is what pushes S's genuine signatures
over the carried threshold.

``--exclude down_fraction`` leaves that feature's terms out of the decision (the rows lose
those columns), to see how much of the shift one feature carries.

    PYTHONPATH=. python benchmarks/online_threshold_carry.py --cache build/online/rows13
    PYTHONPATH=. python benchmarks/online_threshold_carry.py --cache build/online/rows13 --exclude down_fraction
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click
import numpy as np

from benchmarks.online_combiner import VARIANTS, all_rows, part
from edgesig.decision import fit_calibration
from edgesig.eval.combiner import CombinerChoice, TermRows, fit_combiner
from edgesig.runtime import Manifest


def genuine(rows: TermRows, cols: list[int]) -> np.ndarray:
    """Every genuine test's values of the columns ``cols``, writers stacked."""
    return np.concatenate([u.genuine[:, cols] for u in rows.users])


def without(rows: TermRows, suffixes: tuple[str, ...]) -> TermRows:
    """``rows`` without the terms whose names end with one of ``suffixes``."""
    keep = [i for i, n in enumerate(rows.names) if not n.endswith(suffixes)]
    return TermRows(tuple(rows.names[i] for i in keep),
                    [replace(u, genuine=u.genuine[:, keep], forgery=u.forgery[:, keep]) for u in rows.users])


def carry(rows: dict[str, TermRows], left_out: str, choice: CombinerChoice) -> list[str]:
    """Markdown lines: ``left_out``'s FAR / FRR at the other sets' threshold, then each
    term's contribution to the genuine score per set (training and validation writers)."""
    others = [s for s in rows if s != left_out]
    combiner = fit_combiner([part(rows[s], s, "train", 0) for s in others], choice)
    reports = [part(rows[s], s, "val", 0).report(combiner) for s in others]
    threshold = fit_calibration(np.concatenate([r.genuine for r in reports]),
                                np.concatenate([r.forgery for r in reports])).threshold
    seen = {s: TermRows(r.names, part(r, s, "train", 0).users + part(r, s, "val", 0).users) for s, r in rows.items()}
    report = seen[left_out].report(combiner)
    report.threshold = threshold
    s = report.summary()
    cols = [rows[left_out].names.index(t) for t in combiner.terms]
    w = np.asarray(combiner.weights)
    means = {name: genuine(r, cols).mean(axis=0) * w for name, r in seen.items()}
    out = [f"\n{left_out} left out: threshold {threshold:.2f}, FAR {100 * s['far']:.2f} / FRR {100 * s['frr']:.2f} "
           f"(training + validation writers); genuine score mean " +
           ", ".join(f"{n} {m.sum():.2f}" for n, m in means.items()),
           "| term | weight | " + " | ".join(means) + " |", "|---|---|" + "---|" * len(means)]
    out += [f"| {t} | {w[i]:.3f} | " + " | ".join(f"{m[i]:.3f}" for m in means.values()) + " |"
            for i, t in enumerate(combiner.terms)]
    return out


@click.command()
@click.option("--cache", default="build/online/combiner_rows", show_default=True,
              help="benchmarks/online_combiner.py's folder of scored term rows")
@click.option("--families", default="all,global,signed", show_default=True,
              help="the decision's term families (edgesig.eval.combiner.FAMILIES)")
@click.option("--log/--no-log", default=True, show_default=True, help="the normalised distances as logs")
@click.option("--l2", default=10.0, show_default=True)
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="dtw", show_default=True)
@click.option("--exclude", default="", help="comma-separated feature names whose terms the decision leaves out")
def main(cache: str, families: str, log: bool, l2: float, variant: str, exclude: str) -> None:
    rows = all_rows(Manifest().get(variant), VARIANTS[variant], Path(cache) / f"{variant}.pkl")
    if exclude:
        rows = {name: without(r, tuple(exclude.split(","))) for name, r in rows.items()}
    choice = CombinerChoice(tuple(families.split(",")), log, l2)
    for name in rows:
        for line in carry(rows, name, choice):
            click.echo(line)


if __name__ == "__main__":
    main()
