"""The handcrafted-descriptor image engine: no network, its parameters are the manifest entry's.

``prepare`` runs the offline pipeline and stores the descriptor of SDINet's normalised
image (``edgesig.offline.descriptor``, a (1, D) float32 row, 1.5 kB a reference as shipped), so a
verification describes only the query; ``distances`` is 1 - cosine, which
``edgesig.decision`` normalises by the references' own spread like any other engine's.
The writer-dependent route (entry ``descriptor-wd``) fits ``sigembed-wd``'s per-user
Fisher discriminant on the rows instead, against a background of training writers' rows
(``edgesig.engines.sigembed.row_distances``), as the literature's best handcrafted
results use writer-dependent classifiers rather than a fixed distance.
Alone it is about as good as the CNNs; it is shipped as a member of the ``ensemble``,
whose CNN members it complements (``benchmarks/RESULTS_offline_pool.md``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from edgesig.engines.base import Engine
from edgesig.engines.sigembed import load_background, row_distances, row_pairwise
from edgesig.errors import ImageError, InvalidInputError
from edgesig.offline.descriptor import DescriptorConfig, describe
from edgesig.runtime import Manifest, ModelEntry


class DescriptorEngine(Engine):
    modality = "image"
    #: whose normalisation the descriptor starts from (an ensemble hands it that image)
    target = "sdinet"

    def __init__(self, entry: ModelEntry, manifest: Manifest | None = None):
        super().__init__(entry)
        self.config = DescriptorConfig.from_params(entry.params["descriptor"])
        self.background = load_background(entry, manifest or Manifest())

    @property
    def shape(self) -> tuple[int, int]:
        """What a prepared sample holds: one descriptor row."""
        return (1, self.config.size)

    def prepare(self, sample: Any) -> np.ndarray:
        """The descriptor row of a path, encoded bytes or image array (ImageError when unusable)."""
        from edgesig.offline import prepare
        try:
            return self.from_normalized(prepare(sample, self.target).array)
        except ImageError:
            raise
        except InvalidInputError as exc:
            raise ImageError(str(exc)) from None

    def from_normalized(self, image: np.ndarray) -> np.ndarray:
        return describe(image, self.config)[None, :]

    def distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        """1 - cosine of the query's descriptor with each reference's, or (writer-dependent) its
        distance to the references' user model, repeated once per reference."""
        if len(references) == 0:
            raise InvalidInputError("need at least one reference to compare the query with")
        refs = np.stack([self._check(r, "reference") for r in references])
        return row_distances(refs, self._check(query, "query"), self.background)

    def pairwise(self, references: Sequence[np.ndarray]) -> np.ndarray:
        return row_pairwise(np.stack([self._check(r, "reference") for r in references]), self.background)

    def _check(self, arr: np.ndarray, label: str) -> np.ndarray:
        """A finite float descriptor row of this entry's size, as a float64 vector."""
        a = np.asarray(arr)
        if a.shape != self.shape or not np.issubdtype(a.dtype, np.floating) or not np.all(np.isfinite(a)):
            raise InvalidInputError(f"the {label} must be a finite float {self.shape} array from "
                                    f"DescriptorEngine.prepare, got {a.dtype} {a.shape}")
        return a[0].astype(np.float64)
