"""Ensemble entries compared on the validation writers' RANDOM forgeries (issue 19's second target).

Entries fitted before the joint rule (``ensemble_fit.joint_eer``: ``pool ensemble`` and
``offline_ensemble_folds.py compare`` judged skilled forgeries only) record no random-forgery
validation EER. This scores each member once on fold 0's pooled validation writers of the
five sets (``ensemble_fit.random_distances``, the measure the joint fit uses: every
condition, the first genuine tests of the other writers of the same part, as the test
cells) and fuses them with each named manifest revision's ``ensemble``
entry (its members, weights, member calibrations, terms and threshold). Members are run from
the installed models folder, which must hold every member the entries name.

    PYTHONPATH=. python benchmarks/offline_val_random.py --rev 15b15cf --rev 7ed88a0
"""
from __future__ import annotations

import json
import subprocess
from typing import Any, Sequence

import click

from edgesig.decision import Calibration
from edgesig.runtime import Manifest
from export.offline.ensemble_fit import eer_by_set, fuse_users, random_distances, score_members, ss_scores
from export.offline.pool_eval import summarize

SETS = ("cedar", "svc2004-task2", "svc2004-task1", "susig", "mcyt")


def ensemble_at(rev: str) -> dict[str, Any]:
    """The ``ensemble`` entry of the package manifest at git revision ``rev``."""
    manifest = json.loads(subprocess.check_output(["git", "show", f"{rev}:edgesig/models/manifest.json"]))
    models = manifest["models"]
    return next(m for m in (models if isinstance(models, list) else models.values()) if m["name"] == "ensemble")


@click.command()
@click.option("--rev", "revs", multiple=True, required=True, help="git revision whose ensemble entry is scored")
def main(revs: Sequence[str]) -> None:
    """Pooled and per-set validation EER on random forgeries, FAR / FRR at each entry's threshold."""
    entries = {rev: ensemble_at(rev) for rev in revs}
    names = list(dict.fromkeys(m["name"] for e in entries.values() for m in e["params"]["members"]))
    dists = score_members(Manifest(), names, SETS, 0, measure=random_distances)
    for rev, entry in entries.items():
        members = entry["params"]["members"]
        fused = fuse_users([m["weight"] for m in members], [Calibration(**m["calibration"]) for m in members],
                           [dists[m["name"]] for m in members])
        combine = tuple(entry["params"]["combine"])
        s = summarize(fused, combine, entry["calibration"]["threshold"])
        per_set = eer_by_set(ss_scores(fused, combine), [u.user for u in fused])
        weights = ", ".join(f"{m['name']} {m['weight']}" for m in members)
        click.echo(f"{rev} ensemble {entry['version']} ({weights}): "
                   f"validation random EER {100 * s['eer']:.2f} % ({100 * s['eer_interval'][0]:.1f}–"
                   f"{100 * s['eer_interval'][1]:.1f}), FAR {100 * s['far']:.2f} / FRR {100 * s['frr']:.2f} %, "
                   f"AUC {s['auc']:.3f}; " + ", ".join(f"{k} {100 * v:.2f}" for k, v in per_set.items()))


if __name__ == "__main__":
    main()
