"""Writer-disjoint evaluation of an image model over the pool: real scans and renders together.

A query's distances to the 5 references (1 - cosine of embeddings, or 1 - P(same writer)
of a pair network) are combined by the runtime's Sharma-Sundaram rule (``export.offline.evaluate``), so an
embedding and a pair network are measured by one protocol on the same writers. The terms
and the one global threshold are chosen on the validation writers of every set pooled
(real scans, and renders photographed and scanned clean), never per set: a deployment
meets scans and photos from writers it has not seen, with one threshold.

Conditions: a real scan is itself ("scan"); a rendered writer is measured with clean
renders and with camera renders (``export.offline.data.VARIANTS`` 0 and 2), references
and queries under the same condition. Skilled forgeries are the writer's forgeries;
random forgeries are the genuine test signatures of the other writers of the same part.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from export.offline.data import CAMERA, CLEAN, ImageWriter, to_float
from export.offline.evaluate import Scorer, UserDistances, calibrate, choose_combine, to_report

Embedder = Callable[[np.ndarray], np.ndarray]
REFS = 5
#: Variant index of each condition, for writers with one variant (real scans) and with many (renders).
REAL_CONDITIONS = {"scan": 0}
RENDER_CONDITIONS = {"clean": CLEAN, "camera": CAMERA}
#: Genuine tests of each other writer used as random forgeries (the first few, for a bounded count).
RANDOM_PER_WRITER = 5


#: (references (k, H, W) uint8, queries (n, H, W) uint8) -> (k x k reference distances, (n, k) query distances)
Comparator = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def conditions(w: ImageWriter) -> dict[str, int]:
    return REAL_CONDITIONS if w.genuine.shape[1] == 1 else RENDER_CONDITIONS


def embedding_comparator(embed: Embedder) -> Comparator:
    """1 - cosine of unit embeddings; every image embedded once per call."""
    def compare(refs: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = embed(np.concatenate([refs, queries]))
        r, q = e[:len(refs)], e[len(refs):]
        mat = 1.0 - r @ r.T
        np.fill_diagonal(mat, 0.0)
        return mat, 1.0 - q @ r.T
    return compare


def descriptor_embedder(config: Any) -> Embedder:
    """The rows ``DescriptorEngine`` stores for a batch of pool images (``config``: a
    ``DescriptorConfig``), for ``embedding_comparator``: the engine's own 1 - cosine."""
    from edgesig.offline.descriptor import describe
    return lambda images: np.stack([describe(a, config) for a in to_float(images)]).astype(np.float64)


