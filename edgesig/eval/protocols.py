"""Evaluation protocols over signature databases.

SVC2004 Task 2 skilled-forgery protocol (as published results use it): for each user the
first ``refs`` genuine signatures are the references, the other genuine ones and the 20
skilled forgeries are the tests. Scores are the decision rule's normalised
dissimilarities, so the same numbers serve tuning, calibration and reporting.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from edgesig.decision import Calibration, ReferenceStats, dissimilarity
from edgesig.errors import DatasetError, InvalidInputError
from edgesig.eval.metrics import auc, eer, far_frr

SVC_GENUINE = range(1, 21)
SVC_FORGERY = range(21, 41)
#: The pen sets of ``edgesig.eval.datasets`` (CEDAR holds images).
ONLINE_SETS = ("svc2004-task2", "svc2004-task1", "susig", "mcyt")


@dataclass
class UserSamples:
    """One user's samples: genuine ones in capture order, then skilled forgeries."""

    user: int
    genuine: list[Any]
    forgery: list[Any]


def load_svc2004(directory: str | Path, users: Iterable[int] | None = None,
                 loader: Callable[[Path], Any] | None = None,
                 suffixes: Iterable[str] = (".txt",)) -> list[UserSamples]:
    """Read SVC2004-numbered files ``U{u}S{s}.<suffix>`` into per-user samples.

    Pen files (``.TXT``) by default; with image ``suffixes`` and ``loader=str`` the same
    numbering serves a folder of scanned or photographed signatures. A requested user
    without files is a DatasetError naming the users the folder holds: a report over
    fewer writers than asked for would pass for the one asked for.
    """
    from edgesig.capture import load_pen
    root = Path(directory)
    if not root.is_dir():
        raise InvalidInputError(f"SVC2004 folder not found: {root}")
    wanted_suffixes = {x.lower() for x in suffixes}
    found: dict[int, dict[int, Path]] = {}
    for path in sorted(root.iterdir()):
        m = re.fullmatch(r"U(\d+)S(\d+)(\.\w+)", path.name, flags=re.IGNORECASE)
        if m and m.group(3).lower() in wanted_suffixes:
            found.setdefault(int(m.group(1)), {}).setdefault(int(m.group(2)), path)
    if not found:
        raise InvalidInputError(f"no SVC2004-numbered files (U<user>S<n> with suffix "
                                f"{', '.join(sorted(wanted_suffixes))}) in {root}")
    wanted = sorted(found) if users is None else list(users)
    missing = [u for u in wanted if u not in found]
    if missing:
        raise DatasetError(f"{root} has no signatures of users {format_users(missing)}; it holds users "
                           f"{format_users(found)}: ask for those (for example --users {format_users(found)})")
    read = loader or load_pen
    return [UserSamples(u, [read(found[u][s]) for s in SVC_GENUINE if s in found[u]],
                        [read(found[u][s]) for s in SVC_FORGERY if s in found[u]]) for u in wanted]


def load_set(dataset: str, part: str, fold: int = 0, root: str | Path | None = None,
             loader: Callable[[Path], Any] | None = None) -> list[UserSamples]:
    """The writers of ``part`` of ``fold`` of a shared set (``edgesig.eval.datasets``).

    Each writer's genuine samples list the set's references first, so the protocol's
    first ``refs`` are them; pen files are read by default, ``loader=str`` keeps image
    paths. Writers without skilled forgeries (MCYT 031-100, train-only) are left out.
    """
    from edgesig.capture import load_pen
    from edgesig.eval.datasets import split, writers
    wanted = set(split(dataset, part, fold))
    read = loader or load_pen
    return [UserSamples(int(w.writer), [read(s.path) for s in (*w.references, *w.genuine)],
                        [read(s.path) for s in w.forgeries])
            for w in writers(dataset, root) if w.writer in wanted and w.forgeries]


