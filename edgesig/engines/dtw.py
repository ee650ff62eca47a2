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
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from edgesig.decision import ReferenceStats, decision_terms
from edgesig.engines.base import Engine
from edgesig.errors import ModelError
from edgesig.features.dtw import PATH_STATS, dtw_path_to_many, dtw_to_many
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

    def distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        return dtw_to_many(query[self.header:], [r[self.header:] for r in references], self.band)

    def penalty(self, query: np.ndarray, references: Sequence[np.ndarray]) -> float:
        """Weighted deviation of the query's plain global features from the references' mean
        (the extended entries are for a learned decision only)."""
        if self.global_weight == 0.0:
            return 0.0
        q, refs = self._global_rows(query, references)
        return self.global_weight * deviation(q[:N_GLOBAL], refs[:, :N_GLOBAL], self.global_scale[:N_GLOBAL])

    def compare(self, query: np.ndarray, references: Sequence[np.ndarray],
                stats: ReferenceStats) -> tuple[np.ndarray, float]:
        """With ``path`` and a learned decision, one path pass gives both the distances (its
        first column, bit for bit ``distances``) and the ``path.<stat>`` terms, where a
        separate distance pass added half again to a verification's time."""
        if not self.path or self.decision is None:
            return super().compare(query, references, stats)
        paths = self._path_stats(query, references)
        distances = paths[:, 0].copy()
        values = {**decision_terms(distances, stats), **self.terms(query, references, stats, paths)}
        return distances, self.decision.apply(values)

    def terms(self, query: np.ndarray, references: Sequence[np.ndarray],
              stats: ReferenceStats | None = None, paths: np.ndarray | None = None) -> dict[str, float]:
        """Each global feature's scaled deviation from the references' mean, absolute as
        ``global.<name>`` and signed as ``signed.<name>`` (a forger is slower, not just
        different), the extended entries' as ``ext.<name>`` and ``ext_signed.<name>``: a
        learned decision weighs them one by one where ``penalty`` averages. With ``path``,
        the ``path.<stat>`` terms."""
        q, refs = self._global_rows(query, references)
        signed = (q - refs.mean(axis=0)) / self.global_scale
        base, more = signed[:N_GLOBAL], signed[N_GLOBAL:]
        values = dict(zip(self.term_names, np.abs(base).tolist() + base.tolist()))
        if self.extended:
            values.update(zip(_EXTENDED_TERM_NAMES, np.abs(more).tolist() + more.tolist()))
        if self.path:
            own = stats.extra if stats is not None and stats.extra else self.reference_terms(references)
            mine = (self._path_stats(query, references) if paths is None else paths).mean(axis=0)
            values.update({f"path.{s}": float(mine[PATH_STATS.index(s)]) / own[f"path.{s}"] for s in self.path})
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

    def _path_stats(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        return dtw_path_to_many(query[self.header:], [r[self.header:] for r in references], self.band)

    def _global_rows(self, query: np.ndarray, references: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The query's global descriptor and the references' (one row each), in float64."""
        refs = np.stack([self._descriptor(r) for r in references]).astype(np.float64)
        return self._descriptor(query).astype(np.float64), refs

    def _descriptor(self, prepared: np.ndarray) -> np.ndarray:
        return prepared[:self.header].reshape(-1)[:self.n_global]
