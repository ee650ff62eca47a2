"""Impostor-cohort normalisation (Z-norm) of the offline ensemble's members, judged over four folds (issue 19).

``ensemble`` 2.6.0 decides with one global threshold, but its scores are not comparable across
users: on CEDAR fold 0 test the mean of the per-user EERs is about 6 % while the EER at one
threshold is 10.5 %. The Sharma-Sundaram rule already divides a query's distances by the
references' own (genuine) spread; it does not see how far other people's signatures lie from
those references. Z-norm, as in speaker and signature verification: at enrolment each
reference is compared with a small fixed cohort of background signatures (training writers
only), giving the user's impostor mean and spread per member, and the query's member distance
d becomes (d - mean) / spread before the member's calibration, the fusion and the decision,
which are refitted on the normalised distances (``ensemble_fit.fit_result``, the fit 2.6.0
came from). The reference matrix is normalised the same way.

Only the cheap members are normalised: ``sigembed-wd`` (its distance to the user's model,
one number per cohort signature), ``descriptor`` and ``concavity`` (1 - cosine of rows).
A cohort is then a few hundred rows per member (a small ``.npz``), with no network run at
enrolment beyond the references' own. SDINet compares image pairs: its cohort would be the
images themselves (34 KB each) and 5 x N network runs at enrolment, for a member weighed
at 0.10; it is left as it is.

The cohort: one genuine signature of each training writer of the fold, drawn (seed 0) round
robin over the five sets, each rendered writer under clean or camera conditions at random
(CEDAR writers: their scan); a cohort of N is the first N of that order.

**Candidates and rule, fixed before any figure was seen** (validation writers only):

* ``z50`` / ``z200``: the user's mean and standard deviation over all references x the first
  50 / 200 cohort signatures (one pair of numbers per member and user);
* ``znear200``: the same over each reference's 20 nearest of the 200 (an adaptive cohort, as
  the online attempt tried after its cohort measured the pad rather than the hand:
  ``RESULTS_online_sets.md``).

A candidate wins if ``offline_ensemble_folds.py compare`` says so against the 2.6.0 recipe
refitted per fold (lower joint EER, ``ensemble_fit.joint_eer``, on most of the 5 sets and on
their mean, on at least 3 of 4 folds) and its four-fold mean of the sets' mean joint EER is
lower than the recipe's. Among winners the lowest four-fold mean pooled validation objective
ships (the smaller cohort on a tie). Test writers are printed only after (``table``).

    PYTHONPATH=. python benchmarks/offline_cohort.py score K          # K = 0..3, cohort distances
    PYTHONPATH=. python benchmarks/offline_cohort.py fit K --candidate z200
    PYTHONPATH=. python benchmarks/offline_cohort.py decide 0 1 2 3
    PYTHONPATH=. python benchmarks/offline_ensemble_folds.py table 0 1 2 3 --work build/fourfold/cohort-z200 \\
        --members sigembed-wd,sdinet,descriptor,concavity
"""
from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from benchmarks.offline_descriptor_families import folds_won, set_mean
from benchmarks.offline_ensemble_folds import SETS, WORK, fold_models, load, result_path

#: 2.6.0's members (its recipe is the base every candidate is judged against)
SHIPPED = "sigembed-wd,sdinet,descriptor,concavity"
#: the members whose distances a cohort normalises (SDINet: see the module doc)
NORMALISED = ("sigembed-wd", "descriptor", "concavity")
COHORT_MAX = 200
SEED = 0


@dataclass(frozen=True)
class Candidate:
    """A cohort of ``size`` signatures; ``near``: each reference's nearest only (None: all)."""

    size: int
    near: int | None = None


CANDIDATES = {"z50": Candidate(50), "z200": Candidate(200), "znear200": Candidate(200, 20)}


def cohort_images(fold: int, size: int = COHORT_MAX) -> tuple[np.ndarray, list[str]]:
    """The fold's cohort (uint8 (size, 155, 220)) and where each image comes from
    ('set:writer/condition#index'): training writers only, round robin over the sets."""
    from export.offline.pool import train_writers
    from export.offline.pool_eval import conditions
    rng = np.random.default_rng(SEED)
    writers = train_writers(SETS.split(","), fold, "sdinet")
    by_set: dict[str, list[Any]] = {}
    for w in writers:
        by_set.setdefault(w.key.split(":")[0], []).append(w)
    queues = [[ws[i] for i in rng.permutation(len(ws))] for ws in by_set.values()]
    images, names = [], []
    while len(images) < size and any(queues):
        for q in queues:
            if q and len(images) < size:
                w = q.pop(0)
                cond = sorted(conditions(w))[rng.integers(len(conditions(w)))]
                i = int(rng.integers(len(w.genuine)))
                images.append(w.genuine[i, conditions(w)[cond]])
                names.append(f"{w.key}/{cond}#{i}")
    return np.stack(images), names


