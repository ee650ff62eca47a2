"""Fitting the offline ensemble on the pool protocol: members are measured as the kiosk runs
them, a member that learned from held-out writers is refused, and the weight search takes
any number of members. No data needed: toy flow trees and drawn curves stand in for signatures."""
from __future__ import annotations

import numpy as np
import pytest

from edgesig.engines.flow import FlowEngine
from edgesig.errors import ModelError
from edgesig.eval.datasets import split
from edgesig.offline.flow import to_grid
from edgesig.runtime import Manifest, ModelEntry
from export.offline.data import ImageWriter
from export.offline.ensemble_fit import (MemberDistances, check_members, eer_by_set, fit, fused_val_by_set,
                                        joint_eer, judged_by_set, random_distances, ss_scores)
from export.offline.evaluate import UserDistances
from export.offline.pool_eval import condition_distances, engine_comparator
from tests.offline.test_flow import CFG, _toy_model, blob_image


def _flow(**metrics) -> ModelEntry:
    model = _toy_model()
    return ModelEntry(name="flow", version="test", modality="image",
                      params={"flow": CFG.to_dict(), "prior": model.prior.to_dict(), "trees": model.trees.to_dict()},
                      calibration={"threshold": 1.0, "slope": 1.0}, metrics=dict(metrics))


def _writer(n_genuine: int = 7, n_forgery: int = 3) -> ImageWriter:
    """uint8 (n, 4 variants, 155, 220) ink = 255, as the cached renders; forgeries drawn further off."""
    def stack(shifts: list[int], seed: int) -> np.ndarray:
        imgs = [np.round(255 * blob_image(dx=s, seed=seed + k)).astype(np.uint8) for k, s in enumerate(shifts)]
        return np.stack([np.stack([im] * 4) for im in imgs])
    return ImageWriter("svc2004-task2:99", stack(list(range(n_genuine)), 0), stack([8] * n_forgery, 50))


def test_engine_comparator_is_the_engine_as_the_kiosk_runs_it() -> None:
    """Flow stores a grid (``from_normalized``) and scores references against the whole set's
    stability map (its own ``pairwise``): the protocol must see exactly that."""
    engine, writer = FlowEngine(_flow()), _writer()
    d = condition_distances(engine_comparator(engine), [writer], "clean", "skilled")[0]
    assert d.refs.shape == (5, 5) and np.allclose(d.refs, d.refs.T) and np.all(np.diag(d.refs) == 0)
    assert d.genuine.shape == (2, 5) and d.forgery.shape == (3, 5)
    grid = [to_grid(a.astype(np.float32) / 255, CFG) for a in writer.genuine[:, 0]]
    assert np.allclose(d.genuine[1], engine.distances(grid[6], grid[:5]))
    assert np.allclose(d.refs, engine.pairwise(grid[:5]))


def test_members_that_saw_held_out_writers_are_refused() -> None:
    val, test = (split("svc2004-task2", p, 0) for p in ("val", "test"))
    train = [int(u) for u in split("svc2004-task2", "train", 0)]
    check_members([_flow(train_users=",".join(map(str, train)))], 0)
    with pytest.raises(ModelError, match=rf"\[{val[0]}\]"):
        check_members([_flow(train_users=f"{train[0]},{val[0]}")], 0)
    with pytest.raises(ModelError, match=rf"\[{test[0]}\]"):      # tuned on a test writer
        check_members([_flow(train_users=str(train[0]), val_users=str(test[0]))], 0)
    pooled = _flow(shipped_fold={"fold": 1, "sets": ["cedar"], "train_users": [], "val_users": []})
    with pytest.raises(ModelError, match="fold 1"):
        check_members([pooled], 0)


def _member(rng: np.random.Generator, separates: bool) -> list[UserDistances]:
    def user(k: int) -> UserDistances:
        refs = rng.uniform(0.05, 0.15, (5, 5))
        refs = (refs + refs.T) / 2
        np.fill_diagonal(refs, 0.0)
        far = (0.85, 0.95) if separates else (0.05, 0.95)
        return UserDistances(f"u{k}", refs, rng.uniform(0.05, 0.15, (6, 5)) if separates
                             else rng.uniform(0.05, 0.95, (6, 5)), rng.uniform(*far, (6, 5)))
    return [user(k) for k in range(6)]


