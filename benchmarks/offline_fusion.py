"""Would fusing the installed image engines beat SigEmbed alone? Measured on the training pool (issue 19).

Every engine is run exactly as the kiosk runs it (``pool_eval.engine_comparator``) on the
fold's validation writers of every set pooled (CEDAR scans, renders clean and camera,
skilled forgeries) and on every set's test writers; members' distances are cached per
engine under ``--cache``. Two fusion rules, each with its weights chosen on the pooled
validation writers only (a 1-D grid for two members, the simplex for three):

* ``pair``: the installed ``ensemble`` engine's rule (``export.offline.ensemble_fit``): each
  member's pair distance mapped to 1 - P(genuine) by its own logistic calibration, the
  weighted sum per reference, then the Sharma-Sundaram rule on the fused distances.
* ``score``: each member's own Sharma-Sundaram dissimilarity (its validation-chosen terms),
  mapped by its own calibration to 1 - P(genuine) (``score-cal``) or z-normalised by its
  validation mean and deviation (``score-z``), then the weighted sum.

A fusion is worth shipping only if it beats the best member's pooled validation EER by a
clear margin and does not lose on most sets' validation writers taken one by one.

    PYTHONPATH=. python benchmarks/offline_fusion.py --engines sigembed,sigembed-wd,sdinet --out build/fusion/fusion.json
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Callable, Sequence

import click
import numpy as np

from edgesig.decision import fit_calibration
from edgesig.eval.protocols import Report, UserScores
from export.offline.ensemble_fit import (MemberDistances, cached_members, eer_by_set, evaluate, fit,
                                        fused_val_by_set, simplex, single, ss_scores)

SETS = "cedar,svc2004-task2,svc2004-task1,susig,mcyt"
Scores = list[UserScores]


def score_mapper(val: Scores, rule: str) -> Callable[[np.ndarray], np.ndarray]:
    """A member's dissimilarity -> a fusable one, fitted on its validation scores."""
    rep = Report(list(val))
    if rule == "score-cal":
        cal = fit_calibration(rep.genuine, rep.forgery)
        return lambda s: 1.0 - np.asarray(cal.probability(s))
    allv = np.concatenate([rep.genuine, rep.forgery])
    mu, sd = float(allv.mean()), float(allv.std()) or 1.0
    return lambda s: (s - mu) / sd


def fuse_scores(weights: Sequence[float], maps: Sequence[Callable], members: Sequence[Scores]) -> Scores:
    out = []
    for per_user in zip(*members):
        g = sum(w * m(u.genuine) for w, m, u in zip(weights, maps, per_user))
        f = sum(w * m(u.forgery) for w, m, u in zip(weights, maps, per_user))
        out.append(UserScores(per_user[0].user, np.asarray(g, float), np.asarray(f, float), per_user[0].spread))
    return out


def summarize_scores(scores: Scores, threshold: float) -> dict[str, Any]:
    rep = Report(list(scores), threshold=threshold)
    s = rep.summary()
    return {"writers": len(scores), **{k: float(s[k]) for k in ("eer", "auc", "far", "frr")},
            "eer_interval": list(rep.eer_interval())}


def score_fusion(members: Sequence[MemberDistances], combines: Sequence[Sequence[str]], rule: str,
                 step: float) -> dict[str, Any]:
    """Score-level fusion: weights on the pooled validation writers, every test cell at its threshold."""
    val = [ss_scores(m.val, c) for m, c in zip(members, combines)]
    maps = [score_mapper(v, rule) for v in val]
    grid = []
    for w in simplex(len(members), step):
        grid.append({"weights": list(w), "val_eer": float(Report(fuse_scores(w, maps, val)).summary()["eer"])})
    even = 1.0 / len(members)
    best = min(grid, key=lambda g: (round(g["val_eer"], 9), max(abs(x - even) for x in g["weights"])))
    fused_val = fuse_scores(best["weights"], maps, val)
    rep = Report(fused_val)
    threshold = fit_calibration(rep.genuine, rep.forgery).threshold
    users = [u.user for u in members[0].val]
    test = {cell: summarize_scores(fuse_scores(best["weights"], maps, [ss_scores(m.test[cell], c)
                                                                        for m, c in zip(members, combines)]),
                                   threshold) for cell in members[0].test}
    return {"weights": best["weights"], "val_eer": best["val_eer"], "val_by_set": eer_by_set(fused_val, users),
            "test": test, "grid": grid}


def pair_fusion(members: Sequence[MemberDistances], step: float) -> dict[str, Any]:
    fitted = fit([m.val for m in members], step)
    return {"weights": fitted.weights, "combine": list(fitted.combine), "val_eer": fitted.val_eer,
            "val_by_set": fused_val_by_set(fitted, [m.val for m in members]),
            "test": evaluate(fitted, [m.test for m in members]), "grid": fitted.grid}


@click.command()
@click.option("--engines", default="sigembed,sigembed-wd,sdinet", show_default=True)
@click.option("--sets", default=SETS, show_default=True)
@click.option("--fold", default=0, show_default=True)
@click.option("--threads", default=1, show_default=True)
@click.option("--cache", default="build/fusion", show_default=True)
@click.option("--out", default="build/fusion/fusion.json", show_default=True)
@click.option("--models-dir", default=None, help="default: the package's models folder")
def main(engines: str, sets: str, fold: int, threads: int, cache: str, out: str, models_dir: str | None) -> None:
    from edgesig.runtime import MODELS_DIR, Manifest
    names = engines.split(",")
    members = cached_members(Manifest(models_dir or MODELS_DIR), names, sets.split(","), fold, Path(cache), threads)
    singles = {n: single(m) for n, m in members.items()}
    users = [u.user for u in members[names[0]].val]
    assert all([u.user for u in m.val] == users for m in members.values()), "members scored other writers"
    result: dict[str, Any] = {"singles": singles, "fusions": {}}
    for k in range(1, len(names) + 1):
        for combo in itertools.combinations(names, k):
            ms = [members[n] for n in combo]
            step = 0.05 if k <= 2 else 0.1
            rules = {"pair": pair_fusion(ms, step)}  # one member: its pair distances calibrated, nothing fused
            for rule in ("score-cal", "score-z") if k > 1 else ():
                rules[rule] = score_fusion(ms, [singles[n]["combine"] for n in combo], rule, step)
            result["fusions"]["+".join(combo)] = rules
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1))
    show(result)


def show(result: dict[str, Any]) -> None:
    def line(name: str, r: dict[str, Any]) -> str:
        by_set = " ".join(f"{s}:{100 * v:.2f}" for s, v in r["val_by_set"].items())
        w = f" w={r['weights']}" if "weights" in r else ""
        return f"{name:40s} val {100 * r['val_eer']:.2f} %  [{by_set}]{w}"
    for n, s in result["singles"].items():
        click.echo(line(n, s))
    for combo, rules in result["fusions"].items():
        for rule, r in rules.items():
            click.echo(line(f"{combo} {rule}", r))


if __name__ == "__main__":
    main()