def render_users(users: Sequence[UserSamples], degradation: str, seed: int = 0) -> list[UserSamples]:
    """The users' pen samples drawn as paper signatures (``edgesig.synth.render``).

    Each user gets their own seeded generator, so a user's images do not depend on which
    other users are rendered; ``degradation`` is "clean", "scan" or "camera".
    """
    from edgesig.synth.render import RenderStyle, render
    out = []
    for u in users:
        rng = np.random.default_rng([seed, u.user])
        drawn = [render(p, rng, style=RenderStyle.random(rng, degradation=degradation))
                 for p in [*u.genuine, *u.forgery]]
        out.append(UserSamples(u.user, drawn[:len(u.genuine)], drawn[len(u.genuine):]))
    return out


def parse_users(spec: str) -> list[int]:
    """'1-20' or '1,3,5-7' -> list of ints."""
    out: list[int] = []
    try:
        for part in spec.split(","):
            a, _, b = part.strip().partition("-")
            out.extend(range(int(a), int(b or a) + 1))
    except ValueError:
        raise InvalidInputError(f"users must look like '1-20' or '1,3,5-7', got {spec!r}") from None
    return out


def format_users(users: Iterable[int]) -> str:
    """The inverse of :func:`parse_users`: [1, 2, 3, 7] -> '1-3,7'."""
    runs: list[list[int]] = []
    for u in sorted(set(users)):
        if runs and u == runs[-1][-1] + 1:
            runs[-1].append(u)
        else:
            runs.append([u])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


@dataclass
class UserScores:
    user: int
    genuine: np.ndarray     # dissimilarities of the genuine tests
    forgery: np.ndarray     # dissimilarities of the skilled forgeries
    spread: float           # the references' mean pairwise distance


