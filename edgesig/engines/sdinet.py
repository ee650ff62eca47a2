"""SDINet image engine: an int8 ONNX pair classifier over normalised signature images.

``prepare`` runs the offline pipeline (photo or scan -> sheet -> clean-up -> located
signature -> 155x220 float32, ink = 1), which is what is stored at enrolment.
``distances`` stacks the query with every reference as (reference, query) channel pairs
and scores them in one session run; the distance is 1 - P(genuine pair), so the
Sharma-Sundaram rule in ``edgesig.decision`` treats it like any other engine's distance.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from edgesig.engines.base import Engine
from edgesig.errors import ImageError, InvalidInputError
from edgesig.runtime import Manifest, ModelEntry, session_for

SHAPE = (155, 220)


class SdinetEngine(Engine):
    modality = "image"

    def __init__(self, entry: ModelEntry, threads: int = 1, manifest: Manifest | None = None):
        super().__init__(entry)
        self.target = str(entry.params.get("target", "sdinet"))
        self.session = session_for(manifest or Manifest(), entry, threads)

    def prepare(self, image: Any) -> np.ndarray:
        """Normalised (155, 220) float32 signature from a path, encoded bytes or an image array.

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
        """1 - P(genuine) of the query against each reference, in one batched run."""
        refs = [self._check(r, "reference") for r in references]
        if not refs:
            raise InvalidInputError("need at least one reference to compare the query with")
        q = self._check(query, "query")
        pairs = np.stack([np.stack([r, q]) for r in refs])
        p = self.session.run({self.session.input_names[0]: pairs})[0]
        return 1.0 - np.asarray(p, dtype=np.float64).reshape(len(refs))

    @staticmethod
    def _check(arr: np.ndarray, label: str) -> np.ndarray:
        a = np.asarray(arr)
        if a.shape != SHAPE or not np.issubdtype(a.dtype, np.floating) or not np.all(np.isfinite(a)):
            raise InvalidInputError(f"the {label} must be a finite float (155, 220) array from "
                                    f"SdinetEngine.prepare, got {a.dtype} {a.shape}")
        return a.astype(np.float32, copy=False)