def user_model_comparator(embed: Embedder, mean: np.ndarray, precision: np.ndarray) -> Comparator:
    """The writer-dependent route exactly as ``SigEmbedEngine`` runs it: each query's distance
    to the user model of the references (repeated per reference), the references' held-out spread."""
    from edgesig.engines.sigembed import held_out_matrix, user_model_distances

    def compare(refs: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = embed(np.concatenate([refs, queries])).astype(np.float64)
        r, q = e[:len(refs)], e[len(refs):]
        d = user_model_distances(r, q, mean, precision)
        return held_out_matrix(r, mean, precision), np.repeat(d[:, None], len(refs), axis=1)
    return compare


def background(embed: Embedder, writers: Sequence[ImageWriter], ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and regularised precision of every genuine image of ``writers`` (the training
    writers): what the writer-dependent route ships instead of background images."""
    e = np.concatenate([embed(w.genuine.reshape(-1, *w.genuine.shape[2:])) for w in writers]).astype(np.float64)
    cov = np.cov(e.T)
    return e.mean(axis=0), np.linalg.inv(cov + ridge * np.eye(len(cov)))


def pair_comparator(score: Scorer) -> Comparator:
    """1 - P(same writer) of a pair network, channel 0 = reference (as ``Engine.pairwise`` asks)."""
    def compare(refs: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = len(refs)
        ij = [(i, j) for i in range(k) for j in range(i + 1, k)]
        pairs = [np.stack([refs[j], refs[i]]) for i, j in ij] + [np.stack([r, q]) for q in queries for r in refs]
        d = 1.0 - score(np.stack(pairs))
        mat = np.zeros((k, k))
        for (i, j), v in zip(ij, d[:len(ij)]):
            mat[i, j] = mat[j, i] = v
        return mat, d[len(ij):].reshape(len(queries), k)
    return compare


def engine_comparator(engine: Any) -> Comparator:
    """An installed ``edgesig`` engine exactly as the kiosk runs it: what it stores for each
    normalised image (``from_normalized``), its own ``pairwise`` for the references and its
    ``distances`` query by query (an ensemble's members are measured this way)."""
    def compare(refs: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = [engine.from_normalized(a) for a in to_float(refs)]
        d = np.stack([engine.distances(engine.from_normalized(q), r) for q in to_float(queries)])
        return np.asarray(engine.pairwise(r), dtype=np.float64), d.astype(np.float64)
    return compare


def condition_users(writers: Sequence[ImageWriter], condition: str, impostor: str) -> list[ImageWriter]:
    """The writers measured under ``condition`` against ``impostor`` forgeries, in the order of
    ``condition_distances``' users (what per-user enrolment data computed elsewhere lines up with)."""
    users = [w for w in writers if condition in conditions(w) and len(w.genuine) > REFS]
    return [w for w in users if len(w.forgery)] if impostor == "skilled" else users


def condition_distances(compare: Comparator, writers: Sequence[ImageWriter], condition: str,
                        impostor: str) -> list[UserDistances]:
    """Per writer that has ``condition``: skilled (``impostor="skilled"``) or random forgeries."""
    users = condition_users(writers, condition, impostor)
    out = []
    for w in users:
        v = conditions(w)[condition]
        if impostor == "skilled":
            imp = w.forgery[:, v]
        else:
            imp = np.concatenate([o.genuine[REFS:REFS + RANDOM_PER_WRITER, conditions(o)[condition]]
                                  for o in users if o is not w])
        gen = w.genuine[REFS:, v]
        mat, d = compare(w.genuine[:REFS, v], np.concatenate([gen, imp]))
        out.append(UserDistances(w.key, mat, d[:len(gen)], d[len(gen):]))
    return out


def validation_distances(compare: Comparator, writers: Sequence[ImageWriter],
                         impostor: str = "skilled") -> list[UserDistances]:
    """The pooled validation set: skilled (or random) forgeries under every condition of every writer."""
    return [d for cond in (*REAL_CONDITIONS, *RENDER_CONDITIONS)
            for d in condition_distances(compare, writers, cond, impostor)]


def summarize(dists: Sequence[UserDistances], combine: tuple[str, ...], threshold: float) -> dict[str, Any]:
    """EER with its 95 % writer-bootstrap interval, AUC, FAR / FRR at the shipped threshold."""
    rep = to_report(dists, combine)
    rep.threshold = threshold
    s = rep.summary()
    lo, hi = rep.eer_interval()
    return {"writers": len(dists), **{k: float(s[k]) for k in ("eer", "auc", "far", "frr")},
            "eer_interval": [lo, hi]}


def cell_distances(compare: Comparator, test_by_set: dict[str, Sequence[ImageWriter]]
                   ) -> dict[str, list[UserDistances]]:
    """Every test cell ``set/condition/impostor`` (skilled and random forgeries) of every set's writers."""
    out: dict[str, list[UserDistances]] = {}
    for name, writers in test_by_set.items():
        for cond in conditions(writers[0]) if writers else ():
            for impostor in ("skilled", "random"):
                d = condition_distances(compare, writers, cond, impostor)
                if d:
                    out[f"{name}/{cond}/{impostor}"] = d
    return out


def evaluate(compare: Comparator, val: Sequence[ImageWriter], test_by_set: dict[str, Sequence[ImageWriter]]
             ) -> dict[str, Any]:
    """Terms and threshold from the pooled validation writers; every set's test writers at them."""
    pooled = validation_distances(compare, val)
    combine, val_eer = choose_combine(pooled)
    cal = calibrate(pooled, combine)
    test = {cell: summarize(d, combine, cal.threshold) for cell, d in cell_distances(compare, test_by_set).items()}
    return {"combine": list(combine), "val_eer": val_eer, "calibration": cal.to_dict(), "test": test}
