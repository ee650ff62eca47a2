"""Does a learned linear metric on the DTW channels help now that four pads' writers train it?

RESULTS_online_dtw.md ("Learned metric ...") found a KISSME metric (Köstinger et al. 2012)
on the DTW local-feature differences helped inside SVC2004's 20 validation writers but not
beyond them: too few writers to learn from. The pen sets now hold 86 training writers with
skilled forgeries per fold for ``dtw`` and 106 for ``dtw-nopressure``. Here a fixed linear
map W is learnt per fold from the pooled training writers of the variant's sets and
applied to every sample's channel vector before DTW (references would be stored
transformed, so verification costs the same: W is 11 x 11).

What is learnt from: each training writer's first five genuine signatures are its
references (as in the protocol); every other genuine signature and every skilled forgery
is aligned to each reference by the entry's own DTW (same features, band, recurrence), and
the differences of the aligned channel vectors along the path give one second-moment
matrix per pair (the mean of d d^T over the path, so long signatures do not weigh more).
Genuine pairs are the similar class, forgery pairs the dissimilar one; each set's matrices
are averaged over its training writers' pairs, then the sets are averaged (one set's size
does not decide). ``dtw`` learns from its three pressure sets (SVC2004 Task 1 has no
pressure channel), ``dtw-nopressure`` from all four.

Candidates (shrinkage s: each matrix C becomes C + s * trace(C) / d * I). Round 1, fixed
before any figure was seen:

- ``kissme-0.1``, ``kissme-1``: M = inv(S_sim) - inv(S_dis), its negative eigenvalues set to
  zero (the nearest positive semi-definite matrix), W = sqrt(M) (rows: eigenvectors scaled by
  the square roots of the eigenvalues).
- ``whiten-0.1``: W = inv(sqrt(S_sim)): Mahalanobis distance under the genuine variation alone.

Round 2, fixed after round 1's figures (none won), before its own: ``kissme-diag`` (one
weight per channel), ``kissme-0.1-rf`` (dissimilar: the mean of the skilled forgeries' and
random forgeries' matrices, a random forgery being the first test signature of one of the
next ``PARTNERS`` training writers of the set), ``lda-6`` (``lda``).

Each W is scaled so the genuine pairs' mean squared aligned difference keeps its size
(trace(W S_sim W^T) = trace(S_sim)); the learned decision's terms are logs or ratios anyway.

How it is judged: as ``benchmarks/online_channels.py`` judges channel sets (its ``verdict``,
rule fixed there and used unchanged): per fold, all writers of the variant's sets are
scored with that fold's W, the decision is chosen and fitted as shipped
(``choose_combiner(select="lodo")`` on the default grid, training and validation writers)
with one threshold on the validation writers. A candidate wins only if it is lower than the
shipped entry on both the left-out criterion and the mean in-domain validation EER, on fold
0 and as four-fold means, and better on more sets than worse (fold 0 and four folds). If
several win, the one with the lowest four-fold criterion. Test figures are printed after,
for the record; they decide nothing. The training writers' own rows (which the decision is
fitted on) are scored with a W learnt on them: a 66-parameter metric from thousands of
alignments, so in-sample bias is small, but it is there.

    PYTHONPATH=. python benchmarks/online_metric.py --variant dtw --out build/online/metric_dtw.json
    PYTHONPATH=. python benchmarks/online_metric.py --variant dtw-nopressure \\
        --out build/online/metric_dtw-nopressure.json
"""
from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import click
import numpy as np

from benchmarks.online_channels import SHIPPED, evaluate, summary
from benchmarks.online_combiner import VARIANTS
from edgesig.engines.dtw import DtwEngine
from edgesig.eval.combiner import TermRows, term_rows
from edgesig.eval.datasets import FOLDS, split
from edgesig.eval.protocols import UserSamples, load_set
from edgesig.pen import PenStream
from edgesig.runtime import Manifest, ModelEntry
from export.online.losses import dtw_path

REFS = 5
#: Other writers of the same set each writer is aligned against (random forgeries).
PARTNERS = 5


