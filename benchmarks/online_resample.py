"""Should the DTW entries resample each pen onto a uniform 10 ms grid before their features?

``edgesig.features.kinematics.extract`` thins a fast pad by whole steps (``decimation``) to
about the entry's ``rate_hz`` but never fills in a slow one or evens out irregular
timestamps, so a 50 Hz pad gives half as many DTW rows per second of writing as the pads
the threshold was fitted on. The idea came from a probe on fold-0 *test* writers (the lead's,
outside the repository): linear resampling to 10 ms lowered SVC2004 Task 2's EER and
brought the genuine-rejection rate on pads thinned to 50 / 33 Hz back towards the
full-rate one. Test writers cannot choose an engine, so this script judges it on
validation writers as ``benchmarks/online_channels.py`` judges channel sets (its
``evaluate``, ``verdict`` and ``summary``, rule unchanged): every writer of the variant's
sets scored once per candidate, then per fold the decision chosen and fitted as shipped
(``choose_combiner(select="lodo")``) with one threshold from the validation writers.

The resampling (``resample_pen``): x, y and pressure linearly interpolated at every 10 ms
from the first sample to the last; a grid point is pen-down when the samples on both sides
of it are (a pen-up gap stays up; pressure is zero there). The device rate becomes
100 Hz, so ``decimation`` then keeps every sample.

Candidates, fixed before any figure was seen:

- ``resample-10ms``: DTW features from the resampled pen, the global descriptor from the
  pen as captured (its features are durations, speeds, extents and stroke counts, already
  per unit of time; keeping it isolates the change to the DTW sequences).
- ``resample-10ms-global``: both from the resampled pen.

For the record only (they decide nothing): fold-0 test figures, and with ``--thinned`` the
FAR / FRR of fold-0 test writers whose pads were thinned to every 2nd and every 3rd sample
(references and queries alike), at each candidate's fold-0 decision and threshold.

    PYTHONPATH=. python benchmarks/online_resample.py --variant dtw --thinned \\
        --out build/online/resample_dtw.json
    PYTHONPATH=. python benchmarks/online_resample.py --variant dtw-nopressure --thinned \\
        --out build/online/resample_dtw-nopressure.json
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from benchmarks.online_channels import SHIPPED, evaluate, figures, summary
from benchmarks.online_combiner import VARIANTS
from benchmarks.online_metric import cached, scored
from edgesig.decision import Combiner
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.datasets import FOLDS
from edgesig.eval.protocols import UserSamples, load_set
from edgesig.features.kinematics import extract, resample_uniform, thinned
from edgesig.pen import PenStream
from edgesig.runtime import Manifest, ModelEntry

STEP_MS = 10.0
#: Candidate name -> whether the global descriptor is read from the resampled pen.
CANDIDATES = {"resample-10ms": False, "resample-10ms-global": True}
#: Every k-th sample kept for the thinned-pad record.
THINNED = (2, 3)


def resample_pen(pen: PenStream, step_ms: float = STEP_MS) -> PenStream:
    """``pen`` linearly resampled to a uniform ``step_ms`` grid (see the module docstring)."""
    table = resample_uniform(np.column_stack([pen.x, pen.y, pen.pressure]), pen.t, step_ms)
    grid = np.arange(pen.t[0], pen.t[-1] + 1e-9, step_ms)
    after = np.clip(np.searchsorted(pen.t, grid), 0, len(pen) - 1)
    down = pen.pen_down[after] & pen.pen_down[np.maximum(after - 1, 0)]
    return replace(pen, t=grid, x=table[:, 0], y=table[:, 1], pressure=table[:, 2] * down, pen_down=down,
                   azimuth=None, altitude=None, tilt_x=None, tilt_y=None,
                   device=replace(pen.device, sample_rate_hz=1000.0 / step_ms))


class ResampledDtw(DtwEngine):
    """The entry's engine reading each pen resampled to ``STEP_MS``; the global descriptor
    from the resampled pen only with ``resampled_global``."""

    def __init__(self, entry: ModelEntry, resampled_global: bool):
        super().__init__(entry)
        self.resampled_global = resampled_global

    def prepare(self, sample: PenStream) -> np.ndarray:
        pen = resample_pen(sample)
        return self.from_features(extract(self.pen_input(pen), self.features),
                                  pen if self.resampled_global else sample)


def engines(entry: ModelEntry) -> dict[str, DtwEngine]:
    return {SHIPPED: DtwEngine(entry), **{n: ResampledDtw(entry, g) for n, g in CANDIDATES.items()}}


def thinned_rates(engine: DtwEngine, fold0: dict[str, Any], users: dict[str, list[UserSamples]]) -> dict[str, Any]:
    """Per set and thinning factor, fold-0 test writers' EER, and FAR / FRR at ``fold0``'s
    decision and threshold (the threshold as it would be carried to a slower pad)."""
    combiner, threshold = Combiner.from_dict(fold0["decision"]), fold0["threshold"]
    out: dict[str, Any] = {}
    for name, rows in users.items():
        for k in THINNED:
            slow = [replace(u, genuine=[thinned(p, k) for p in u.genuine], forgery=[thinned(p, k) for p in u.forgery])
                    for u in rows]
            report = scored(engine, {name: slow})[name].report(combiner)
            report.threshold = threshold
            figs = report.summary()
            out[f"{name} every {k}"] = {"eer": figs["eer"], "far": figs["far"], "frr": figs["frr"]}
    return out


def record_lines(result: dict[str, Any], sets: Sequence[str], thinned: dict[str, Any]) -> list[str]:
    """Fold-0 test EER, FAR / FRR and AUC per set, and the thinned pads' figures (record only)."""
    out = ["\nfold-0 test (record only): candidate | EER (95 % writer interval) per set (mean) | "
           "FAR / FRR at the fold-0 threshold, AUC per set"]
    for name, res in result.items():
        test = figures(res, sets)["test"][0]
        per_set = res["folds"][0]["per_set"]
        out.append(f"| {name} | " + " / ".join(f"{100 * v:.2f} ({100 * per_set[s]['test_eer_ci95'][0]:.1f}–"
                                               f"{100 * per_set[s]['test_eer_ci95'][1]:.1f})" for s, v in zip(sets, test))
                   + f" ({100 * test.mean():.2f}) | "
                   + " ; ".join(f"{100 * per_set[s]['test_far']:.2f} / {100 * per_set[s]['test_frr']:.2f}, "
                                f"{per_set[s]['test_auc']:.3f}" for s in sets) + " |")
    if thinned:
        out.append("\nthinned fold-0 test pads (record only): candidate | EER, FAR / FRR at the fold-0 threshold")
        out += [f"| {name} | " + " ; ".join(f"{pad} {100 * f['eer']:.2f}, {100 * f['far']:.2f} / {100 * f['frr']:.2f}"
                                            for pad, f in t.items())
                + " |" for name, t in thinned.items()]
    return out