def test_weight_search_takes_a_third_member() -> None:
    rng = np.random.default_rng(0)
    fitted = fit([_member(rng, False), _member(rng, False), _member(rng, True)], step=0.25)
    assert len(fitted.weights) == 3 and sum(fitted.weights) == pytest.approx(1.0)
    assert len(fitted.grid) == 15                      # the 0.25 grid of the 3-simplex
    assert fitted.weights[2] > 0 and fitted.val_eer == 0.0


def test_weight_search_keeps_to_the_candidates_given() -> None:
    """A caller's line of weights replaces the simplex: only those are judged, the best kept."""
    rng = np.random.default_rng(0)
    line = [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0)]
    fitted = fit([_member(rng, False), _member(rng, True)], step=0.05, candidates=line)
    assert [g["weights"] for g in fitted.grid] == [list(w) for w in line]
    assert fitted.weights[1] > 0 and fitted.val_eer == 0.0


def _user(key: str, shift: float, seed: int = 0) -> UserDistances:
    """Distances of a toy user whose forgeries lie ``shift`` further than its genuine queries."""
    rng = np.random.default_rng(seed)
    refs = rng.uniform(0.1, 0.2, (5, 5))
    refs = (refs + refs.T) / 2
    np.fill_diagonal(refs, 0.0)
    return UserDistances(key, refs, rng.uniform(0.1, 0.3, (4, 5)), rng.uniform(0.1 + shift, 0.3 + shift, (4, 5)))


def test_validation_eer_is_reported_per_set() -> None:
    """What the most-sets rule compares: each set's writers alone (separable: 0, overlapping: > 0)."""
    val = [_user("cedar:1", 1.0, 1), _user("cedar:2", 1.0, 2), _user("mcyt:1", 0.0, 3), _user("mcyt:2", 0.0, 4)]
    by_set = eer_by_set(ss_scores(val, ["min"]), [u.user for u in val])
    assert list(by_set) == ["cedar", "mcyt"] and by_set["cedar"] == 0.0 and by_set["mcyt"] > 0.1
    fitted = fit([val, val], 0.5)
    assert fused_val_by_set(fitted, [val, val]).keys() == by_set.keys()


def test_cached_members_score_each_model_once(tmp_path, monkeypatch) -> None:
    """Each measure once per model: the random-forgery distances are kept beside the skilled
    ones, never read in their place."""
    import export.offline.ensemble_fit as ef
    scored: list[tuple[str, list[str]]] = []

    def score(manifest, names, sets, fold, threads=1, measure=ef.member_distances):
        scored.append((measure.__name__, list(names)))
        if measure is ef.member_distances:
            return {n: MemberDistances([_user("cedar:1", 0.5)], {}) for n in names}
        return {n: [_user("cedar:1", 0.9)] for n in names}
    monkeypatch.setattr(ef, "score_members", score)
    manifest = Manifest(tmp_path / "models")
    manifest.put(_flow())
    first = ef.cached_members(manifest, ["flow"], ["cedar"], 0, tmp_path / "cache")
    again = ef.cached_members(manifest, ["flow"], ["cedar"], 0, tmp_path / "cache")
    rand = ef.cached_members(manifest, ["flow"], ["cedar"], 0, tmp_path / "cache", measure=random_distances)
    rand_again = ef.cached_members(manifest, ["flow"], ["cedar"], 0, tmp_path / "cache", measure=random_distances)
    assert scored == [("member_distances", ["flow"]), ("member_distances", []),
                      ("random_distances", ["flow"]), ("random_distances", [])]
    assert np.allclose(first["flow"].val[0].refs, again["flow"].val[0].refs)
    assert np.allclose(rand["flow"][0].forgery, rand_again["flow"][0].forgery)
    assert not np.allclose(rand["flow"][0].forgery, first["flow"].val[0].forgery)


