"""Fit and evaluate the offline ensemble on the training pool (CEDAR scans plus rendered online writers).

Members are installed image engines run exactly as the kiosk runs them
(``pool_eval.engine_comparator``), on the same writers of one ``edgesig.eval.datasets`` fold.
On the validation writers of every set pooled (``pool_eval.validation_distances``: CEDAR
scans, renders clean and camera), per member, a logistic calibration maps a pair distance to
P(genuine) (genuine query-reference pairs against skilled forgery pairs); the weights are
then searched on a grid of the simplex for the lowest pooled validation objective
(Sharma-Sundaram terms chosen per weight by the same objective), ties going to the most even
weights, and the threshold is the skilled-forgery EER point of the chosen fusion.

The objective is the joint rule (``joint_eer``): the mean of the skilled-forgery EER and the
random-forgery EER of the same validation writers (random forgeries: the other validation
writers' genuine signatures of the same part). A kiosk meets both impostors and issue 19 sets
a target for each; a skilled-only fit let a member in that doubled the random EER (``ensemble``
2.5.0). ``objective="skilled"`` is the earlier fit, kept to reproduce entries made by it.
The test writers are scored only at the end, cell by cell (``set/condition/impostor``) at the
validation threshold.
"""
from __future__ import annotations

import itertools
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgesig.decision import Calibration, fit_calibration
from edgesig.engines.ensemble import fuse
from edgesig.errors import ModelError
from edgesig.eval.protocols import Report, UserScores, parse_users
from edgesig.runtime import Manifest, ModelEntry
from export.offline.data import ImageWriter
from export.offline.evaluate import COMBINES, UserDistances, calibrate, choose_combine, pooled_eer, to_report
from export.offline.pool_eval import Comparator, cell_distances, summarize, validation_distances


@dataclass
class MemberDistances:
    """One member's protocol distances: the pooled validation writers and every test cell."""

    val: list[UserDistances]
    test: dict[str, list[UserDistances]]


#: What the fit minimises and ``offline_ensemble_folds.py compare`` judges: ``joint`` (skilled
#: and random forgeries, ``joint_eer``) or ``skilled`` (skilled forgeries only, the earlier rule).
OBJECTIVES = ("joint", "skilled")


def joint_eer(skilled: float, random: float) -> float:
    """The joint rule on one set of validation writers: the mean of their skilled- and
    random-forgery EER. A mean rather than "skilled EER, random not worse": a point of EER is a
    point of error whichever impostor causes it, the rule needs no reference to be measured
    against (the weight search has none), and a few hundredths of random EER, within noise,
    cannot veto a skilled gain of whole points while a doubled random EER still outweighs a
    skilled gain smaller than the random loss."""
    return (skilled + random) / 2


def judged_by_set(result: dict[str, Any], objective: str) -> dict[str, float]:
    """Per set, what ``objective`` judges in a fit's recorded result (``pool ensemble --out``):
    its skilled validation EER, or the joint rule on its skilled and random validation EER."""
    skilled = result["val_by_set"]
    if objective == "skilled":
        return dict(skilled)
    return {s: joint_eer(e, result["val_random_by_set"][s]) for s, e in skilled.items()}


@dataclass
class Judged:
    """A scoring of the validation writers judged by a rule of ``OBJECTIVES``: its terms, skilled
    EER and, where random forgeries were scored, random EER."""

    combine: tuple[str, ...]
    val_eer: float
    val_random_eer: float | None
    rule: str

    @property
    def objective(self) -> float:
        """What the rule minimises."""
        if self.rule == "skilled" or self.val_random_eer is None:
            return self.val_eer
        return joint_eer(self.val_eer, self.val_random_eer)


@dataclass
class EnsembleFit:
    weights: list[float]
    member_calibrations: list[Calibration]
    judged: Judged
    calibration: Calibration
    grid: list[dict[str, Any]]

    @property
    def combine(self) -> tuple[str, ...]:
        return self.judged.combine

    @property
    def val_eer(self) -> float:
        """Pooled skilled-forgery validation EER (``selection_eer``, comparable with any engine's)."""
        return self.judged.val_eer


def member_distances(compare: Comparator, val: Sequence[ImageWriter],
                     test_by_set: dict[str, Sequence[ImageWriter]]) -> MemberDistances:
    """A member's distances on the fold's validation writers and every set's test writers."""
    return MemberDistances(validation_distances(compare, val), cell_distances(compare, test_by_set))


def random_distances(compare: Comparator, val: Sequence[ImageWriter], test_by_set: Any) -> list[UserDistances]:
    """A member's distances on the validation writers with random forgeries (the other validation
    writers' genuine signatures of the same part, every condition): ``score_members``' measure
    for the random half of the joint rule."""
    return validation_distances(compare, val, "random")


