"""DTW over LNPS and kinematic features, plus a global-feature term: no model file needed.

Its parameters (feature channels, LNPS window and level, Sakoe–Chiba band, the weight
and scales of the global term) and its calibration are chosen on validation writers by
``edgesig tune`` and stored in the manifest like any model's.

The prepared representation is one float32 array of shape (1 + n, width): row 0 holds
the global descriptor (``edgesig.features.global_features``), rows 1.. the per-sample
features; both are zero-padded to the wider of the two, which DTW does not notice.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from edgesig.engines.base import Engine
from edgesig.errors import ModelError
from edgesig.features.dtw import dtw_to_many
from edgesig.features.global_features import GLOBAL_FEATURES, deviation, global_features
from edgesig.features.kinematics import FeatureConfig, extract
from edgesig.pen import PenStream
from edgesig.runtime import ModelEntry

N_GLOBAL = len(GLOBAL_FEATURES)
#: The names of ``DtwEngine.terms``: absolute, then signed deviations.
_TERM_NAMES = tuple(f"{kind}.{n}" for kind in ("global", "signed") for n in GLOBAL_FEATURES)


class DtwEngine(Engine):
    modality = "pen"

    def __init__(self, entry: ModelEntry):
        super().__init__(entry)
        self.features = FeatureConfig.from_dict(entry.params.get("features", {}))
        self.band = float(entry.params.get("band", 0.0))
        term = entry.params.get("global", {"weight": 0.0, "scale": [1.0] * N_GLOBAL})
        self.global_weight = float(term["weight"])
        self.global_scale = np.asarray(term["scale"], dtype=np.float64)
        if self.global_scale.shape != (N_GLOBAL,) or not np.all(self.global_scale > 0):
            raise ModelError(f"dtw manifest entry: global.scale needs {N_GLOBAL} positive values, "
                             f"got {term['scale']!r}; re-run `edgesig tune`")
        self.width = max(self.features.dim, N_GLOBAL)

    def prepare(self, sample: PenStream) -> np.ndarray:
        return self.from_features(extract(self.pen_input(sample), self.features), sample)

    def from_features(self, features: np.ndarray, pen: PenStream) -> np.ndarray:
        """The stored representation from already computed features (streaming sessions)."""
        out = np.zeros((1 + len(features), self.width), dtype=np.float32)
        out[0, :N_GLOBAL] = global_features(self.pen_input(pen))
        out[1:, :features.shape[1]] = features
        return out

    def distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        return dtw_to_many(query[1:], [r[1:] for r in references], self.band)

    def penalty(self, query: np.ndarray, references: Sequence[np.ndarray]) -> float:
        """Weighted deviation of the query's global features from the references' mean."""
        if self.global_weight == 0.0:
            return 0.0
        return self.global_weight * deviation(*_global_rows(query, references), self.global_scale)

    def terms(self, query: np.ndarray, references: Sequence[np.ndarray]) -> dict[str, float]:
        """Each global feature's scaled deviation from the references' mean, absolute as
        ``global.<name>`` and signed as ``signed.<name>`` (a forger is slower, not just
        different): a learned decision weighs them one by one where ``penalty`` averages."""
        q, refs = _global_rows(query, references)
        signed = (q - refs.mean(axis=0)) / self.global_scale
        return dict(zip(_TERM_NAMES, np.abs(signed).tolist() + signed.tolist()))


def _global_rows(query: np.ndarray, references: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The query's global descriptor and the references' (one row each), in float64."""
    refs = np.stack([r[0, :N_GLOBAL] for r in references]).astype(np.float64)
    return query[0, :N_GLOBAL].astype(np.float64), refs