def _members(skilled_shift: float, random_shift: float, seed: int) -> tuple[list[UserDistances], list[UserDistances]]:
    """A toy member's validation users: skilled and random forgeries ``*_shift`` beyond the
    genuine queries (same references and genuine queries: the same draws)."""
    keys = ["cedar:1", "cedar:2", "mcyt:1", "mcyt:2"]
    return ([_user(k, skilled_shift, seed + i) for i, k in enumerate(keys)],
            [_user(k, random_shift, seed + i) for i, k in enumerate(keys)])


def test_the_joint_rule_keeps_random_forgeries_out() -> None:
    """Member 0 separates skilled forgeries but not other writers; member 1 puts skilled
    forgeries nearer than genuine queries and other writers far away. The skilled-only fit
    finds a weighting and terms with no skilled error and leaves half the random forgeries
    (what let 2.5.0 double the random EER); the joint fit finds one with neither."""
    (s0, r0), (s1, r1) = _members(0.3, 0.0, 0), _members(-0.2, 0.8, 10)
    skilled = fit([s0, s1], 0.25, [r0, r1], "skilled")
    joint = fit([s0, s1], 0.25, [r0, r1], "joint")
    assert skilled.val_eer == 0.0 and skilled.judged.val_random_eer == 0.5 and skilled.judged.objective == 0.0
    assert joint.val_eer == 0.0 and joint.judged.val_random_eer == 0.0 and joint.weights != skilled.weights
    assert all(g["objective"] == pytest.approx(joint_eer(g["val_eer"], g["val_random_eer"])) for g in joint.grid)
    assert fit([s0, s1], 0.25).weights == skilled.weights        # without random forgeries: skilled only


def test_judged_by_set_is_the_joint_rule_on_each_set() -> None:
    result = {"val_by_set": {"cedar": 0.10, "mcyt": 0.20}, "val_random_by_set": {"cedar": 0.02, "mcyt": 0.10}}
    assert judged_by_set(result, "joint") == pytest.approx({"cedar": 0.06, "mcyt": 0.15})
    assert judged_by_set(result, "skilled") == result["val_by_set"]


def test_pool_ensemble_records_both_impostors_and_fits_by_the_objective(tmp_path, monkeypatch) -> None:
    """``pool ensemble --out``: the joint fit by default, the skilled-only fit on request, each
    with its skilled and random validation EER per set (what ``compare`` judges)."""
    import dataclasses
    import json

    from click.testing import CliRunner

    import export.offline.ensemble_fit as ef
    from export.offline.pool_cli import ensemble
    manifest = Manifest(tmp_path / "models")
    for name in ("a", "b"):
        manifest.put(dataclasses.replace(_flow(), name=name))
    members = {"a": _members(0.3, 0.0, 0), "b": _members(-0.2, 0.8, 10)}

    def cached(manifest, names, sets, fold, cache, threads=1, measure=ef.member_distances):
        if measure is ef.member_distances:
            return {n: MemberDistances(members[n][0], {}) for n in names}
        return {n: members[n][1] for n in names}
    monkeypatch.setattr(ef, "cached_members", cached)
    results = {}
    for objective in ("joint", "skilled"):
        out = tmp_path / f"{objective}.json"
        run = CliRunner().invoke(ensemble, ["--members", "a,b", "--sets", "cedar,mcyt", "--step", "0.25",
                                            "--models-dir", str(manifest.dir), "--no-install", "--out", str(out),
                                            "--objective", objective])
        assert run.exit_code == 0, run.output
        results[objective] = json.loads(out.read_text())
    joint, skilled = results["joint"], results["skilled"]
    assert joint["objective"] == "joint" and set(joint["val_random_by_set"]) == {"cedar", "mcyt"}
    assert joint["val_objective"] == pytest.approx(joint_eer(joint["val_eer"], joint["val_random_eer"]))
    assert skilled["val_objective"] == skilled["val_eer"] == 0.0 and skilled["val_random_eer"] == 0.5
    assert joint["val_random_eer"] == 0.0 and joint["weights"] != skilled["weights"]