def path_moments(a: np.ndarray, b: np.ndarray, band: float) -> np.ndarray:
    """Mean of d d^T over the DTW path between ``a`` and ``b`` (d = a[i] - b[j] of aligned
    samples), aligned with the engine's band and recurrence (``export.online.losses.dtw_path``)."""
    rows, cols = dtw_path(np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)), band)
    d = a[rows] - b[cols]
    return d.T @ d / len(rows)


@dataclass(frozen=True)
class WriterMoments:
    """One writer's summed per-pair moment matrices and pair counts, genuine and forgery,
    and per other writer of its set (``PARTNERS`` of them) the summed matrices of that
    writer's first test signature against this one's references (random forgeries)."""

    writer: int
    genuine: np.ndarray
    n_genuine: int
    forgery: np.ndarray
    n_forgery: int
    random: dict[int, np.ndarray]


def writer_moments(engine: DtwEngine, user: UserSamples, partners: Sequence[UserSamples]) -> WriterMoments:
    """Every genuine test and forgery of ``user``, and the first test signature of each of
    ``partners``, aligned to each of its references."""
    def feats(pen: PenStream) -> np.ndarray:
        return engine.prepare(pen)[engine.header:, :engine.features.dim].astype(np.float64)
    refs = [feats(p) for p in user.genuine[:REFS]]

    def total(samples: Sequence[PenStream]) -> np.ndarray:
        return sum((path_moments(feats(s), r, engine.band) for s in samples for r in refs),
                   np.zeros((engine.features.dim,) * 2))
    rest = user.genuine[REFS:]
    return WriterMoments(user.user, total(rest), len(rest) * REFS, total(user.forgery), len(user.forgery) * REFS,
                         {p.user: total(p.genuine[REFS:REFS + 1]) for p in partners})


def set_moments(engine: DtwEngine, users: list[UserSamples]) -> list[WriterMoments]:
    """Each writer's moments, its partners the ``PARTNERS`` writers after it in the set's order."""
    return [writer_moments(engine, u, [users[(i + k) % len(users)] for k in range(1, PARTNERS + 1)])
            for i, u in enumerate(users)]


def class_matrices(moments: dict[str, list[WriterMoments]], fold: int,
                   random: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The similar and dissimilar second moments from ``fold``'s training writers: each
    set's pairs averaged, then the sets averaged. With ``random`` the dissimilar one is the
    mean of the skilled forgeries' and the random forgeries' (training writers only)."""
    sim, dis = [], []
    for name, rows in moments.items():
        train = {int(w) for w in split(name, "train", fold)}
        mine = [m for m in rows if m.writer in train]
        sim.append(sum(m.genuine for m in mine) / sum(m.n_genuine for m in mine))
        dis.append(sum(m.forgery for m in mine) / sum(m.n_forgery for m in mine))
        if random:
            pairs = [v for m in mine for w, v in m.random.items() if w in train]
            dis[-1] = (dis[-1] + sum(pairs) / (len(pairs) * REFS)) / 2
    return np.mean(sim, axis=0), np.mean(dis, axis=0)


def shrunk(c: np.ndarray, s: float) -> np.ndarray:
    return c + s * np.trace(c) / len(c) * np.eye(len(c))


def root(m: np.ndarray, power: float) -> np.ndarray:
    """W with W^T W = m^(2 power) for symmetric ``m``; negative eigenvalues, which KISSME can
    leave, count as zero (a negative ``power`` needs ``m`` positive definite)."""
    values, vectors = np.linalg.eigh(m)
    return np.diag(np.clip(values, 0.0, None) ** power) @ vectors.T


def kissme(sim: np.ndarray, dis: np.ndarray, s: float) -> np.ndarray:
    return root(np.linalg.inv(shrunk(sim, s)) - np.linalg.inv(shrunk(dis, s)), 0.5)


def whiten(sim: np.ndarray, dis: np.ndarray, s: float) -> np.ndarray:
    return root(shrunk(sim, s), -0.5)


def kissme_diagonal(sim: np.ndarray, dis: np.ndarray, s: float) -> np.ndarray:
    """KISSME with both classes' channels taken as independent: one weight per channel."""
    return kissme(np.diag(np.diag(sim)), np.diag(np.diag(dis)), s)


def lda(sim: np.ndarray, dis: np.ndarray, s: float, keep: int) -> np.ndarray:
    """The ``keep`` directions along which forgeries vary most against genuine variation (the
    largest generalised eigenvalues of (dis, sim)), in units of the genuine variation; the
    other directions dropped (zero rows, so the row width stays)."""
    white = root(shrunk(sim, s), -0.5)
    values, vectors = np.linalg.eigh(white @ dis @ white.T)
    out = np.zeros_like(sim)
    out[:keep] = vectors[:, ::-1][:, :keep].T @ white
    return out


#: Each candidate's map from (S_sim, S_dis), and whether S_dis takes in random forgeries.
CANDIDATES: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], bool]] = {
    "kissme-0.1": (lambda sim, dis: kissme(sim, dis, 0.1), False),
    "kissme-1": (lambda sim, dis: kissme(sim, dis, 1.0), False),
    "whiten-0.1": (lambda sim, dis: whiten(sim, dis, 0.1), False),
    "kissme-diag": (lambda sim, dis: kissme_diagonal(sim, dis, 0.1), False),
    "kissme-0.1-rf": (lambda sim, dis: kissme(sim, dis, 0.1), True),
    "lda-6": (lambda sim, dis: lda(sim, dis, 0.1, 6), False),
}


