"""One operating point per capture (flat scan / clean image vs camera photo) for the ``auto`` ensemble?

``ensemble`` 2.6.0 has one threshold, the skilled-forgery EER point of the validation
writers of five sets pooled: CEDAR's real scans and four online sets rendered clean and
photographed. Renders dominate that pool, and on CEDAR's test writers the threshold rejects
a fifth of genuine scans. This script asks, on the four folds' cached distances of the
2.6.0 recipe (``offline_ensemble_folds.py`` / ``offline_descriptor_families.py`` work
folder: members ``sigembed-wd``, ``sdinet``, ``descriptor``, ``concavity``, weights and
terms from each fold's fit), whether a threshold per capture does better.

A pool condition's capture is its look, never its set: CEDAR scans and clean renders are
"scan", camera renders "camera" (``CONDITION_CAPTURE``). At a kiosk the pipeline judges the
capture itself (``edgesig.offline.capture``); ``signal`` measures how often it agrees with
the condition on freshly rendered images of the fold's writers (seeded; the pool caches
normalised arrays only) and on every CEDAR file of theirs.

The rule, fixed before any per-capture figure was computed, on validation writers only:
each fold's validation writers are split in two halves (within each set, alternate writers
in the fold's order; a rendered writer's clean and camera images stay in one half). On
one half the global threshold (the skilled EER point of everything pooled, as shipped) and
one threshold per capture (the skilled EER point of that capture's users) are fitted; on
the other half each capture's half-total error (FAR + FRR) / 2, skilled forgeries, is
measured at both; then the halves swap, and the two measurements are averaged. Per-capture
thresholds win a fold if they lower that error for BOTH captures, and win if they win at
least 3 of the 4 folds. Test writers are scored only by ``report``, afterwards.

    PYTHONPATH=. python benchmarks/capture_thresholds.py signal 0 --part val
    PYTHONPATH=. python benchmarks/capture_thresholds.py judge 0 1 2 3 --work build/fourfold
    PYTHONPATH=. python benchmarks/capture_thresholds.py report 0 1 2 3 --work build/fourfold
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import click
import numpy as np

from edgesig.decision import Calibration
from edgesig.eval.metrics import far_frr
from export.offline.evaluate import UserDistances, calibrate, to_report

SETS = "cedar,svc2004-task2,svc2004-task1,susig,mcyt"
MEMBERS = ("sigembed-wd", "sdinet", "descriptor", "concavity")
WORK = "build/fourfold"
#: The capture of each pool condition (``export.offline.pool_eval``): its look, not its set.
CONDITION_CAPTURE = {"scan": "scan", "clean": "scan", "camera": "camera"}
CAPTURES = ("scan", "camera")
#: The render styles ``signal`` draws (``edgesig.synth.render.RenderStyle.random``).
STYLES = ("clean", "scan", "camera")


@dataclass
class Labelled:
    """Fused distances of users, each with its capture."""

    users: list[UserDistances]
    captures: list[str]

    def only(self, capture: str, keep: set[str] | None = None) -> list[UserDistances]:
        """The users of ``capture`` (of writers in ``keep``, if given)."""
        return [u for u, c in zip(self.users, self.captures) if c == capture and (keep is None or u.user in keep)]

    def subset(self, keep: set[str]) -> list[UserDistances]:
        return [u for u in self.users if u.user in keep]


@dataclass
class Fold:
    """The 2.6.0 recipe's fused distances on one fold: validation (skilled) and test cells."""

    combine: tuple[str, ...]
    shipped: Calibration        # the fold's fit: one threshold for everything
    val: Labelled
    test: dict[str, list[UserDistances]]


def val_captures(users: Sequence[UserDistances]) -> list[str]:
    """Each validation user's capture: ``pool_eval.validation_distances`` lists the real scans,
    then every rendered writer clean, then every rendered writer on camera, in one order."""
    from export.offline.pool import REAL_SETS
    seen: Counter[str] = Counter()
    out = []
    for u in users:
        seen[u.user] += 1
        real = u.user.split(":")[0] in REAL_SETS
        out.append("scan" if real or seen[u.user] == 1 else "camera")
    if any(n > 2 for n in seen.values()):
        raise click.ClickException("a validation writer appears more than twice: not pool_eval's layout")
    return out


