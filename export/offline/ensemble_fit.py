"""Fit and evaluate the offline ensemble on one writer-disjoint fold.

Both members are the installed int8 files (what the kiosk runs), scored on the same
rendered signatures: SDINet sees them through its 155x220 normalisation, the
cross-writer network through its 224x224 one (``crosswriter_data`` reproduces SDINet's
renders exactly). On the fold's validation writers, per member, a logistic calibration
maps a pair distance to P(genuine) (genuine query-reference pairs against skilled
forgery pairs); the weights are then searched on a 0.1 grid of the simplex for the
lowest validation EER of the whole protocol (Sharma-Sundaram terms chosen per weight),
ties going to the most even weights. The test writers are scored only at the end.

The optical-flow engine can join as a third member (``flow_member``) to test whether it
helps; it scores SDINet's renders (same 155x220 normalisation as its kiosk input) and
must come from a flow model fitted on none of the fold's validation or test writers.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgesig.decision import Calibration, fit_calibration
from edgesig.engines.ensemble import fuse
from edgesig.engines.flow import FlowEngine
from edgesig.errors import EdgesigError, ModelError
from edgesig.eval.protocols import parse_users
from edgesig.offline.flow import to_grid
from edgesig.runtime import ModelEntry
from export.offline.evaluate import (CONDITIONS, Scorer, UserDistances, calibrate, choose_combine,
                                     condition_distances, summarize)
from export.offline.data import ImageWriter, to_float

#: member -> distances per condition -> per user
MemberDistances = dict[str, list[UserDistances]]


@dataclass
class EnsembleFit:
    weights: list[float]
    member_calibrations: list[Calibration]
    combine: tuple[str, ...]
    calibration: Calibration
    val_eer: float
    grid: list[dict[str, Any]]


def score_members(scorers: Sequence[Scorer], images: Sequence[dict[int, ImageWriter]],
                  users: Sequence[int]) -> list[MemberDistances]:
    """Per member, the protocol's distances on ``users`` under every condition."""
    return [{c: condition_distances(s, [imgs[u] for u in users], c) for c in CONDITIONS}
            for s, imgs in zip(scorers, images)]


def flow_distances(engine: FlowEngine, writer: ImageWriter, variant: int, refs: int = 5) -> UserDistances:
    """One user's protocol distances from the flow engine, on the pair models' renders.

    Flow is not a pair scorer: each comparison is measured against the stability map of
    the whole reference set, so it gets the set. The distances are FlowEngine's own
    (max(1 - P(genuine), floor) per reference, its ``pairwise`` for the reference matrix),
    so the member is calibrated on exactly what the kiosk engine would return.
    """
    images = to_float(np.concatenate([writer.genuine[:, variant], writer.forgery[:, variant]]))
    grids = [to_grid(a, engine.model.cfg) for a in images]
    ref = grids[:refs]
    d = np.stack([engine.distances(q, ref) for q in grids[refs:]])
    n_g = len(writer.genuine) - refs
    return UserDistances(writer.key, engine.pairwise(ref), d[:n_g], d[n_g:])


def flow_member(engine: FlowEngine, images: dict[int, ImageWriter], users: Sequence[int]) -> MemberDistances:
    """The flow member's distances on ``users`` under every condition (SDINet's renders)."""
    return {c: [flow_distances(engine, images[u], v) for u in users] for c, v in CONDITIONS.items()}


def load_flow(path: str | Path, held_out: Sequence[int]) -> FlowEngine:
    """The flow engine of a ``flow_train --out`` file (or a manifest entry as JSON).

    Refused when its prior and trees (``train_users``) or its rule and floor
    (``val_users``) saw one of ``held_out``: fitting or testing the fusion on writers flow
    has learned would flatter it.
    """
    data = json.loads(Path(path).read_text())
    entry = ModelEntry.from_dict(data.get("entry", data))
    try:
        seen = {u for k in ("train_users", "val_users") for u in parse_users(entry.metrics[k])}
    except (KeyError, EdgesigError):
        raise ModelError(f"{path} does not say which writers trained the flow model "
                         "(metrics.train_users / val_users); retrain it with export/offline/flow_train.py") from None
    overlap = sorted(seen & set(held_out))
    if overlap:
        raise ModelError(f"the flow model in {path} was fitted on writers {overlap} that this fold holds out; "
                         "train one on the fold's training writers only")
    return FlowEngine(entry)


def fuse_users(weights: Sequence[float], cals: Sequence[Calibration],
               members: Sequence[list[UserDistances]]) -> list[UserDistances]:
    """The fused distances of every user (reference matrix diagonal kept at zero)."""
    out = []
    for per_user in zip(*members):
        refs = fuse(weights, cals, [u.refs for u in per_user])
        np.fill_diagonal(refs, 0.0)
        out.append(UserDistances(per_user[0].user, refs, fuse(weights, cals, [u.genuine for u in per_user]),
                                 fuse(weights, cals, [u.forgery for u in per_user])))
    return out


def pair_calibration(dists: Sequence[UserDistances]) -> Calibration:
    """P(genuine | one pair distance), fitted on genuine vs skilled-forgery query-reference pairs."""
    return fit_calibration(np.concatenate([u.genuine.ravel() for u in dists]),
                           np.concatenate([u.forgery.ravel() for u in dists]))


def simplex(n: int, step: float = 0.1) -> list[tuple[float, ...]]:
    k = int(round(1 / step))
    return [tuple(c / k for c in combo) for combo in itertools.product(range(k + 1), repeat=n)
            if sum(combo) == k]


def fit(val: Sequence[MemberDistances], step: float = 0.1) -> EnsembleFit:
    """Member calibrations, weights, terms and threshold from the validation writers only."""
    pooled = [m["clean"] + m["camera"] for m in val]
    cals = [pair_calibration(p) for p in pooled]
    grid = []
    for w in simplex(len(val), step):
        combine, eer = choose_combine(fuse_users(w, cals, pooled))
        grid.append({"weights": list(w), "combine": list(combine), "val_eer": eer})
    even = 1.0 / len(val)
    best = min(grid, key=lambda g: (round(g["val_eer"], 9), max(abs(x - even) for x in g["weights"])))
    fused = fuse_users(best["weights"], cals, pooled)
    combine = tuple(best["combine"])
    return EnsembleFit(best["weights"], cals, combine, calibrate(fused, combine), best["val_eer"], grid)


def evaluate(fitted: EnsembleFit, test: Sequence[MemberDistances]) -> dict[str, dict[str, float]]:
    """Test metrics per condition at the validation threshold."""
    return {c: summarize(fuse_users(fitted.weights, fitted.member_calibrations, [m[c] for m in test]),
                         fitted.combine, fitted.calibration.threshold) for c in CONDITIONS}


def single(val: MemberDistances, test: MemberDistances) -> dict[str, Any]:
    """One member alone through the same protocol (terms and threshold from validation)."""
    pooled = val["clean"] + val["camera"]
    combine, eer = choose_combine(pooled)
    cal = calibrate(pooled, combine)
    return {"val_eer": eer, "combine": list(combine),
            "test": {c: summarize(test[c], combine, cal.threshold) for c in CONDITIONS}}
