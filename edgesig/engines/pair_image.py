"""The pair-image engines' common part: an int8 ONNX network that scores (reference, query) pairs.

SDINet and the cross-writer network differ in the image they need (size, normalisation)
and in what happens inside the graph, not in how the runtime drives them: ``prepare``
runs the offline pipeline for the engine's normalisation target, ``distances`` checks the
prepared arrays, stacks the query with every reference as one batch, runs the session
once and returns 1 - P(same writer), so the Sharma-Sundaram rule in ``edgesig.decision``
treats it like any other engine's distance.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from edgesig.engines.base import Engine
from edgesig.errors import ImageError, InvalidInputError
from edgesig.runtime import Manifest, ModelEntry, session_for


class PairImageEngine(Engine):
    """Base of the ONNX pair classifiers; subclasses name their image ``shape`` and ``target``."""

    modality = "image"
    shape: tuple[int, int]
    #: the offline pipeline's normalisation target (``edgesig.offline.prepare``)
    target: str

    def __init__(self, entry: ModelEntry, threads: int = 1, manifest: Manifest | None = None):
        super().__init__(entry)
        self.session = session_for(manifest or Manifest(), entry, threads)

    def prepare(self, image: Any) -> np.ndarray:
        """Normalised float32 signature from a path, encoded bytes or an image array.

        Raises ImageError (with a ``reason`` such as "no signature found") when the image
        cannot be used.
        """
        from edgesig.offline import prepare
        try:
            return prepare(image, self.target).array
        except ImageError:
            raise
        except InvalidInputError as exc:
            raise ImageError(str(exc)) from None

    def distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        """1 - P(same writer) of the query against each reference, in one batched run."""
        refs = [self.check_image(r, "reference") for r in references]
        if not refs:
            raise InvalidInputError("need at least one reference to compare the query with")
        q = self.check_image(query, "query")
        pairs = np.stack([np.stack([r, q]) for r in refs])
        p = self.session.run({self.session.input_names[0]: pairs})[0]
        return 1.0 - np.asarray(p, dtype=np.float64).reshape(len(refs))

    def check_image(self, arr: np.ndarray, label: str) -> np.ndarray:
        """A finite float array of this engine's shape as float32, or InvalidInputError naming ``label``."""
        a = np.asarray(arr)
        if a.shape != self.shape or not np.issubdtype(a.dtype, np.floating) or not np.all(np.isfinite(a)):
            raise InvalidInputError(f"the {label} must be a finite float {self.shape} array from "
                                    f"{type(self).__name__}.prepare, got {a.dtype} {a.shape}")
        return a.astype(np.float32, copy=False)