@dataclass
class Report:
    """Error rates of a protocol run. Scores are dissimilarities (lower = genuine)."""

    users: list[UserScores]
    threshold: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def genuine(self) -> np.ndarray:
        return np.concatenate([u.genuine for u in self.users])

    @property
    def forgery(self) -> np.ndarray:
        return np.concatenate([u.forgery for u in self.users])

    def summary(self) -> dict[str, Any]:
        g, f = -self.genuine, -self.forgery  # metrics want higher = more genuine
        global_eer, thr = eer(g, f)
        out = {"users": len(self.users), "genuine_tests": int(g.size), "forgery_tests": int(f.size),
               "eer": global_eer, "eer_threshold": -thr, "auc": auc(g, f),
               "mean_user_eer": float(np.mean([eer(-u.genuine, -u.forgery)[0] for u in self.users]))}
        if self.threshold is not None:
            far, frr = far_frr(g, f, -self.threshold)
            out.update(threshold=self.threshold, far=far, frr=frr)
        return {**out, **self.extra}

    def eer_interval(self, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
        """A bootstrap interval of the global EER over writers (drawn with replacement).

        Errors come in clusters by writer (one easy-to-forge signature gives many false
        accepts), so the writers, not the attempts, are the sample: on 20 SVC2004 writers
        the interval spans several points, which is what a difference between two
        engines on one such split has to beat. Seeded, so a report is reproducible.
        """
        if len(self.users) < 2:
            return (float("nan"), float("nan"))
        rng = np.random.default_rng(seed)
        values = []
        for _ in range(resamples):
            pick = [self.users[i] for i in rng.integers(0, len(self.users), len(self.users))]
            g = np.concatenate([u.genuine for u in pick])
            f = np.concatenate([u.forgery for u in pick])
            values.append(eer(-g, -f)[0])
        tail = 100 * (1 - level) / 2
        lo, hi = np.percentile(values, [tail, 100 - tail])
        return float(lo), float(hi)


def run_protocol(users: Sequence[UserSamples], prepare: Callable[[Any], np.ndarray],
                 distances: Callable[[np.ndarray, Sequence[np.ndarray]], np.ndarray],
                 refs: int = 5, combine: tuple[str, ...] = ("min", "mean"),
                 progress: Callable[[Iterable], Iterable] | None = None,
                 pairwise: Callable[[Sequence[np.ndarray]], np.ndarray] | None = None,
                 decide: Decide | None = None) -> Report:
    """Score every user's tests against their first ``refs`` genuine samples.

    ``pairwise`` is the engine's reference matrix (``Engine.pairwise``), which enrolment
    uses: an engine may measure its references' spread otherwise than query by query
    (``sigembed-wd`` holds each reference out of the others' user model).
    ``decide`` (``Engine.decide``) replaces the plain ``combine`` sum with the engine's
    whole decision (its penalty or learned weights), as the verifier runs it.
    """
    def rule(dists: np.ndarray, stats: ReferenceStats, query: np.ndarray, feats_ref: Sequence[np.ndarray]) -> float:
        return dissimilarity(dists, stats, combine)
    rows = protocol_rows(users, prepare, distances, decide or rule, refs, progress, pairwise)
    return Report([UserScores(r.user, r.genuine, r.forgery, r.stats.d_mean) for r in rows])


#: What a query is turned into, from its distances to the references, their statistics,
#: the prepared query and the prepared references: a dissimilarity or a row of terms.
Decide = Callable[[np.ndarray, ReferenceStats, np.ndarray, Sequence[np.ndarray]], Any]


@dataclass
class UserRows:
    """One user's queries after ``decide``: an array with one entry (or row) per query."""

    user: int
    genuine: np.ndarray
    forgery: np.ndarray
    stats: ReferenceStats


def protocol_rows(users: Sequence[UserSamples], prepare: Callable[[Any], np.ndarray],
                  distances: Callable[[np.ndarray, Sequence[np.ndarray]], np.ndarray], decide: Decide,
                  refs: int = 5, progress: Callable[[Iterable], Iterable] | None = None,
                  pairwise: Callable[[Sequence[np.ndarray]], np.ndarray] | None = None) -> list[UserRows]:
    """The protocol's loop: each user's references, their statistics, and ``decide`` on
    every genuine test and forgery. ``run_protocol`` decides a dissimilarity; a learned
    decision is fitted on rows of terms from the same loop."""
    out = []
    for u in progress(users) if progress else users:
        if len(u.genuine) <= refs:
            raise InvalidInputError(f"user {u.user} has {len(u.genuine)} genuine samples; need more than {refs}")
        feats_ref = [prepare(s) for s in u.genuine[:refs]]
        stats = ReferenceStats.from_matrix(pairwise(feats_ref) if pairwise is not None
                                           else _reference_matrix(feats_ref, distances))

        def score(samples: list[Any]) -> np.ndarray:
            def one(query: np.ndarray) -> Any:
                return decide(distances(query, feats_ref), stats, query, feats_ref)
            return np.array([one(prepare(s)) for s in samples])
        out.append(UserRows(u.user, score(u.genuine[refs:]), score(u.forgery), stats))
    return out


def _reference_matrix(refs: Sequence[np.ndarray],
                      distances: Callable[[np.ndarray, Sequence[np.ndarray]], np.ndarray]) -> np.ndarray:
    """Symmetric reference-to-reference distances, each reference against the later ones
    (what ``Engine.pairwise`` does unless an engine overrides it)."""
    k = len(refs)
    dist = np.zeros((k, k))
    for i in range(k - 1):
        row = distances(refs[i], refs[i + 1:])
        dist[i, i + 1:] = row
        dist[i + 1:, i] = row
    return dist


def set_figures(val: Report | None, test: Report, threshold: float) -> dict[str, Any]:
    """One set's figures for the manifest: validation EER, and test EER (95 % writer
    interval), FAR/FRR at the shipped threshold, AUC, mean per-writer EER."""
    out: dict[str, Any] = {}
    if val is not None:
        out.update(val_eer=val.summary()["eer"], val_eer_ci95=list(val.eer_interval()), val_users=len(val.users))
    test.threshold = threshold
    s = test.summary()
    return {**out, "test_eer": s["eer"], "test_eer_ci95": list(test.eer_interval()), "test_far": s["far"],
            "test_frr": s["frr"], "test_auc": s["auc"], "test_mean_user_eer": s["mean_user_eer"],
            "test_users": s["users"]}


def calibrate(report: Report) -> Calibration:
    """Calibration (threshold at the EER point, logistic slope) from a validation run."""
    from edgesig.decision import fit_calibration
    return fit_calibration(report.genuine, report.forgery)

