"""DTW over LNPS and kinematic features: the engine that needs no model file.

Its parameters (feature channels, LNPS window and level, Sakoe–Chiba band) and its
calibration are chosen on validation writers by ``edgesig tune`` and stored in the
manifest like any model's.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from edgesig.engines.base import Engine
from edgesig.features.dtw import dtw_to_many
from edgesig.features.kinematics import FeatureConfig, extract
from edgesig.pen import PenStream
from edgesig.runtime import ModelEntry


class DtwEngine(Engine):
    modality = "pen"

    def __init__(self, entry: ModelEntry):
        super().__init__(entry)
        self.features = FeatureConfig.from_dict(entry.params.get("features", {}))
        self.band = float(entry.params.get("band", 0.0))

    def prepare(self, sample: PenStream) -> np.ndarray:
        return self.from_features(extract(sample, self.features))

    def from_features(self, features: np.ndarray) -> np.ndarray:
        """The stored representation from already computed features (streaming sessions)."""
        return features.astype(np.float32)

    def distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        return dtw_to_many(query, list(references), self.band)
