"""SigEmbed image engine: one int8 ONNX embedding per signature, compared by cosine.

The pair engines (SDINet, cross-writer) run their network once per reference at every
verification; SigEmbed runs it once per image, so a reference is stored as its 128-d
unit embedding and a query costs one forward pass whatever the number of references.
``prepare`` runs the offline pipeline (SDINet's 155x220 normalisation, ink = 1) and
embeds the result; ``distances`` is 1 - cosine, which ``edgesig.decision`` normalises by
the references' own spread like any other engine's distance.

The writer-dependent route (entry ``sigembed-wd``, the same network) fits a per-user
linear classifier when it compares: the user's references against a background of
writers (the mean and regularised precision of the training writers' embeddings, shipped
as a small ``.npz``, no images), Fisher's discriminant w = P (mu_user - mu_background).
A query's distance is where it falls between the two means along w, 0 at the user's
mean and 1 at the background's, so one global threshold fits every user; SigNet fits an
SVM per user for the same reason. The references' spread is measured the same way,
each reference against the classifier of the others.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from edgesig.engines.pair_image import PairImageEngine
from edgesig.errors import InvalidInputError, ModelError
from edgesig.offline.normalize import SDINET_SHAPE
from edgesig.runtime import Manifest, ModelEntry, sha256_file


def user_model_distances(refs: np.ndarray, queries: np.ndarray, mean: np.ndarray,
                         precision: np.ndarray) -> np.ndarray:
    """Fisher-discriminant distance of each query (n, D) to the user model of ``refs`` (k, D):
    0 at the references' mean, 1 at the background ``mean`` (``precision``: the background's
    regularised inverse covariance, positive definite, so the two means are always apart)."""
    mu = refs.mean(axis=0)
    w = precision @ (mu - mean)
    top, bottom = float(w @ mu), float(w @ mean)
    return (top - queries @ w) / max(top - bottom, 1e-9)


def held_out_matrix(refs: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Symmetric (k, k) spread of the references: entry (i, j) is the mean of reference i's
    and j's distances to the user model of the others (zero diagonal), as magnitudes: a
    held-out reference may fall beyond the others' mean (a negative distance), and the
    spread that normalises a query's distance must stay a positive scale."""
    k = len(refs)
    held = np.abs([user_model_distances(np.delete(refs, i, axis=0), refs[i:i + 1], mean, precision)[0]
                   for i in range(k)])
    mat = (held[:, None] + held[None, :]) / 2
    np.fill_diagonal(mat, 0.0)
    return mat


class SigEmbedEngine(PairImageEngine):
    """Shares the pair engines' session and pipeline; stores embeddings instead of images."""

    shape = SDINET_SHAPE
    target = "sdinet"

    def __init__(self, entry: ModelEntry, threads: int = 1, manifest: Manifest | None = None):
        manifest = manifest or Manifest()
        super().__init__(entry, threads, manifest)
        self.background: tuple[np.ndarray, np.ndarray] | None = None
        name = entry.params.get("background")
        if name:  # the writer-dependent route
            path = manifest.dir / name
            if not path.is_file() or sha256_file(path) != entry.params.get("background_sha256"):
                raise ModelError(f"{path} is missing or does not match the manifest's sha256; "
                                          f"reinstall edgesig or run `python -m export offline embed ship` again")
            with np.load(path) as z:
                self.background = (z["mean"].astype(np.float64), z["precision"].astype(np.float64))

    def prepare(self, image: Any) -> np.ndarray:
        """The unit embedding (float32, (128,)) of a path, encoded bytes or an image array."""
        return self.from_normalized(super().prepare(image))

    def from_normalized(self, image: np.ndarray) -> np.ndarray:
        x = self.check_image(image, "image")[None, None]
        return np.asarray(self.session.run({self.session.input_names[0]: x})[0][0], dtype=np.float32)

    def distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        """1 - cosine with each reference's embedding, or (writer-dependent) the query's
        distance to the references' user model, repeated once per reference."""
        q = self._check_embedding(query, "query").astype(np.float64)
        refs = self._references(references)
        if self.background is None:
            return 1.0 - refs @ q
        return np.full(len(refs), user_model_distances(refs, q[None], *self.background)[0])

    def pairwise(self, references: Sequence[np.ndarray]) -> np.ndarray:
        if self.background is None:
            return super().pairwise(references)
        return held_out_matrix(self._references(references), *self.background)

    def _references(self, references: Sequence[np.ndarray]) -> np.ndarray:
        if not len(references):
            raise InvalidInputError("need at least one reference to compare the query with")
        return np.stack([self._check_embedding(r, "reference") for r in references]).astype(np.float64)

    def _check_embedding(self, vec: np.ndarray, label: str) -> np.ndarray:
        v = np.asarray(vec)
        dim = int(self.entry.params.get("dim", 128))
        if v.shape != (dim,) or not np.issubdtype(v.dtype, np.floating) or not np.all(np.isfinite(v)):
            raise InvalidInputError(f"the {label} must be a finite float ({dim},) embedding from "
                                    f"SigEmbedEngine.prepare, got {v.dtype} {v.shape}; images enrolled "
                                    "with another image engine must be enrolled again")
        return v