def load_fold(fold: int, work: str) -> Fold:
    """The fold's cached member distances, fused with its fit's weights and terms (member
    calibrations refitted on its validation writers, as ``ensemble_fit.fit`` does)."""
    from benchmarks.offline_descriptor_families import family_distances
    from benchmarks.offline_ensemble_folds import fold_models, result_path
    from edgesig.runtime import Manifest
    from export.offline.ensemble_fit import cached_members, fuse_users, pair_calibration
    manifest, cache = Manifest(fold_models(work, fold)), Path(work) / "cache"
    dists = cached_members(manifest, MEMBERS[:3], SETS.split(","), fold, cache)
    dists["concavity"], _ = family_distances("concavity", fold, Path(work))
    result = json.loads(result_path(work, fold, ",".join(MEMBERS)).read_text())
    weights = [result["weights"][n] for n in MEMBERS]
    cals = [pair_calibration(dists[n].val) for n in MEMBERS]
    val = fuse_users(weights, cals, [dists[n].val for n in MEMBERS])
    test = {cell: fuse_users(weights, cals, [dists[n].test[cell] for n in MEMBERS]) for cell in dists["sdinet"].test}
    combine = tuple(result["combine"])
    shipped = Calibration.from_dict(result["calibration"])
    refit = calibrate(val, combine)
    if abs(refit.threshold - shipped.threshold) > 1e-6:
        raise click.ClickException(f"fold {fold}: the cached distances give threshold {refit.threshold:.6f}, "
                                   f"the fit recorded {shipped.threshold:.6f}; the cache is not the fit's")
    return Fold(combine, shipped, Labelled(val, val_captures(val)), test)


def errors(users: Sequence[UserDistances], combine: tuple[str, ...], threshold: float) -> tuple[float, float]:
    """FAR and FRR of ``users`` (pooled over their queries) at ``threshold``."""
    rep = to_report(users, combine)
    far, frr = far_frr(-rep.genuine, -rep.forgery, -threshold)
    return float(far), float(frr)


def halves(users: Sequence[UserDistances]) -> tuple[set[str], set[str]]:
    """The validation writers in two halves: alternate writers of each set, in the fold's order."""
    order: dict[str, list[str]] = {}
    for u in users:
        writers = order.setdefault(u.user.split(":")[0], [])
        if u.user not in writers:
            writers.append(u.user)
    return ({w for ws in order.values() for w in ws[0::2]}, {w for ws in order.values() for w in ws[1::2]})


def half_errors(f: Fold) -> dict[str, tuple[float, float]]:
    """Per capture, the half-total error on one half at (global, per-capture) thresholds fitted
    on the other, averaged over both directions."""
    out: dict[str, list[tuple[float, float]]] = {c: [] for c in CAPTURES}
    a, b = halves(f.val.users)
    for fit_on, judge_on in ((a, b), (b, a)):
        global_thr = calibrate(f.val.subset(fit_on), f.combine).threshold
        for c in CAPTURES:
            own_thr = calibrate(f.val.only(c, fit_on), f.combine).threshold
            judged = f.val.only(c, judge_on)
            out[c].append(tuple(float(np.mean(errors(judged, f.combine, t))) for t in (global_thr, own_thr)))
    return {c: tuple(np.mean(v, axis=0)) for c, v in out.items()}


def capture_calibrations(f: Fold) -> dict[str, Calibration]:
    """Each capture's calibration fitted on all the fold's validation writers of that capture."""
    return {c: calibrate(f.val.only(c), f.combine) for c in CAPTURES}


@click.group()
def main() -> None:
    """Per-capture operating points of the auto image engine, judged on validation writers."""


@main.command()
@click.argument("folds", nargs=-1, type=int, required=True)
@click.option("--work", default=WORK, show_default=True, help="offline_ensemble_folds.py's work folder")
def judge(folds: Sequence[int], work: str) -> None:
    """The rule above: validation writers only."""
    won = 0
    click.echo("| fold | capture | half-total error, global threshold | per-capture threshold |\n|---|---|---|---|")
    for k in folds:
        errs = half_errors(load_fold(k, work))
        for c, (g, o) in errs.items():
            click.echo(f"| {k} | {c} | {100 * g:.2f} | {100 * o:.2f} |")
        this = all(o < g for g, o in errs.values())
        won += this
        click.echo(f"fold {k}: {'won' if this else 'lost'}")
    need = 3 if len(folds) == 4 else len(folds) // 2 + 1
    click.echo(f"per-capture thresholds win {won}/{len(folds)} folds: {'WIN' if won >= need else 'do not win'}")


if __name__ == "__main__":
    main()