def member_rows(name: str, fold: int, work: str) -> tuple[Any, tuple[np.ndarray, np.ndarray] | None]:
    """(pool images -> rows, background or None) of a normalised member of the fold: the
    fold's own SigEmbed, the package's descriptors (they learn nothing from writers)."""
    from edgesig.engines import load_engine
    from edgesig.runtime import Manifest
    from export.offline.data import to_float
    manifest = Manifest(fold_models(work, fold)) if name == "sigembed-wd" and fold else Manifest()
    engine = load_engine(name, manifest)
    if name == "sigembed-wd":
        return lambda imgs: engine.embed([engine.from_normalized(a) for a in to_float(imgs)]), engine.background
    return lambda imgs: np.stack([engine.from_normalized(a).ravel() for a in to_float(imgs)]).astype(np.float64), \
        engine.background


def cohort_matrix(refs: np.ndarray, cohort: np.ndarray,
                  background: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """(k, N) distances of the references' rows to the cohort's, as the member measures a query."""
    from edgesig.engines.sigembed import user_model_distances
    if background is None:
        return 1.0 - refs @ cohort.T
    return np.broadcast_to(user_model_distances(refs, cohort, *background), (len(refs), len(cohort)))


def user_lists(val: Sequence[Any], test_by_set: dict[str, Sequence[Any]]) -> dict[str, list[tuple[Any, int]]]:
    """(writer, variant) of every user in the order of the cached member distances: validation
    skilled and random (``pool_eval.validation_distances``) and every test cell."""
    from export.offline.pool_eval import REAL_CONDITIONS, RENDER_CONDITIONS, conditions, condition_users
    out = {impostor: [(w, conditions(w)[c]) for c in (*REAL_CONDITIONS, *RENDER_CONDITIONS)
                      for w in condition_users(val, c, impostor)] for impostor in ("skilled", "random")}
    for name, writers in test_by_set.items():
        for c in conditions(writers[0]) if writers else ():
            for impostor in ("skilled", "random"):
                users = condition_users(writers, c, impostor)
                if users:
                    out[f"{name}/{c}/{impostor}"] = [(w, conditions(w)[c]) for w in users]
    return out


def cohort_path(work: str, fold: int) -> Path:
    return Path(work) / "cohort" / f"cohort-fold{fold}.pkl"


@click.group()
def main() -> None:
    """Impostor-cohort normalisation of the ensemble's members over four folds."""


@main.command()
@click.argument("fold", type=int)
@click.option("--work", default=str(WORK), show_default=True)
def score(fold: int, work: str) -> None:
    """Every held-out user's references against the fold's cohort, per normalised member
    (each list's (k, COHORT_MAX) float32 matrices, in the cached distances' user order)."""
    from export.offline.pool import held_out
    from export.offline.pool_eval import REFS
    cohort, names = cohort_images(fold)
    val, test = held_out(SETS.split(","), fold, "sdinet")
    lists = user_lists(val, test)
    out: dict[str, Any] = {"cohort": names, "lists": {k: [w.key for w, _ in v] for k, v in lists.items()}}
    for member in NORMALISED:
        rows, background = member_rows(member, fold, work)
        c = rows(cohort)
        refs = {(w.key, v): rows(w.genuine[:REFS, v]) for users in lists.values() for w, v in users}
        out[member] = {k: [cohort_matrix(refs[w.key, v], c, background).astype(np.float32) for w, v in users]
                       for k, users in lists.items()}
        click.echo(f"fold {fold} {member}: cohort {c.shape}, {len(refs)} reference sets")
    path = cohort_path(work, fold)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(out))


def user_stats(matrix: np.ndarray, candidate: Candidate) -> tuple[float, float]:
    """The user's impostor mean and standard deviation under ``candidate``."""
    m = np.asarray(matrix[:, :candidate.size], dtype=np.float64)
    if candidate.near is not None:
        m = np.sort(m, axis=1)[:, :candidate.near]
    return float(m.mean()), max(float(m.std()), 1e-6)