def score_members(manifest: Manifest, names: Sequence[str], sets: Sequence[str], fold: int,
                  threads: int = 1, measure: Callable[..., Any] = member_distances) -> dict[str, Any]:
    """Each installed engine of ``names`` run as the kiosk runs it on the fold's held-out writers
    (read once per normalisation target): ``measure(comparator, validation writers, test writers
    by set)``, by default its distances on both."""
    from edgesig.engines import load_engine
    from export.offline.pool import held_out
    from export.offline.pool_eval import engine_comparator
    writers: dict[str, tuple[list[ImageWriter], dict[str, list[ImageWriter]]]] = {}
    out = {}
    for name in names:
        target = str(manifest.get(name).params.get("target", name))
        if target not in writers:
            writers[target] = held_out(sets, fold, target)
        out[name] = measure(engine_comparator(load_engine(name, manifest, threads)), *writers[target])
    return out


def cached_members(manifest: Manifest, names: Sequence[str], sets: Sequence[str], fold: int, cache: Path | None,
                   threads: int = 1, measure: Callable[..., Any] = member_distances) -> dict[str, Any]:
    """``score_members``, each member's ``measure`` kept under ``cache`` by its fingerprint (and the
    measure's name, but for the default), so fits of other member sets on the same fold score each
    model once (``None``: no cache)."""
    if cache is None:
        return score_members(manifest, names, sets, fold, threads, measure)
    tag = "" if measure is member_distances else "-" + measure.__name__.replace("_", "-")
    paths = {n: cache / f"{n}-{manifest.get(n).fingerprint[:12]}-fold{fold}-{'+'.join(sets)}{tag}.pkl" for n in names}
    measured = score_members(manifest, [n for n in names if not paths[n].is_file()], sets, fold, threads, measure)
    cache.mkdir(parents=True, exist_ok=True)
    for n, d in measured.items():
        paths[n].write_bytes(pickle.dumps(d))
    return {n: measured[n] if n in measured else pickle.loads(paths[n].read_bytes()) for n in names}


def _users(entry: ModelEntry, key: str) -> set[int]:
    """SVC2004 Task 2 writers an entry records under ``key`` (its shipped fold's, or a '1-20' spec)."""
    users = entry.metrics.get("shipped_fold", {}).get(key, entry.metrics.get(key, ()))
    return set(parse_users(users) if isinstance(users, str) else (int(u) for u in users))


def check_members(entries: Sequence[ModelEntry], fold: int) -> None:
    """Refuse a member that learned from writers the fold holds out: fitting the fusion on
    writers a member was trained on, or testing it on writers one was trained or tuned on,
    would flatter it. Entries record SVC2004 Task 2's writers (the one set every image model
    has used); a pool-trained member (``shipped_fold.sets``) must come from this very fold."""
    from edgesig.eval.datasets import split
    val, test = ({int(u) for u in split("svc2004-task2", p, fold)} for p in ("val", "test"))
    for e in entries:
        shipped = e.metrics.get("shipped_fold", {})
        if "sets" in shipped and shipped.get("fold") != fold:
            raise ModelError(f"{e.name!r} was trained on the pool's fold {shipped.get('fold')}, not fold {fold}; "
                             f"fit the ensemble on fold {shipped.get('fold')} or retrain the member")
        seen = sorted(_users(e, "train_users") & (val | test) | _users(e, "val_users") & test)
        if seen:
            raise ModelError(f"{e.name!r} was trained or tuned on SVC2004 Task 2 writers {seen}, which fold {fold} "
                             "holds out; retrain it on the fold's training writers (python -m export offline "
                             "pool ...) or leave it out of --members")


def fuse_users(weights: Sequence[float], cals: Sequence[Calibration],
               members: Sequence[Sequence[UserDistances]]) -> list[UserDistances]:
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


def judge(skilled: Sequence[UserDistances], random: Sequence[UserDistances] | None,
          objective: str = "joint") -> Judged:
    """The Sharma-Sundaram terms with the lowest objective on the validation writers, the first of
    ``COMBINES`` on a tie. Without ``random`` the rule is skilled-only; with it under the
    skilled rule the random EER is measured at the terms skilled forgeries chose."""
    if random is None or objective == "skilled":
        combine, skilled_eer = choose_combine(skilled)
        return Judged(combine, skilled_eer, None if random is None else pooled_eer(random, combine), "skilled")
    return min((Judged(c, pooled_eer(skilled, c), pooled_eer(random, c), "joint") for c in COMBINES),
               key=lambda j: j.objective)


