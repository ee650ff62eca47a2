"""Writer-disjoint k-fold runs: train on some writers, pick the threshold on others, test on the rest.

Fold k of 4 tests SVC2004 users 10k+1..10k+10; of the 30 others, the next 5 (cyclically)
are validation writers, which choose the Sharma-Sundaram terms and the threshold, and
the remaining 25 (plus any synthetic writers) train the network. No test writer ever
appears in training or validation.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from export.offline.data import ImageWriter
from export.offline.evaluate import (CONDITIONS, Scorer, calibrate, choose_combine, condition_distances,
                                     summarize, torch_scorer)
from export.offline.sdinet import Sdinet
from export.offline.train import TrainConfig, fit

N_USERS = 40


def split(fold: int, folds: int, n_val: int = 5) -> tuple[list[int], list[int], list[int]]:
    """(train, val, test) SVC2004 user numbers of one fold."""
    size = N_USERS // folds
    test = list(range(fold * size + 1, fold * size + size + 1))
    rest = [(fold * size + size + i) % N_USERS + 1 for i in range(N_USERS - size)]
    return rest[n_val:], rest[:n_val], test


def run_fold(svc: dict[int, ImageWriter], fold: int, folds: int, cfg: TrainConfig,
             synth: Sequence[ImageWriter] = (), progress: bool = True) -> tuple[Sdinet, dict[str, Any]]:
    """Train, validate and test one fold; returns the model and a JSON-able result."""
    train_u, _, _ = split(fold, folds)
    model, stats = fit([svc[u] for u in train_u] + list(synth), replace(cfg, seed=cfg.seed + fold),
                       desc=f"fold {fold}", progress=progress)
    return model, {**score_fold(torch_scorer(model), svc, fold, folds), **stats}


def score_fold(score: Scorer, svc: dict[int, ImageWriter], fold: int, folds: int) -> dict[str, Any]:
    """A trained pair model on one fold: Sharma-Sundaram terms and threshold from the
    validation writers (clean and camera pooled), then the test writers at that threshold.
    Every image network is measured by this one function, so their numbers compare."""
    train_u, val_u, test_u = split(fold, folds)
    val = {c: condition_distances(score, [svc[u] for u in val_u], c) for c in CONDITIONS}
    pooled = val["clean"] + val["camera"]
    combine, val_eer = choose_combine(pooled)
    cal = calibrate(pooled, combine)
    test = {c: summarize(condition_distances(score, [svc[u] for u in test_u], c), combine, cal.threshold)
            for c in CONDITIONS}
    return {"fold": fold, "train_users": train_u, "val_users": val_u, "test_users": test_u,
            "combine": list(combine), "val_eer": val_eer, "calibration": cal.to_dict(), "test": test}


def mean_of(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per-condition mean of the fold metrics."""
    keys = ("eer", "auc", "mean_user_eer", "far", "frr")
    return {c: {k: sum(r["test"][c][k] for r in results) / len(results) for k in keys} for c in CONDITIONS}
