"""SigEmbed image engine: one int8 ONNX embedding per signature, compared by cosine.

The pair engines (SDINet, cross-writer) run their network on every (reference, query)
pair; SigEmbed embeds each image alone (0.2 ms) and compares embeddings. ``prepare`` runs
the offline pipeline (SDINet's 155x220 normalisation, ink = 1) and the template stores that
image, as SDINet's does, so the kiosk's optical-flow heatmap can still explain a decision;
``distances`` embeds the references and the query in one batched run and returns
1 - cosine, which ``edgesig.decision`` normalises by the references' own spread.

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


def load_background(entry: ModelEntry, manifest: Manifest) -> tuple[np.ndarray, np.ndarray] | None:
    """The writer-dependent route's background (mean, precision) named by ``params.background``,
    checked against its sha256; None for an entry compared by cosine."""
    name = entry.params.get("background")
    if not name:
        return None
    path = manifest.origin(entry.name) / name  # beside the manifest that supplied the entry
    if not path.is_file() or sha256_file(path) != entry.params.get("background_sha256"):
        raise ModelError(f"{path} is missing or does not match the manifest's sha256; reinstall "
                         f"edgesig or run `{entry.made_by or 'the export command that installed it'}` again")
    with np.load(path) as z:
        return z["mean"].astype(np.float64), z["precision"].astype(np.float64)


def row_distances(refs: np.ndarray, query: np.ndarray,
                  background: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """The query row's distance to each reference row (unit rows (k, D), (D,)): 1 - cosine, or
    with a ``background`` (mean, precision) its distance to the references' user model,
    repeated once per reference. What every engine that stores one row per image compares."""
    if background is None:
        return 1.0 - refs @ query
    return np.full(len(refs), user_model_distances(refs, query[None], *background)[0])


def row_pairwise(refs: np.ndarray, background: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """The references' (k, k) spread in the same terms as ``row_distances``, zero diagonal."""
    if background is not None:
        return held_out_matrix(refs, *background)
    mat = 1.0 - refs @ refs.T
    np.fill_diagonal(mat, 0.0)
    return mat


class SigEmbedEngine(PairImageEngine):
    """Shares the pair engines' session, pipeline and stored 155x220 images; compares embeddings."""

    shape = SDINET_SHAPE
    target = "sdinet"

    def __init__(self, entry: ModelEntry, threads: int = 1, manifest: Manifest | None = None):
        manifest = manifest or Manifest()
        super().__init__(entry, threads, manifest)
        self.background = load_background(entry, manifest)

    def embed(self, images: Sequence[np.ndarray], label: str = "reference") -> np.ndarray:
        """Unit embeddings (n, dim) of prepared images, in one session run."""
        if not len(images):
            raise InvalidInputError("need at least one reference to compare the query with")
        return self._run([self.check_image(a, label) for a in images])

    def _run(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        x = np.stack(arrays)[:, None]
        return np.asarray(self.session.run({self.session.input_names[0]: x})[0], dtype=np.float64)

    def distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        """1 - cosine with each reference's embedding, or (writer-dependent) the query's
        distance to the references' user model, repeated once per reference. The query
        rides in the references' batch: one session run per verification."""
        if not len(references):
            raise InvalidInputError("need at least one reference to compare the query with")
        both = self._run([self.check_image(r, "reference") for r in references] + [self.check_image(query, "query")])
        return row_distances(both[:-1], both[-1], self.background)

    def pairwise(self, references: Sequence[np.ndarray]) -> np.ndarray:
        return row_pairwise(self.embed(references), self.background)