def fit(val: Sequence[Sequence[UserDistances]], step: float = 0.1,
        random: Sequence[Sequence[UserDistances]] | None = None, objective: str = "joint",
        candidates: Sequence[tuple[float, ...]] | None = None) -> EnsembleFit:
    """Member calibrations, weights, terms and threshold from the pooled validation writers only
    (``val``: per member, the same users in the same order; ``random``: per member, the same
    writers with random forgeries, or None: skilled forgeries only, whatever ``objective``).
    The weights searched are ``candidates``, by default the whole simplex at ``step`` (a fifth
    member's full grid is 10,626 points at 0.05, hours on 2 cores: a caller may search a line).
    The threshold is the skilled EER point: at it random forgeries are all but never accepted."""
    cals = [pair_calibration(p) for p in val]
    judged = {w: judge(fuse_users(w, cals, val), None if random is None else fuse_users(w, cals, random), objective)
              for w in (candidates or simplex(len(val), step))}
    even = 1.0 / len(val)
    weights = min(judged, key=lambda w: (round(judged[w].objective, 9), max(abs(x - even) for x in w)))
    grid = [{"weights": list(w), "combine": list(j.combine), "val_eer": j.val_eer,
             "val_random_eer": j.val_random_eer, "objective": j.objective} for w, j in judged.items()]
    best = judged[weights]
    return EnsembleFit(list(weights), cals, best, calibrate(fuse_users(weights, cals, val), best.combine), grid)


def evaluate(fitted: EnsembleFit, test: Sequence[dict[str, list[UserDistances]]]) -> dict[str, dict[str, Any]]:
    """Every test cell at the validation threshold (``test``: per member, its cells)."""
    return {cell: summarize(fuse_users(fitted.weights, fitted.member_calibrations, [m[cell] for m in test]),
                            fitted.combine, fitted.calibration.threshold) for cell in test[0]}


def single(member: MemberDistances, random: Sequence[UserDistances] | None = None,
           objective: str = "joint") -> dict[str, Any]:
    """One member alone through the same protocol (terms by ``objective``, threshold from
    validation; ``random``: its random-forgery validation distances, or None: skilled only)."""
    j = judge(member.val, random, objective)
    cal = calibrate(member.val, j.combine)
    out = {"val_eer": j.val_eer, "objective": j.objective, "combine": list(j.combine),
           "val_by_set": eer_by_set(ss_scores(member.val, j.combine), [u.user for u in member.val]),
           "test": {cell: summarize(d, j.combine, cal.threshold) for cell, d in member.test.items()}}
    if random is not None:
        out |= {"val_random_eer": j.val_random_eer,
                "val_random_by_set": eer_by_set(ss_scores(random, j.combine), [u.user for u in random])}
    return out


def ss_scores(dists: Sequence[UserDistances], combine: Sequence[str]) -> list[UserScores]:
    """Each user's Sharma-Sundaram scores under ``combine``."""
    return to_report(dists, tuple(combine)).users


def eer_by_set(scores: Sequence[UserScores], users: Sequence[str]) -> dict[str, float]:
    """Validation EER of each set's writers (all its conditions pooled; ``users``: 'set:writer'
    keys in the order of ``scores``), threshold-free: what the most-sets rule compares."""
    sets = [k.split(":")[0] for k in users]
    return {s: float(Report([u for u, k in zip(scores, sets) if k == s]).summary()["eer"]) for s in dict.fromkeys(sets)}


def fused_val_by_set(fitted: EnsembleFit, val: Sequence[Sequence[UserDistances]]) -> dict[str, float]:
    """The fitted fusion's validation EER per set (``val``: per member, as given to ``fit``)."""
    fused = fuse_users(fitted.weights, fitted.member_calibrations, val)
    return eer_by_set(ss_scores(fused, fitted.combine), [u.user for u in val[0]])


def fit_result(dists: dict[str, MemberDistances], random: dict[str, Sequence[UserDistances]], step: float,
               objective: str, candidates: Sequence[tuple[float, ...]] | None = None
               ) -> tuple[EnsembleFit, dict[str, Any]]:
    """``fit`` on the members' cached distances (by name, in member order) and what ``pool ensemble
    --out`` records of it: weights, terms, validation EER pooled and per set (skilled and random),
    every test cell, each member alone and the weight grid. A member need not be installed to be
    fitted here (``benchmarks/offline_descriptor_families.py`` fits handcrafted candidates so)."""
    names = list(dists)
    fitted = fit([dists[n].val for n in names], step, [random[n] for n in names], objective, candidates)
    return fitted, {
        "objective": objective, "weights": dict(zip(names, fitted.weights)), "combine": list(fitted.combine),
        "val_eer": fitted.val_eer, "val_random_eer": fitted.judged.val_random_eer,
        "val_objective": fitted.judged.objective, "calibration": fitted.calibration.to_dict(),
        "val_by_set": fused_val_by_set(fitted, [dists[n].val for n in names]),
        "val_random_by_set": fused_val_by_set(fitted, [random[n] for n in names]),
        "test": evaluate(fitted, [dists[n].test for n in names]),
        "singles": {n: single(d, random[n], objective) for n, d in dists.items()},
        # each member alone through the fusion's calibration: what fusing adds beyond the mapping
        "calibrated_singles": {n: fit([d.val], step, [random[n]], objective).judged.objective
                               for n, d in dists.items()}, "grid": fitted.grid}
