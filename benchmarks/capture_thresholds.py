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

Outcome (benchmarks/RESULTS_offline_pool.md, "One operating point per capture"): 2 of 4 folds,
no win; nothing ships.

    PYTHONPATH=. python benchmarks/capture_thresholds.py signal 0 --part train --choose
    PYTHONPATH=. python benchmarks/capture_thresholds.py signal 0 --part val
    PYTHONPATH=. python benchmarks/capture_thresholds.py judge 0 1 2 3 --work build/fourfold
    PYTHONPATH=. python benchmarks/capture_thresholds.py report 0 1 2 3 --work build/fourfold
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from edgesig.decision import Calibration
from edgesig.eval.metrics import far_frr
from edgesig.offline.capture import CAPTURES, GRAY_PAPER, PAPER_SPREAD
from export.offline.evaluate import UserDistances, calibrate, to_report

SETS = "cedar,svc2004-task2,svc2004-task1,susig,mcyt"
MEMBERS = ("sigembed-wd", "sdinet", "descriptor", "concavity")
WORK = "build/fourfold"
#: The capture of each pool condition (``export.offline.pool_eval``): its look, not its set.
CONDITION_CAPTURE = {"scan": "scan", "clean": "scan", "camera": "camera"}
#: The render styles ``signal`` draws (``edgesig.synth.render.RenderStyle.random``).
STYLES = ("clean", "scan", "camera")
#: ``signal``'s rows and the capture each truly is.
ROW_CAPTURE = {"CEDAR scan": "scan", **{f"render {s}": "camera" if s == "camera" else "scan" for s in STYLES},
               "kiosk photo of a form": "camera"}


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


def cell_capture(cell: str) -> str:
    """The capture of a test cell ``set/condition/impostor``."""
    return CONDITION_CAPTURE[cell.split("/")[1]]


def by_condition(f: Fold) -> dict[str, list[UserDistances]]:
    """The fold's validation users by pool condition: real scans, clean renders, camera renders."""
    from export.offline.pool import REAL_SETS
    scans = [(u.user.split(":")[0] in REAL_SETS, u) for u in f.val.only("scan")]
    return {"real scans": [u for real, u in scans if real], "clean renders": [u for real, u in scans if not real],
            "camera renders": f.val.only("camera")}


def test_rows(f: Fold) -> dict[str, dict[str, float]]:
    """Every test cell: EER, its writer-bootstrap interval and AUC (threshold-free), FAR / FRR at
    the fold's one threshold and at its capture's threshold."""
    from export.offline.pool_eval import summarize
    own = capture_calibrations(f)
    out = {}
    for cell, users in f.test.items():
        s = summarize(users, f.combine, f.shipped.threshold)
        far, frr = errors(users, f.combine, own[cell_capture(cell)].threshold)
        out[cell] = {"eer": s["eer"], "lo": s["eer_interval"][0], "hi": s["eer_interval"][1], "auc": s["auc"],
                     "far": s["far"], "frr": s["frr"], "far_capture": far, "frr_capture": frr}
    return out


@main.command()
@click.argument("folds", nargs=-1, type=int, required=True)
@click.option("--work", default=WORK, show_default=True, help="offline_ensemble_folds.py's work folder")
def report(folds: Sequence[int], work: str) -> None:
    """Test writers, after ``judge``: FAR / FRR at one threshold and at per-capture thresholds
    (fitted on all the fold's validation writers), the first fold's cells with EER, interval
    and AUC, then every fold's mean."""
    loaded = {k: load_fold(k, work) for k in folds}
    for k, f in loaded.items():
        cals = capture_calibrations(f)
        click.echo(f"fold {k}: one threshold {f.shipped.threshold:.4f}; per capture "
                   + ", ".join(f"{c} {cal.threshold:.4f} ({len(f.val.only(c))} validation users)"
                               for c, cal in cals.items()))
        click.echo("  for the record, each pool condition's own validation EER point (keyed on the set: "
                   "not a choice a kiosk can make): " + ", ".join(
                       f"{label} {calibrate(users, f.combine).threshold:.4f}" for label, users in by_condition(f).items()))
    rows = {k: test_rows(f) for k, f in loaded.items()}
    first = rows[folds[0]]
    click.echo(f"\nfold {folds[0]} test writers\n| cell | writers | EER (95 % interval) | AUC | FAR / FRR, one threshold "
               "| FAR / FRR, capture's threshold |\n|---|---|---|---|---|---|")
    for cell, r in first.items():
        click.echo(f"| {cell} | {len(loaded[folds[0]].test[cell])} | {100 * r['eer']:.2f} ({100 * r['lo']:.1f}–"
                   f"{100 * r['hi']:.1f}) | {r['auc']:.3f} | {100 * r['far']:.1f} / {100 * r['frr']:.1f} | "
                   f"{100 * r['far_capture']:.1f} / {100 * r['frr_capture']:.1f} |")
    click.echo(f"\nmean over folds {', '.join(map(str, folds))}\n| cell | EER | FAR / FRR, one threshold "
               "| FAR / FRR, capture's threshold |\n|---|---|---|---|")
    for cell in first:
        m = {key: 100 * float(np.mean([rows[k][cell][key] for k in folds])) for key in first[cell]}
        click.echo(f"| {cell} | {m['eer']:.2f} | {m['far']:.1f} / {m['frr']:.1f} | "
                   f"{m['far_capture']:.1f} / {m['frr_capture']:.1f} |")


