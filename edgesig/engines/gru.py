"""The learned online engine: an int8 ONNX GRU turns features into per-step embeddings,
and DTW over those embeddings compares signatures (Lai & Jin 2017).

The model file, its feature configuration and the DTW band come from the manifest
entry; the ONNX session is created once (hash checked) and reused for every call.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from edgesig.engines.base import Engine
from edgesig.features.dtw import dtw_to_many
from edgesig.features.kinematics import FeatureConfig, extract
from edgesig.pen import PenStream
from edgesig.runtime import Manifest, ModelEntry, session_for


class GruEngine(Engine):
    modality = "pen"

    def __init__(self, entry: ModelEntry, threads: int = 1, manifest: Manifest | None = None):
        super().__init__(entry)
        self.features = FeatureConfig.from_dict(entry.params.get("features", {}))
        self.band = float(entry.params.get("band", 0.1))
        manifest = manifest or Manifest()
        self.session = session_for(manifest, entry, threads)
        self.input_name = self.session.input_names[0]

    def prepare(self, sample: PenStream) -> np.ndarray:
        return self.from_features(extract(self.pen_input(sample), self.features))

    def from_features(self, features: np.ndarray, pen: PenStream | None = None) -> np.ndarray:
        """Per-step embeddings from already computed features (streaming sessions).

        ``pen`` is accepted for the engines' common signature; the embedding needs only
        the features.
        """
        return self.session.run({self.input_name: features.astype(np.float32)})[0].astype(np.float32)

    def distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        return dtw_to_many(query, list(references), self.band)
