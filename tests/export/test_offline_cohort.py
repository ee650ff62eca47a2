"""benchmarks/offline_cohort.py: the Z-norm is what it claims (the user's cohort distances
become mean 0, spread 1; the adaptive cohort keeps each reference's nearest), the cohort
distances are the member's own (1 - cosine, or the user model's), and ``decide`` applies the
rule fixed before the folds were run (most folds against 2.6.0's recipe and a lower mean)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from benchmarks.offline_cohort import SHIPPED, Candidate, cohort_matrix, decide, normalised, user_stats
from edgesig.engines.sigembed import user_model_distances
from export.offline.evaluate import UserDistances

SETS = ["cedar", "task2", "task1", "susig", "mcyt"]


def test_normalised_puts_the_cohort_at_mean_0_spread_1() -> None:
    rng = np.random.default_rng(0)
    cohort = rng.normal(0.6, 0.1, (5, 50))
    refs = np.full((5, 5), 0.2)
    np.fill_diagonal(refs, 0.0)
    user = UserDistances("cedar:1", refs, np.full((3, 5), 0.2), cohort[:, :4].T.copy())
    out = normalised([user], [cohort], Candidate(50))[0]
    mu, sd = cohort.mean(), cohort.std()
    assert np.allclose(out.genuine, (0.2 - mu) / sd) and np.allclose(out.forgery, (cohort[:, :4].T - mu) / sd)
    assert np.all(np.diag(out.refs) == 0) and np.isclose(out.refs[0, 1], (0.2 - mu) / sd)


def test_stats_use_the_first_size_and_each_references_nearest() -> None:
    matrix = np.tile(np.arange(10, dtype=float), (5, 1))[:, ::-1]  # each reference: 9, 8, ..., 0
    assert user_stats(matrix, Candidate(4)) == (7.5, float(np.std([9, 8, 7, 6])))
    assert user_stats(matrix, Candidate(10, near=2))[0] == 0.5


def test_cohort_distances_are_the_members_own() -> None:
    rng = np.random.default_rng(1)
    refs, cohort = (x / np.linalg.norm(x, axis=1, keepdims=True) for x in rng.normal(size=(2, 5, 8)))
    assert np.allclose(cohort_matrix(refs, cohort, None), 1 - refs @ cohort.T)
    background = (rng.normal(size=8), np.eye(8))
    wd = cohort_matrix(refs, cohort, background)
    assert wd.shape == (5, 5) and np.allclose(wd, user_model_distances(refs, cohort, *background)[None])


def _write(work: Path, folds: list[list[float]]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for k, joint in enumerate(folds):
        fit = {"val_by_set": {s: 2 * e for s, e in zip(SETS, joint)}, "val_random_by_set": {s: 0.0 for s in SETS},
               "val_objective": float(np.mean(joint))}
        (work / f"ensemble-{SHIPPED.replace(',', '+')}_fold{k}.json").write_text(json.dumps(fit))


def test_decide_needs_most_folds_and_a_lower_mean(tmp_path: Path) -> None:
    """``z200`` is lower on every set of 3 folds: it wins. ``z50`` is lower on 2 folds only;
    ``znear200`` on 3 folds but far higher on the fourth, so its four-fold mean is not lower."""
    _write(tmp_path, [[0.2] * 5] * 4)
    _write(tmp_path / "cohort-z200", [[0.1] * 5] * 3 + [[0.21] * 5])
    _write(tmp_path / "cohort-z50", [[0.1] * 5] * 2 + [[0.21] * 5] * 2)
    _write(tmp_path / "cohort-znear200", [[0.19] * 5] * 3 + [[0.5] * 5])
    out = CliRunner().invoke(decide, ["0", "1", "2", "3", "--work", str(tmp_path)]).output
    lines = {line.split(":")[0]: line for line in out.splitlines()}
    assert "WINS" in lines["z200"] and "does not win" in lines["z50"] and "does not win" in lines["znear200"]
    assert "ships: z200" in out