def metric(sim: np.ndarray, dis: np.ndarray, learn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """``learn``'s W, scaled so the genuine differences keep their mean squared size."""
    w = learn(sim, dis)
    return w * math.sqrt(np.trace(sim) / np.trace(w @ sim @ w.T))


class MetricDtw(DtwEngine):
    """The entry's engine with each sample's channel vector mapped by W before DTW."""

    def __init__(self, entry: ModelEntry, w: np.ndarray):
        super().__init__(entry)
        self.w = w

    def from_features(self, features: np.ndarray, pen: PenStream) -> np.ndarray:
        return super().from_features(features @ self.w.T, pen)


def cached(path: Path, make: Callable[[], Any]) -> Any:
    if path.exists():
        return pickle.loads(path.read_bytes())
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(value))
    return value


def scored(engine: DtwEngine, users: dict[str, list[UserSamples]]) -> dict[str, TermRows]:
    return {name: term_rows(engine, rows) for name, rows in users.items()}


@click.command()
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="dtw", show_default=True)
@click.option("--only", multiple=True, type=click.Choice(list(CANDIDATES)), help="candidates to run (default: all)")
@click.option("--cache", default="build/online/metric", show_default=True,
              help="folder for the writers' path moments and each candidate's scored term rows")
@click.option("--out", default="build/online/metric.json", show_default=True)
def main(variant: str, only: tuple[str, ...], cache: str, out: str) -> None:
    sets = VARIANTS[variant]
    entry = Manifest().get(variant)
    folder = Path(cache) / f"{variant}-{entry.version}"
    users = {name: [u for part in ("train", "val", "test") for u in load_set(name, part)] for name in sets}
    base = DtwEngine(entry)
    moments = cached(folder / "moments.pkl", lambda: {name: set_moments(base, rows) for name, rows in users.items()})
    shipped = cached(folder / f"{SHIPPED}.pkl", lambda: scored(base, users))
    result, maps = {SHIPPED: evaluate([shipped] * FOLDS, sets)}, {}
    for name in only or CANDIDATES:
        learn, random = CANDIDATES[name]
        maps[name] = [metric(*class_matrices(moments, k, random), learn) for k in range(FOLDS)]
        rows = [cached(folder / f"{name}-fold{k}.pkl", lambda w=w: scored(MetricDtw(entry, w), users))
                for k, w in enumerate(maps[name])]
        result[name] = evaluate(rows, sets)
        click.echo(f"{variant} {name}: evaluated", err=True)
    for line in summary(variant, result, sets):
        click.echo(line)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"variant": variant, "version": entry.version, "sets": sets,
                                     "maps": {n: [w.tolist() for w in ws] for n, ws in maps.items()},
                                     "result": result}, indent=1))


if __name__ == "__main__":
    main()
