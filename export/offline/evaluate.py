"""Writer-disjoint evaluation of a pair model on rendered SVC2004 images.

Protocol (as for the online engines): per user the first ``refs`` genuine signatures are
the references, the other genuine ones and the 20 skilled forgeries are the queries. A
query's distances are 1 - P(genuine pair) to each reference; they are combined by the
Sharma-Sundaram rule of ``edgesig.decision`` (what ``Verifier`` applies at runtime), with
the terms chosen on validation writers. References and queries of one run share a
degradation: "clean" (flatbed scans) or "camera" (kiosk snapshots).

The scorer is any function from uint8 pairs (n, 2, 155, 220), ink = 255, to P(genuine),
so the same code measures torch eager, fp32 ONNX and int8 ONNX.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from edgesig.decision import Calibration, ReferenceStats, dissimilarities, fit_calibration
from edgesig.eval.metrics import eer
from edgesig.eval.protocols import Report, UserScores
from export.offline.data import CAMERA, CLEAN, ImageWriter, to_float

Scorer = Callable[[np.ndarray], np.ndarray]
CONDITIONS = {"clean": CLEAN, "camera": CAMERA}
COMBINES: tuple[tuple[str, ...], ...] = (("mean",), ("min", "mean"), ("min",), ("max",))


@dataclass
class UserDistances:
    """1 - p distances of one user under one condition."""

    user: str
    refs: np.ndarray       # (k, k) symmetric reference matrix, zero diagonal
    genuine: np.ndarray    # (n_g, k)
    forgery: np.ndarray    # (n_f, k)


def torch_scorer(model: Any, batch: int = 64) -> Scorer:
    """P(genuine) from a torch Sdinet in eval mode."""
    import torch

    def score(pairs: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for i in range(0, len(pairs), batch):
                x = torch.from_numpy(to_float(pairs[i:i + batch]))
                out.append(torch.softmax(model(x), dim=1)[:, 1].numpy())
        return np.concatenate(out).astype(np.float64)
    return score


def onnx_scorer(path: str, threads: int = 2, batch: int = 64) -> Scorer:
    """P(genuine) from an exported ONNX file (fp32 or int8)."""
    from edgesig.runtime import InferSession
    sess = InferSession(path, threads=threads)

    def score(pairs: np.ndarray) -> np.ndarray:
        out = [sess.run({sess.input_names[0]: to_float(pairs[i:i + batch])})[0]
               for i in range(0, len(pairs), batch)]
        return np.concatenate(out).astype(np.float64)
    return score


def user_distances(score: Scorer, writer: ImageWriter, variant: int, refs: int = 5) -> UserDistances:
    """Every pair a user's protocol needs, scored in one call (channel 0 = reference)."""
    ref = writer.genuine[:refs, variant]
    queries = np.concatenate([writer.genuine[refs:, variant], writer.forgery[:, variant]])
    ij = [(i, j) for i in range(refs) for j in range(i + 1, refs)]
    pairs = [np.stack([ref[j], ref[i]]) for i, j in ij]            # as Engine.pairwise asks
    pairs += [np.stack([ref[k], q]) for q in queries for k in range(refs)]
    d = 1.0 - score(np.stack(pairs))
    mat = np.zeros((refs, refs))
    for (i, j), v in zip(ij, d[:len(ij)]):
        mat[i, j] = mat[j, i] = v
    q = d[len(ij):].reshape(len(queries), refs)
    n_g = len(writer.genuine) - refs
    return UserDistances(writer.key, mat, q[:n_g], q[n_g:])


def condition_distances(score: Scorer, writers: Sequence[ImageWriter], condition: str,
                        refs: int = 5) -> list[UserDistances]:
    return [user_distances(score, w, CONDITIONS[condition], refs) for w in writers]


def to_report(dists: Sequence[UserDistances], combine: tuple[str, ...]) -> Report:
    """Sharma-Sundaram dissimilarities (lower = genuine) as a protocol Report."""
    users = []
    for k, u in enumerate(dists):
        stats = ReferenceStats.from_matrix(u.refs)
        users.append(UserScores(k, dissimilarities(u.genuine, stats, combine),
                                dissimilarities(u.forgery, stats, combine), stats.d_mean))
    return Report(users)


def pooled_eer(dists: Sequence[UserDistances], combine: tuple[str, ...]) -> float:
    """The global EER of ``dists`` under ``combine`` alone (``Report.summary`` adds the AUC and
    per-user EERs, which a search over terms and weights does not need)."""
    rep = to_report(dists, combine)
    return eer(-rep.genuine, -rep.forgery)[0]


def choose_combine(val: Sequence[UserDistances]) -> tuple[tuple[str, ...], float]:
    """The combination of normalised terms with the lowest validation EER, the first of
    ``COMBINES`` on a tie."""
    return min(((c, pooled_eer(val, c)) for c in COMBINES), key=lambda ce: ce[1])


def calibrate(val: Sequence[UserDistances], combine: tuple[str, ...]) -> Calibration:
    rep = to_report(val, combine)
    return fit_calibration(rep.genuine, rep.forgery)


def summarize(test: Sequence[UserDistances], combine: tuple[str, ...], threshold: float) -> dict[str, Any]:
    """Global EER, AUC, mean per-user EER, and FAR/FRR at the validation threshold."""
    rep = to_report(test, combine)
    rep.threshold = threshold
    s = rep.summary()
    return {k: float(s[k]) for k in ("eer", "auc", "mean_user_eer", "far", "frr")}