@click.command()
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="dtw", show_default=True)
@click.option("--cache", default="build/online/resample", show_default=True,
              help="folder for each candidate's scored term rows (the DTW work)")
@click.option("--thinned", is_flag=True, help="also score fold-0 test writers on thinned pads (record only)")
@click.option("--out", default="build/online/resample.json", show_default=True)
def main(variant: str, cache: str, thinned: bool, out: str) -> None:
    sets = VARIANTS[variant]
    entry = Manifest().get(variant)
    folder = Path(cache) / f"{variant}-{entry.version}"
    users = {name: [u for part in ("train", "val", "test") for u in load_set(name, part)] for name in sets}
    result, slow = {}, {}
    for name, engine in engines(entry).items():
        rows = cached(folder / f"{name}.pkl", lambda engine=engine: scored(engine, users))
        result[name] = evaluate([rows] * FOLDS, sets)
        click.echo(f"{variant} {name}: evaluated", err=True)
    for line in summary(variant, result, sets):
        click.echo(line)
    if thinned:
        test = {name: load_set(name, "test", 0) for name in sets}
        slow = {name: thinned_rates(engine, result[name]["folds"][0], test) for name, engine in engines(entry).items()}
    for line in record_lines(result, sets, slow):
        click.echo(line)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"variant": variant, "version": entry.version, "sets": sets, "step_ms": STEP_MS,
                                     "result": result, "thinned": slow}, indent=1))


if __name__ == "__main__":
    main()
