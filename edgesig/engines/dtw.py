"""DTW over LNPS and kinematic features, plus a global-feature term: no model file needed.

Its parameters (feature channels, LNPS window and level, Sakoe–Chiba band, the weight
and scales of the global term) and its calibration are chosen on validation writers by
``edgesig tune`` and stored in the manifest like any model's.

The prepared representation is one float32 array of shape (h + n, width): its first h
header rows hold the global descriptor (``edgesig.features.global_features``) row after
row, the n rows after them the per-sample features; both are zero-padded to the row
width, which DTW does not notice. The plain descriptor fits one row (h = 1); an entry
with ``global.extended`` stores the extended one over as many rows as it needs, so the
feature rows keep their width (the DTW kernel's speed depends on it). An entry with
``global.up_time`` holds the pen-up share by time in place of ``down_fraction``
(``UP_TIME_FEATURES``), same size.

An entry with ``path`` (names from ``PATH_STATS``) also reads the warping path to each
reference (``dtw_path_to_many``): ``path.<stat>``, the query's mean over the references over
the references' own mean among themselves, for a learned decision to weigh
(``benchmarks/online_path.py``). The references' means are computed at enrolment and kept
with the template (``ReferenceStats.extra``).

An entry with ``stability`` (a floor, 0.5 shipped) runs stability-modulated DTW (Parziale,
Diaz, Ferrer & Marcelli, Pattern Recognition Letters 2019) in that same one pass: each
local distance to a reference row is weighted by the floor plus the row's stability, the
share of the writer's other references whose path matches it one-to-one
(``edgesig.features.dtw.stabilities``), so a query's deviations where the writer is
consistent weigh up to three times those where the writer varies. The stabilities come
from the references alone, at enrolment (``ReferenceStats.stability``); the references'
statistics come from their weighted distances to each other (each as the query against
each other, that other's stabilities weighing: ``pairwise``). A template enrolled by the
same entry without ``stability`` (same preparation: ``prepared_like``) is verified with
its statistics recomputed from its references (``benchmarks/online_smpass.py``).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from edgesig.decision import ReferenceStats, decision_terms
from edgesig.engines.base import Engine
from edgesig.errors import ModelError
from edgesig.features.dtw import PATH_STATS, dtw_path_to_many, dtw_to_many, stabilities
from edgesig.features.global_features import (EXTENDED_FEATURES, GLOBAL_FEATURES, UP_TIME_FEATURES, deviation,
                                              global_features)
from edgesig.features.kinematics import FeatureConfig, extract
from edgesig.pen import PenStream
from edgesig.runtime import ModelEntry

N_GLOBAL = len(GLOBAL_FEATURES)
_EXTENDED_TERM_NAMES = tuple(f"{kind}.{n}" for kind in ("ext", "ext_signed") for n in EXTENDED_FEATURES)


class DtwEngine(Engine):
    modality = "pen"

    def __init__(self, entry: ModelEntry):
        super().__init__(entry)
        self.features = FeatureConfig.from_dict(entry.params.get("features", {}))
        self.band = float(entry.params.get("band", 0.0))
        term = entry.params.get("global", {"weight": 0.0, "scale": [1.0] * N_GLOBAL})
        self.global_weight = float(term["weight"])
        #: Whether the descriptor holds ``EXTENDED_FEATURES`` after the plain entries.
        self.extended = bool(term.get("extended", False))
        self.n_global = N_GLOBAL + (len(EXTENDED_FEATURES) if self.extended else 0)
        #: Whether the pen-up share by time replaces ``down_fraction`` (``UP_TIME_FEATURES``).
        self.up_time = bool(term.get("up_time", False))
        #: The names of ``terms``: absolute, then signed deviations of the plain descriptor;
        #: with ``global.extended`` then those of the extended entries.
        self.term_names = tuple(f"{kind}.{n}" for kind in ("global", "signed")
                                for n in (UP_TIME_FEATURES if self.up_time else GLOBAL_FEATURES))
        self.global_scale = np.asarray(term["scale"], dtype=np.float64)
        if self.global_scale.shape != (self.n_global,) or not np.all(self.global_scale > 0):
            raise ModelError(f"dtw manifest entry: global.scale needs {self.n_global} positive values "
                             f"(global.extended is {self.extended}), got {term['scale']!r}; re-run `edgesig tune`")
        #: The warping path's statistics read as ``path.<stat>`` terms (none: the distances only).
        self.path = tuple(entry.params.get("path", ()))
        if not set(self.path) <= set(PATH_STATS[1:]):
            raise ModelError(f"dtw manifest entry: path names {list(self.path)}; each must be one of "
                             f"{list(PATH_STATS[1:])}; re-run `edgesig tune online --path ...`")
        #: Those the learned decision weighs, all a verification reads: an entry whose fit
        #: kept none (``dtw-nopressure`` 1.7) runs the distance pass, not the slower path pass.
        self.weighed_path = () if self.decision is None else tuple(
            s for s in self.path if f"path.{s}" in self.decision.terms)
        #: The floor of the stability weights (None: plain DTW); see the module docstring.
        self.stability = entry.params.get("stability")
        if self.stability is not None and not (isinstance(self.stability, (int, float)) and self.stability > 0):
            raise ModelError(f"dtw manifest entry: stability must be a positive floor (0.5 shipped), got "
                             f"{self.stability!r}; re-run `edgesig tune online --stability ...`")
        self._stable_memo: tuple[Any, list[np.ndarray]] | None = None
        self._prepared_like = frozenset() if self.stability is None else frozenset({replace(
            entry, params={k: v for k, v in entry.params.items() if k != "stability"}).fingerprint})
        self.width = max(self.features.dim, N_GLOBAL)
        self.header = math.ceil(self.n_global / self.width)

    def prepare(self, sample: PenStream) -> np.ndarray:
        return self.from_features(extract(self.pen_input(sample), self.features), sample)

    def from_features(self, features: np.ndarray, pen: PenStream) -> np.ndarray:
        """The stored representation from already computed features (streaming sessions)."""
        out = np.zeros((self.header + len(features), self.width), dtype=np.float32)
        descriptor = global_features(self.pen_input(pen), self.extended, self.up_time)
        out[:self.header].reshape(-1)[:self.n_global] = descriptor
        out[self.header:, :features.shape[1]] = features
        return out

    @property
    def prepared_like(self) -> frozenset[str]:
        """With ``stability``: the fingerprint of this entry without it, which prepares
        references alike; its templates verify with their statistics recomputed."""
        return self._prepared_like

    def distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        return self._distances(query, references, self.row_weights(references))

    def row_weights(self, references: Sequence[np.ndarray],
                    stats: ReferenceStats | None = None) -> list[np.ndarray] | None:
        """With ``stability``, each reference's row weights: the floor plus the stabilities
        ``stats`` holds, or (an evaluation's statistics, which lack them) those of
        ``references``, computed once per reference list; None without ``stability``."""
        if self.stability is None:
            return None
        if stats is not None and stats.stability:
            others = len(stats.stability) - 1
            return [self.stability + (np.frombuffer(s.encode("ascii"), np.uint8) - 48) / others
                    for s in stats.stability]
        memo = self._stable_memo
        if memo is None or memo[0] is not references:
            memo = (references, stabilities([r[self.header:] for r in references], self.band))
            self._stable_memo = memo
        return [self.stability + s for s in memo[1]]

    def pairwise(self, references: Sequence[np.ndarray]) -> np.ndarray:
        """With ``stability``: each reference (row) against every other under that other's
        weights, not symmetric; without, the symmetric matrix."""
        if self.stability is None:
            return super().pairwise(references)
        weights = self.row_weights(references)
        out = np.stack([self._distances(r, references, weights) for r in references])
        np.fill_diagonal(out, 0.0)
        return out

    def reference_stats(self, references: Sequence[np.ndarray]) -> ReferenceStats:
        """With ``stability``, the stabilities are kept with the statistics."""
        stats = super().reference_stats(references)
        if self.stability is None:
            return stats
        others = len(references) - 1
        counts = [np.rint((w - self.stability) * others).astype(np.uint8) + 48 for w in self.row_weights(references)]
        return replace(stats, stability=tuple(c.tobytes().decode("ascii") for c in counts))

    def kept_stats(self, stats: ReferenceStats, references: Sequence[np.ndarray]) -> ReferenceStats:
        """With ``stability``, every statistic from the kept references among themselves
        (the stabilities included: an outlier left out weighs none of them)."""
        return super().kept_stats(stats, references) if self.stability is None else self.reference_stats(references)

    def _distances(self, query: np.ndarray, references: Sequence[np.ndarray],
                   weights: list[np.ndarray] | None) -> np.ndarray:
        return dtw_to_many(query[self.header:], [r[self.header:] for r in references], self.band, weights)

    def penalty(self, query: np.ndarray, references: Sequence[np.ndarray]) -> float:
        """Weighted deviation of the query's plain global features from the references' mean
        (the extended entries are for a learned decision only)."""
        if self.global_weight == 0.0:
            return 0.0
        q, refs = self._global_rows(query, references)
        return self.global_weight * deviation(q[:N_GLOBAL], refs[:, :N_GLOBAL], self.global_scale[:N_GLOBAL])

    def compare(self, query: np.ndarray, references: Sequence[np.ndarray],
                stats: ReferenceStats) -> tuple[np.ndarray, float]:
        """With a learned decision that weighs ``path`` terms, one path pass gives both the
        distances (its first column, bit for bit ``distances``) and those terms, where a
        separate distance pass added half again to a verification's time; without such
        terms, the distance pass alone. With ``stability``, that one pass weighs its local
        distances by ``stats``'s stabilities."""
        weights = self.row_weights(references, stats)
        if self.decision is None:
            distances = self._distances(query, references, weights)
            return distances, self.decide(distances, stats, query, references)
        paths = self._path_stats(query, references, weights) if self.weighed_path else None
        distances = self._distances(query, references, weights) if paths is None else paths[:, 0].copy()
        values = {**decision_terms(distances, stats), **self.terms(query, references, stats, paths, self.weighed_path)}
        return distances, self.decision.apply(values)

    def terms(self, query: np.ndarray, references: Sequence[np.ndarray], stats: ReferenceStats | None = None,
              paths: np.ndarray | None = None, path: Sequence[str] | None = None) -> dict[str, float]:
        """Each global feature's scaled deviation from the references' mean, absolute as
        ``global.<name>`` and signed as ``signed.<name>`` (a forger is slower, not just
        different), the extended entries' as ``ext.<name>`` and ``ext_signed.<name>``: a
        learned decision weighs them one by one where ``penalty`` averages. The
        ``path.<stat>`` terms of ``path`` (default: the entry's ``path``, every one a fit may
        weigh; ``compare`` asks for ``weighed_path`` alone)."""
        path = self.path if path is None else tuple(path)
        q, refs = self._global_rows(query, references)
        signed = (q - refs.mean(axis=0)) / self.global_scale
        base, more = signed[:N_GLOBAL], signed[N_GLOBAL:]
        values = dict(zip(self.term_names, np.abs(base).tolist() + base.tolist()))
        if self.extended:
            values.update(zip(_EXTENDED_TERM_NAMES, np.abs(more).tolist() + more.tolist()))
        if path:
            own = stats.extra if stats is not None and stats.extra else self.reference_terms(references)
            if paths is None:
                paths = self._path_stats(query, references, self.row_weights(references, stats))
            mine = paths.mean(axis=0)
            values.update({f"path.{s}": float(mine[PATH_STATS.index(s)]) / own[f"path.{s}"] for s in path})
        return values

    def reference_terms(self, references: Sequence[np.ndarray]) -> dict[str, float]:
        """With ``path``: per statistic, its mean over the references' paths to each other
        (both directions), at least ``1e-9`` (``ReferenceStats.d_mean`` of that matrix).
        Stored at enrolment; an evaluation protocol's statistics come without it and
        ``terms`` computes it from the references."""
        if not self.path:
            return {}
        matrix = np.stack([self._path_stats(r, references) for r in references])
        return {f"path.{s}": ReferenceStats.from_matrix(matrix[:, :, PATH_STATS.index(s)]).d_mean for s in self.path}

    def _path_stats(self, query: np.ndarray, references: Sequence[np.ndarray],
                    weights: list[np.ndarray] | None = None) -> np.ndarray:
        """``dtw_path_to_many`` of the query to each reference; ``weights`` (None: the
        references' own ``row_weights``)."""
        weights = self.row_weights(references) if weights is None else weights
        return dtw_path_to_many(query[self.header:], [r[self.header:] for r in references], self.band, weights)

    def _global_rows(self, query: np.ndarray, references: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The query's global descriptor and the references' (one row each), in float64."""
        refs = np.stack([self._descriptor(r) for r in references]).astype(np.float64)
        return self._descriptor(query).astype(np.float64), refs

    def _descriptor(self, prepared: np.ndarray) -> np.ndarray:
        return prepared[:self.header].reshape(-1)[:self.n_global]
