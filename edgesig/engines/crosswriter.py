"""Cross-writer image engine: an int8 ONNX Siamese attention network over 224x224 signatures.

Where SDINet compares stroke details of the two images stacked as channels, the
cross-writer network embeds each signature alone, lets the two embeddings attend to
each other and compares them globally, so the two offline engines make different
mistakes (which the ``ensemble`` engine exploits). ``prepare`` runs the offline
pipeline with the cross-writer normalisation (gray levels and size by moments, 224x224
float32, ink bright); ``distances`` scores the query against every reference in one
batched session run and returns 1 - P(same writer), for the Sharma-Sundaram decision.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from edgesig.engines.base import Engine
from edgesig.errors import ImageError, InvalidInputError
from edgesig.runtime import Manifest, ModelEntry, session_for

SHAPE = (224, 224)


class CrossWriterEngine(Engine):
    modality = "image"

    def __init__(self, entry: ModelEntry, threads: int = 1, manifest: Manifest | None = None):
        super().__init__(entry)
        self.session = session_for(manifest or Manifest(), entry, threads)

    def prepare(self, image: Any) -> np.ndarray:
        """Normalised (224, 224) float32 signature from a path, encoded bytes or an image array.

        Raises ImageError (with a ``reason`` such as "no signature found") when the image
        cannot be used.
        """
        from edgesig.offline import prepare
        try:
            return prepare(image, "crosswriter").array
        except ImageError:
            raise
        except InvalidInputError as exc:
            raise ImageError(str(exc)) from None

    def distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        """1 - P(same writer) of the query against each reference, in one batched run."""
        refs = [check_image(r, "reference") for r in references]
        if not refs:
            raise InvalidInputError("need at least one reference to compare the query with")
        q = check_image(query, "query")
        pairs = np.stack([np.stack([r, q]) for r in refs])
        p = self.session.run({self.session.input_names[0]: pairs})[0]
        return 1.0 - np.asarray(p, dtype=np.float64).reshape(len(refs))


def check_image(arr: np.ndarray, label: str) -> np.ndarray:
    """A finite float (224, 224) array as float32, or InvalidInputError naming ``label``."""
    a = np.asarray(arr)
    if a.shape != SHAPE or not np.issubdtype(a.dtype, np.floating) or not np.all(np.isfinite(a)):
        raise InvalidInputError(f"the {label} must be a finite float (224, 224) array from "
                                f"CrossWriterEngine.prepare, got {a.dtype} {a.shape}")
    return a.astype(np.float32, copy=False)
