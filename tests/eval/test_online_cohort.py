"""benchmarks/online_cohort.py: the cohort is drawn from training writers only, and its
terms are the z-normalised and log-ratio distances they claim to be."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.online_cohort import COHORT_TERMS, NEAR, CohortChoice, cohort, cohort_terms
from edgesig.eval.datasets import FOLDS, PARTS, split

SETS = ("svc2004-task2", "susig", "mcyt")


def _pool() -> list[tuple[str, int]]:
    return sorted({(s, int(w)) for s in SETS for part in PARTS for w in split(s, part, 0)})


@pytest.mark.parametrize("fold", range(FOLDS))
def test_the_cohort_holds_training_writers_only_evenly_per_set(fold):
    pool = _pool()
    members = [pool[c] for c in cohort(pool, SETS, fold, 48)]
    assert len(set(members)) == 48
    for s in SETS:
        mine = [w for name, w in members if name == s]
        assert len(mine) == 16
        assert set(mine) <= {int(w) for w in split(s, "train", fold)}
        assert not set(mine) & {int(w) for part in ("val", "test") for w in split(s, part, fold)}
    assert cohort(pool, SETS, fold, 48) == cohort(pool, SETS, fold, 48)


def test_terms_are_z_scores_and_log_ratios_against_the_cohort():
    rng = np.random.default_rng(0)
    d = np.column_stack([rng.uniform(2, 3, (5, NEAR)), rng.uniform(8, 9, (5, 20))])  # far members: another pad
    q = rng.uniform(1, 4, (3, 5))
    values = dict(zip(COHORT_TERMS, cohort_terms(q, d)))
    assert len(values) == len(COHORT_TERMS)
    np.testing.assert_allclose(values["cohort.min"], (q.min(axis=1) - d.mean()) / d.std(), rtol=1e-6)
    z = (q - d.mean(axis=1)) / d.std(axis=1)
    np.testing.assert_allclose(values["cohort.zmean"], z.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(values["cohort_log.mean"], np.log(q.mean(axis=1) / d.mean()))
    near = d[:, :NEAR]  # the nearest members only: the far pad's signatures do not move these terms
    np.testing.assert_allclose(values["cohort_near.zmin"],
                               ((q - near.mean(axis=1)) / near.std(axis=1)).min(axis=1), rtol=1e-6)
    np.testing.assert_allclose(values["cohort_near.log_min"], np.log(q.min(axis=1) / near.mean()))


def test_a_choice_names_cohort_terms_beside_the_shipped_families():
    names = ("min", "mean", "max", "tmp", "log.min", "log.mean", "log.max", "log.tmp", "global.a", "signed.a",
             *COHORT_TERMS)
    terms = CohortChoice(("pair", "global", "cohort_log"), True, 1.0).terms(names)
    assert terms == ("log.min", "log.mean", "global.a", "cohort_log.min", "cohort_log.mean", "cohort_log.near")
