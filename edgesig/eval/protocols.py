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
from edgesig.errors import InvalidInputError
from edgesig.eval.metrics import auc, eer, far_frr

SVC_GENUINE = range(1, 21)
SVC_FORGERY = range(21, 41)


@dataclass
class UserSamples:
    """One user's samples: genuine ones in capture order, then skilled forgeries."""

    user: int
    genuine: list[Any]
    forgery: list[Any]


def load_svc2004(directory: str | Path, users: Iterable[int] | None = None,
                 loader: Callable[[Path], Any] | None = None) -> list[UserSamples]:
    """Read SVC2004 Task 1/2 files ``U{u}S{s}.TXT`` into per-user samples."""
    from edgesig.capture import load_pen
    root = Path(directory)
    if not root.is_dir():
        raise InvalidInputError(f"SVC2004 folder not found: {root}")
    found: dict[int, set[int]] = {}
    for path in root.iterdir():
        m = re.fullmatch(r"U(\d+)S(\d+)\.TXT", path.name, flags=re.IGNORECASE)
        if m:
            found.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    if not found:
        raise InvalidInputError(f"no SVC2004 files (U<user>S<n>.TXT) in {root}")
    wanted = sorted(found) if users is None else [u for u in users if u in found]
    read = loader or load_pen
    out = []
    for u in wanted:
        name = next(p.name for p in root.iterdir() if p.name.upper().startswith(f"U{u}S"))
        suffix = name[name.rfind("."):]
        out.append(UserSamples(
            u, [read(root / f"U{u}S{s}{suffix}") for s in SVC_GENUINE if s in found[u]],
            [read(root / f"U{u}S{s}{suffix}") for s in SVC_FORGERY if s in found[u]]))
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


def run_protocol(users: Sequence[UserSamples], prepare: Callable[[Any], np.ndarray],
                 distances: Callable[[np.ndarray, Sequence[np.ndarray]], np.ndarray],
                 refs: int = 5, combine: tuple[str, ...] = ("min", "mean"),
                 progress: Callable[[Iterable], Iterable] | None = None,
                 penalty: Callable[[np.ndarray, Sequence[np.ndarray]], float] | None = None) -> Report:
    """Score every user's tests against their first ``refs`` genuine samples.

    ``penalty`` is an engine's extra term (``Engine.penalty``), added as the verifier adds it.
    """
    scored = []
    iterator = progress(users) if progress else users
    for u in iterator:
        if len(u.genuine) <= refs:
            raise InvalidInputError(f"user {u.user} has {len(u.genuine)} genuine samples; need more than {refs}")
        feats_ref = [prepare(s) for s in u.genuine[:refs]]
        k = len(feats_ref)
        dist = np.zeros((k, k))
        for i in range(k - 1):
            row = distances(feats_ref[i], feats_ref[i + 1:])
            dist[i, i + 1:] = row
            dist[i + 1:, i] = row
        stats = ReferenceStats.from_matrix(dist)

        def score(samples: list[Any]) -> np.ndarray:
            def one(query: np.ndarray) -> float:
                extra = penalty(query, feats_ref) if penalty is not None else 0.0
                return dissimilarity(distances(query, feats_ref), stats, combine) + extra
            return np.array([one(prepare(s)) for s in samples])
        scored.append(UserScores(u.user, score(u.genuine[refs:]), score(u.forgery), stats.d_mean))
    return Report(scored)


def calibrate(report: Report) -> Calibration:
    """Calibration (threshold at the EER point, logistic slope) from a validation run."""
    from edgesig.decision import fit_calibration
    return fit_calibration(report.genuine, report.forgery)

