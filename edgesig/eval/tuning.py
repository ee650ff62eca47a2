"""Choosing the DTW engine's parameters on validation writers, and writing its manifest entry.

The grid is small on purpose: each point is a full protocol run. Parameters, the
calibration and the enrolment policy all come from the validation users; the test
users are scored once, with everything frozen, and only reported.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from edgesig.decision import fit_calibration
from edgesig.eval.protocols import Report, UserSamples, run_protocol
from edgesig.features.dtw import dtw_to_many
from edgesig.features.kinematics import FeatureConfig, extract
from edgesig.runtime import Manifest, ModelEntry

DTW_VERSION = "1.0"


@dataclass(frozen=True)
class DtwCandidate:
    features: FeatureConfig
    band: float
    combine: tuple[str, ...] = ("min", "mean")

    def params(self) -> dict[str, Any]:
        return {"features": self.features.to_dict(), "band": self.band, "combine": list(self.combine)}


def default_grid() -> list[DtwCandidate]:
    """LNPS level and window, pen-up samples, raw channels and band: what mattered in trials."""
    out = []
    for level, window, pen_up, extra, band in itertools.product(
            (2, 3), (5, 9), (False, True), (("x", "y", "vx", "vy", "p"), ("vx", "vy", "p")), (0.1, 0.2)):
        out.append(DtwCandidate(FeatureConfig(window=window, level=level, extra=extra,
                                              pen_up=pen_up), band))
    return out


def evaluate(cand: DtwCandidate, users: Sequence[UserSamples], refs: int = 5) -> Report:
    cache: dict[int, np.ndarray] = {}

    def prepare(pen: Any) -> np.ndarray:
        key = id(pen)
        if key not in cache:
            cache[key] = extract(pen, cand.features)
        return cache[key]
    return run_protocol(users, prepare, lambda q, r: dtw_to_many(q, list(r), cand.band),
                        refs=refs, combine=cand.combine)


def tune_dtw(val: Sequence[UserSamples], test: Sequence[UserSamples],
             grid: Iterable[DtwCandidate] | None = None, refs: int = 5,
             progress: Callable[[Iterable], Iterable] = lambda it: it) -> tuple[ModelEntry, dict[str, Any]]:
    """Pick the candidate with the lowest validation EER; calibrate on validation; test once."""
    trials = []
    for cand in progress(list(grid or default_grid())):
        trials.append((evaluate(cand, val, refs).summary()["eer"], cand))
    trials.sort(key=lambda t: t[0])
    best = trials[0][1]
    val_report = evaluate(best, val, refs)
    calibration = fit_calibration(val_report.genuine, val_report.forgery)
    spreads = np.array([u.spread for u in val_report.users])
    test_report = evaluate(best, test, refs)
    test_report.threshold = calibration.threshold
    val_report.threshold = calibration.threshold
    val_sum, test_sum = val_report.summary(), test_report.summary()
    entry = ModelEntry(
        name="dtw", version=DTW_VERSION, modality="pen",
        params={**best.params(), "enroll": {"outlier_ratio": 1.8,
                                            "max_spread": float(spreads.max() * 1.5),
                                            "typical_spread": float(np.median(spreads))}},
        calibration=calibration.to_dict(),
        metrics={"val_eer": val_sum["eer"], "val_users": len(val), "test_eer": test_sum["eer"],
                 "test_far": test_sum["far"], "test_frr": test_sum["frr"], "test_auc": test_sum["auc"],
                 "test_mean_user_eer": test_sum["mean_user_eer"], "test_users": len(test),
                 "protocol": f"SVC2004 Task 2, skilled forgeries, {refs} references"})
    details = {"trials": [{"val_eer": e, **c.params()} for e, c in trials],
               "validation": val_sum, "test": test_sum}
    return entry, details


def install(entry: ModelEntry, made_by: str, models_dir: str | None = None) -> None:
    Manifest(models_dir).put(ModelEntry(**{**entry.__dict__, "made_by": made_by}))