def normalised(dists: Sequence[Any], matrices: Sequence[np.ndarray], candidate: Candidate) -> list[Any]:
    """Each user's member distances as (d - mean) / std of their cohort distances."""
    from export.offline.evaluate import UserDistances
    out = []
    for u, m in zip(dists, matrices):
        mu, sd = user_stats(m, candidate)
        refs = (u.refs - mu) / sd
        np.fill_diagonal(refs, 0.0)
        out.append(UserDistances(u.user, refs, (u.genuine - mu) / sd, (u.forgery - mu) / sd))
    return out


def check_order(dists: Sequence[Any], keys: Sequence[str], label: str) -> None:
    if [u.user for u in dists] != list(keys):
        raise click.ClickException(f"{label}: the cohort's users are not the cached distances' users; rerun score")


def base_distances(fold: int, work: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The members' cached distances the 2.6.0 recipe's fold fit came from
    (``offline_descriptor_families.py fit K --family concavity``)."""
    from edgesig.runtime import Manifest
    from benchmarks.offline_descriptor_families import family_distances
    from export.offline.ensemble_fit import cached_members, random_distances
    names = SHIPPED.split(",")[:3]
    manifest, cache = Manifest(fold_models(work, fold)), Path(work) / "cache"
    dists = cached_members(manifest, names, SETS.split(","), fold, cache)
    random = cached_members(manifest, names, SETS.split(","), fold, cache, measure=random_distances)
    dists["concavity"], random["concavity"] = family_distances("concavity", fold, Path(work))
    return dists, random


def candidate_distances(fold: int, work: str, candidate: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The members' cached distances, the cheap members' normalised by ``candidate``'s cohort
    statistics (None: as cached, the 2.6.0 recipe's)."""
    from export.offline.ensemble_fit import MemberDistances
    dists, random = base_distances(fold, work)
    if candidate is None:
        return dists, random
    cand = CANDIDATES[candidate]
    cohort = pickle.loads(cohort_path(work, fold).read_bytes())
    for m in NORMALISED:
        check_order(dists[m].val, cohort["lists"]["skilled"], f"{m} validation")
        check_order(random[m], cohort["lists"]["random"], f"{m} random")
        mats = cohort[m]
        test = {}
        for cell, d in dists[m].test.items():
            check_order(d, cohort["lists"][cell], f"{m} {cell}")
            test[cell] = normalised(d, mats[cell], cand)
        dists[m] = MemberDistances(normalised(dists[m].val, mats["skilled"], cand), test)
        random[m] = normalised(random[m], mats["random"], cand)
    return dists, random


def candidate_work(work: str, candidate: str | None) -> str:
    """Where a candidate's fits lie (the base's: ``work`` itself)."""
    return work if candidate is None else str(Path(work) / f"cohort-{candidate}")


@main.command()
@click.argument("fold", type=int)
@click.option("--candidate", type=click.Choice(list(CANDIDATES)), required=True)
@click.option("--work", default=str(WORK), show_default=True)
@click.option("--step", default=0.05, show_default=True, help="the weight grid step (pool ensemble's)")
def fit(fold: int, candidate: str, work: str, step: float) -> None:
    """2.6.0's members with the cheap ones cohort-normalised, fitted by the joint rule."""
    from export.offline.ensemble_fit import fit_result
    dists, random = candidate_distances(fold, work, candidate)
    _, result = fit_result(dists, random, step, "joint")
    names = pickle.loads(cohort_path(work, fold).read_bytes())["cohort"]
    result = {"command": f"offline_cohort.py fit {fold} --candidate {candidate}", "fold": fold,
              "sets": SETS.split(","), "cohort": names[:CANDIDATES[candidate].size], **result}
    out = result_path(candidate_work(work, candidate), fold, SHIPPED)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    click.echo(f"fold {fold} {candidate}: weights {result['weights']}, terms {result['combine']}, pooled validation "
               f"skilled {100 * result['val_eer']:.2f} / random {100 * result['val_random_eer']:.2f} -> joint "
               f"{100 * result['val_objective']:.2f} %")


@main.command()
@click.argument("folds", nargs=-1, type=int, required=True)
@click.option("--work", default=str(WORK), show_default=True)
def gap(folds: Sequence[int], work: str) -> None:
    """Validation writers, each fold's fitted fusion: the EER at one threshold against the mean
    of the per-user EERs (skilled forgeries, then random), base and candidates. A normalisation
    that makes users' scores comparable narrows the first towards the second."""
    from export.offline.ensemble_fit import fuse_users, pair_calibration, ss_scores
    from edgesig.eval.protocols import Report
    click.echo("| fold | fit | skilled, all sets: global / mean per-user EER | skilled, CEDAR | random, all sets | "
               "random, CEDAR |\n|---|---|---|---|---|---|")
    for k in folds:
        for candidate in (None, *CANDIDATES):
            path = result_path(candidate_work(work, candidate), k, SHIPPED)
            if not path.is_file():
                continue
            r = json.loads(path.read_text())
            dists, random = candidate_distances(k, work, candidate)
            names = list(dists)
            cals = [pair_calibration(dists[n].val) for n in names]
            w = [r["weights"][n] for n in names]
            cells = []
            for per_member in ([dists[n].val for n in names], [random[n] for n in names]):
                fused = fuse_users(w, cals, per_member)
                scores = ss_scores(fused, r["combine"])
                cedar = [u for u, d in zip(scores, fused) if d.user.startswith("cedar:")]
                for part in (scores, cedar):
                    s = Report(part).summary()
                    cells.append(f"{100 * s['eer']:.2f} / {100 * s['mean_user_eer']:.2f}")
            click.echo(f"| {k} | {candidate or '2.6.0 recipe'} | " + " | ".join(cells) + " |")


@main.command("by-condition")
@click.argument("fold", type=int)
@click.option("--work", default=str(WORK), show_default=True)
def by_condition(fold: int, work: str) -> None:
    """What a user's cohort statistics follow (no labels used beyond the users' own pairs):
    per member and capture condition, the validation users' median cohort mean (200, all
    references), and their median genuine and skilled-forgery distance."""
    from export.offline.pool import held_out
    from export.offline.pool_eval import RENDER_CONDITIONS
    val, test = held_out(SETS.split(","), fold, "sdinet")
    names = {v: c for c, v in RENDER_CONDITIONS.items()}
    users = user_lists(val, test)["skilled"]
    conds = ["scan" if w.key.startswith("cedar:") else names[v] for w, v in users]
    dists, _ = base_distances(fold, work)
    cohort = pickle.loads(cohort_path(work, fold).read_bytes())
    click.echo("| member | condition | users | cohort mean | genuine | skilled forgery |\n|---|---|---|---|---|---|")
    for m in NORMALISED:
        check_order(dists[m].val, cohort["lists"]["skilled"], m)
        for c in dict.fromkeys(conds):
            pick = [i for i, x in enumerate(conds) if x == c]
            med = [float(np.median([f(i) for i in pick])) for f in (
                lambda i: cohort[m]["skilled"][i].mean(), lambda i: dists[m].val[i].genuine.mean(),
                lambda i: dists[m].val[i].forgery.mean())]
            click.echo(f"| {m} | {c} | {len(pick)} | " + " | ".join(f"{x:.3f}" for x in med) + " |")


@main.command()
@click.argument("folds", nargs=-1, type=int, required=True)
@click.option("--work", default=str(WORK), show_default=True)
def decide(folds: Sequence[int], work: str) -> None:
    """The rule above on every candidate whose fits lie under ``--work``: validation writers only."""
    base = load(work, folds, SHIPPED)
    base_mean = float(np.mean([set_mean(r) for r in base]))
    winners = []
    for name, cand in CANDIDATES.items():
        where = str(Path(work) / f"cohort-{name}")
        if not all(result_path(where, k, SHIPPED).is_file() for k in folds):
            continue
        fits = load(where, folds, SHIPPED)
        won, mean = folds_won(base, fits), float(np.mean([set_mean(r) for r in fits]))
        pooled = float(np.mean([r["val_objective"] for r in fits]))
        wins = 2 * won > len(folds) and mean < base_mean
        click.echo(f"{name}: {won}/{len(folds)} folds won against 2.6.0's recipe; four-fold mean of the sets' joint "
                   f"EER {100 * mean:.2f} against {100 * base_mean:.2f} %; pooled validation joint objective per fold "
                   + " / ".join(f"{100 * r['val_objective']:.2f}" for r in fits) + f" (base "
                   + " / ".join(f"{100 * r['val_objective']:.2f}" for r in base) + f"), mean {100 * pooled:.2f} %: "
                   + ("WINS" if wins else "does not win"))
        if wins:
            winners.append((round(pooled, 9), cand.size, name))
    click.echo(f"ships: {min(winners)[2]}" if winners else "no candidate wins: nothing ships")


if __name__ == "__main__":
    main()
