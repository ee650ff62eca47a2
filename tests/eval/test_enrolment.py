"""Enrolment's consistency check calibrated on validation writers: genuine sets pass, sets
mixing writers are refused, an intruder among genuine references is dropped and named."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest

from edgesig.errors import EnrollmentError
from edgesig.eval.enrolment import calibrate, survey
from edgesig.verifier import EnrollPolicy, check_references


class PointEngine:
    """Stands in for an image engine: a 'prepared' sample is a point, distance Euclidean."""

    def pairwise(self, refs: Sequence[np.ndarray]) -> np.ndarray:
        x = np.array(refs)
        return np.linalg.norm(x[:, None] - x[None], axis=-1)


def writers(n: int, seed: int, spread: float = 0.1) -> list[list[np.ndarray]]:
    """``n`` writers 1 apart (centres on a simplex), five samples each within ``spread``."""
    rng = np.random.default_rng(seed)
    return [[np.eye(n)[w] / np.sqrt(2) + rng.normal(0, spread, n) for _ in range(5)] for w in range(n)]


def test_calibration_keeps_every_validation_set_and_almost_every_reference() -> None:
    val = writers(12, seed=0)
    policy = calibrate(PointEngine(), val)
    spreads = [PointEngine().pairwise(g)[~np.eye(5, dtype=bool)].mean() for g in val]
    assert policy.max_spread == pytest.approx(max(spreads))
    assert policy.typical_spread == pytest.approx(np.median(spreads))
    dropped = [len(check_references(PointEngine().pairwise(g), policy)[1]) for g in val]  # none refused
    assert sum(dropped) <= 0.05 * 5 * len(val)


def test_survey_counts_refusals_and_named_intruders() -> None:
    engine = PointEngine()
    policy = calibrate(engine, writers(12, seed=0))
    test = writers(12, seed=1)
    result = survey(engine, policy, test, forged=[])
    assert result.writers == 12 and result.genuine_refused <= 2 and result.genuine_dropped <= 3  # ~1/13 each
    assert result.mixed == 12 and result.mixed_refused == 12
    assert result.intruded == 12 and result.intruder_named + result.intruded_refused == 12
    assert result.intruder_named >= 10
    assert "genuine sets refused" in result.line("points")


def test_uncalibrated_policy_refuses_nothing() -> None:
    """What image enrolment did before: five writers enrolled as one."""
    mixed = [w[0] for w in writers(5, seed=2)]
    kept, outliers, _, _ = check_references(PointEngine().pairwise(mixed), EnrollPolicy())
    assert kept == [0, 1, 2, 3, 4] and outliers == []
    with pytest.raises(EnrollmentError, match="references are inconsistent"):
        check_references(PointEngine().pairwise(mixed), calibrate(PointEngine(), writers(12, seed=0)))


def test_every_shipped_image_engine_has_a_calibrated_enrolment_check() -> None:
    """Without params.enroll an image engine enrols five writers as one (consistency 1.0).
    A new or retrained model is calibrated with
    ``python -m edgesig.eval.enrolment calibrate --engine NAME --install edgesig/models``.
    Exempt: an engine whose fingerprint is its parameters while an ensemble pins it."""
    import math

    from edgesig.engines import ENGINE_TYPES
    from edgesig.runtime import MODELS_DIR, Manifest
    entries = Manifest(MODELS_DIR).entries.values()
    pinned = {m["name"] for e in entries for m in e.params.get("members", ()) if e.modality == "image"}
    unchecked = [e.name for e in entries if e.modality == "image" and e.name in ENGINE_TYPES
                 and not math.isfinite(EnrollPolicy.from_params(e.params).max_spread)
                 and not (e.file is None and e.name in pinned)]
    assert not unchecked, f"no params.enroll.max_spread for {unchecked}: run the calibration above"
