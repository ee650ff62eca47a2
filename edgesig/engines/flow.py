"""The optical-flow stability engine (Impedovo & Pirlo) behind the Engine contract.

``prepare`` runs the offline pipeline and keeps the coarse grid image flow runs on
(64 x 96 float32, 24 KB a reference); ``distances`` is 1 − P(genuine) from the boosted
trees for each reference, so it slots into the Sharma–Sundaram decision like any other
engine. ``pairwise`` is overridden because every reference pair is scored against the
stability map of the whole set, which is computed once.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from edgesig.engines.base import Engine
from edgesig.errors import InvalidInputError
from edgesig.offline.flow import FlowModel, to_grid
from edgesig.runtime import ModelEntry


class FlowEngine(Engine):
    modality = "image"

    def __init__(self, entry: ModelEntry):
        super().__init__(entry)
        self.model = FlowModel.from_params(entry.params)
        #: Smallest distance returned: probabilities above 1 - floor count as equally
        #: similar, which keeps the decision's normalisers and the outlier rule stable.
        self.floor = float(entry.params.get("distance_floor", 1e-3))

    def prepare(self, sample: Any) -> np.ndarray:
        """Grid image of a signature: a PreparedImage, or anything offline.prepare accepts."""
        from edgesig.offline.pipeline import PreparedImage, prepare
        array = sample.array if isinstance(sample, PreparedImage) else prepare(sample).array
        return self.from_normalized(array)

    def from_normalized(self, image: np.ndarray) -> np.ndarray:
        """The coarse grid flow runs on, from SDINet's normalised image."""
        return to_grid(image, self.model.cfg)

    def distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        refs = self._check(references)
        return np.maximum(1.0 - self.model.probabilities(self._grid(query), refs), self.floor)

    def pairwise(self, references: Sequence[np.ndarray]) -> np.ndarray:
        out = np.maximum(1.0 - self.model.pairwise_probabilities(self._check(references)), self.floor)
        np.fill_diagonal(out, 0.0)
        return out

    def probabilities(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        """P(genuine) per reference; ``offline.flow.majority_vote`` gives the paper's decision."""
        return self.model.probabilities(self._grid(query), self._check(references))

    def _grid(self, arr: np.ndarray) -> np.ndarray:
        a = np.asarray(arr)
        if a.shape != tuple(self.model.cfg.grid):
            raise InvalidInputError(f"flow engine inputs are {self.model.cfg.grid} grid images from "
                                    f"FlowEngine.prepare, got shape {a.shape}")
        return np.ascontiguousarray(a, np.float32)

    def _check(self, references: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(references) == 0:
            raise InvalidInputError("flow engine needs at least one reference")
        return [self._grid(r) for r in references]