def rendered(dataset: str, writer: str, pens: Sequence, seed: int) -> dict[str, list[np.ndarray]]:
    """The pens in every render style and as a kiosk photo of a form, from a generator seeded
    by (seed, set, writer) (a fresh draw: the pool keeps normalised arrays, not the images)."""
    from edgesig.synth.render import RenderStyle, render
    from edgesig.synth.sheet_photo import sheet_photo
    from export.offline.pool import _seed
    rng = _seed(seed, dataset, writer)
    out: dict[str, list[np.ndarray]] = {f"render {s}": [] for s in STYLES}
    for pen in pens:
        for style in STYLES:
            out[f"render {style}"].append(render(pen, rng, style=RenderStyle.random(rng, degradation=style)))
    out["kiosk photo of a form"] = [sheet_photo(pens[0], rng).photo]
    return out


def measured(fold: int, part: str, per_writer: int, seed: int) -> dict[str, list[Any]]:
    """The pipeline's ``CaptureSignal`` of every image of each ``ROW_CAPTURE`` row (None: the
    pipeline refused it): every CEDAR file of the part's writers, the online writers' first
    genuine signatures rendered in every style, and one kiosk photo of a form per writer."""
    from edgesig.errors import EdgesigError
    from edgesig.eval.datasets import split, writers
    from edgesig.offline import prepare
    from export.offline.pool import REAL_SETS, signatures
    out: dict[str, list[Any]] = {row: [] for row in ROW_CAPTURE}
    for ds in SETS.split(","):
        chosen = set(split(ds, part, fold))
        for w in (w for w in writers(ds) if w.writer in chosen):
            genuine, forgery = signatures(w)
            images = ({"CEDAR scan": [str(p) for p in genuine + forgery]} if ds in REAL_SETS
                      else rendered(ds, w.writer, genuine[:per_writer], seed))
            for row, batch in images.items():
                for image in batch:
                    try:
                        out[row].append(prepare(image).signal)
                    except EdgesigError:
                        out[row].append(None)
    return out


def misread(signals: dict[str, list[Any]], gray_paper: int, paper_spread: int) -> int:
    """Images whose capture the signal gets wrong under these thresholds (refused ones aside)."""
    return sum(s.judged(gray_paper, paper_spread) != ROW_CAPTURE[row]
               for row, found in signals.items() for s in found if s is not None)


@main.command()
@click.argument("fold", type=int)
@click.option("--part", type=click.Choice(["val", "test", "train"]), default="val", show_default=True)
@click.option("--per-writer", default=4, show_default=True, help="online signatures rendered per writer")
@click.option("--seed", default=1, show_default=True, help="render seed (the pool's is 0)")
@click.option("--choose", is_flag=True, help="also the thresholds with the fewest misread images on this part")
def signal(fold: int, part: str, per_writer: int, seed: int, choose: bool) -> None:
    """How often the pipeline's capture signal names each condition (the table), and with
    ``--choose`` the (gray paper, paper spread) thresholds that misread the fewest images,
    ties to the lowest."""
    signals = measured(fold, part, per_writer, seed)
    click.echo(f"fold {fold} {part} writers: capture the pipeline decides (gray paper < {GRAY_PAPER} or "
               f"spread >= {PAPER_SPREAD}: camera)\n| images | true capture | n | scan | camera | refused |"
               "\n|---|---|---|---|---|---|")
    for row, found in signals.items():
        c = Counter("refused" if s is None else s.capture for s in found)
        n = max(len(found), 1)
        click.echo(f"| {row} | {ROW_CAPTURE[row]} | {len(found)} | " + " | ".join(
            f"{100 * c[k] / n:.1f} %" for k in ("scan", "camera", "refused")) + " |")
    if choose:
        grid = [(misread(signals, a, b), a, b) for a in range(200, 241) for b in range(4, 31)]
        errors, a, b = min(grid)
        total = sum(s is not None for found in signals.values() for s in found)
        click.echo(f"fewest misread: gray paper < {a} or spread >= {b}: {errors} of {total} images "
                   f"(the shipped {GRAY_PAPER} / {PAPER_SPREAD}: {misread(signals, GRAY_PAPER, PAPER_SPREAD)})")


if __name__ == "__main__":
    main()
