"""The Engine contract: turn a sample into references, and compare a query with them.

Engines are thin: ``prepare`` makes the per-sample representation that is stored at
enrolment (features, an embedding sequence, a normalised image), ``distances`` compares
one prepared query with prepared references. Everything about deciding lives in
``edgesig.decision``; everything about storing in ``edgesig.store``.
"""
from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from edgesig.decision import Calibration, Combiner, ReferenceStats, decision_terms, dissimilarity
from edgesig.runtime import ModelEntry


#: How many recomputed templates' statistics an engine keeps (``Engine.restated``): up to
#: 1.3 kB each (the stabilities of five 1000-point references), 1.3 MB at most.
RESTATED_KEPT = 1024


class Engine(ABC):
    """A comparison engine built from a manifest entry."""

    modality: str = "pen"

    def __init__(self, entry: ModelEntry):
        self.entry = entry
        self.name = entry.name
        self.version = entry.version
        #: What a template must have been prepared with (``ModelEntry.fingerprint``): a tuned
        #: entry can keep the version of the one it replaces while its features differ.
        self.fingerprint = entry.fingerprint
        self.calibration = Calibration.from_dict(entry.calibration)
        self.combine: tuple[str, ...] = tuple(entry.params.get("combine", ("min", "mean")))
        #: False for the pressure-free variant of a pen engine (``params.pressure``).
        self.uses_pressure = bool(entry.params.get("pressure", True))
        #: A learned decision (``params.decision``); None: the plain ``combine`` sum plus ``penalty``.
        self.decision = Combiner.from_dict(entry.params["decision"]) if "decision" in entry.params else None
        self._restated: OrderedDict[bytes, ReferenceStats] = OrderedDict()
        self._restated_lock = threading.Lock()

    def pen_input(self, pen: Any) -> Any:
        """The pen as this engine reads it: without pressure for a pressure-free variant."""
        return pen if self.uses_pressure else pen.without_pressure()

    @abstractmethod
    def prepare(self, sample: Any) -> np.ndarray:
        """The representation stored for one reference or computed for one query."""

    @abstractmethod
    def distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        """Dissimilarity of the query to each reference (lower = more alike)."""

    def from_normalized(self, image: np.ndarray) -> np.ndarray:
        """What this engine stores for an image its target's normalisation produced.

        An ensemble runs the offline pipeline once and hands each member its target's
        normalised image; the pair networks compare that image as it is.
        """
        return image

    def penalty(self, query: np.ndarray, references: Sequence[np.ndarray]) -> float:
        """A term added to the Sharma–Sundaram dissimilarity (0 unless an engine has one).

        For what per-reference distances cannot carry, such as the DTW engine's global
        features, which are compared with the references' mean.
        """
        return 0.0

    def terms(self, query: np.ndarray, references: Sequence[np.ndarray],
              stats: ReferenceStats | None = None) -> dict[str, float]:
        """Named terms beyond the normalised distances that a learned decision may weigh
        (none unless an engine has some); ``stats`` the references' (with their
        ``reference_terms`` where the template stored them)."""
        return {}

    def reference_terms(self, references: Sequence[np.ndarray]) -> dict[str, float]:
        """Statistics of the references themselves that ``terms`` reads besides the distances
        (``ReferenceStats.extra``; none unless an engine has some): computed at enrolment and
        stored with the template, where the verification finds them."""
        return {}

    def reference_stats(self, references: Sequence[np.ndarray]) -> ReferenceStats:
        """The references' statistics: from their distance matrix, and ``reference_terms``."""
        return replace(ReferenceStats.from_matrix(self.pairwise(references)), extra=self.reference_terms(references))

    def kept_stats(self, stats: ReferenceStats, references: Sequence[np.ndarray]) -> ReferenceStats:
        """A template's statistics once enrolment kept ``references``: ``stats``, from the
        kept references' part of the matrix, with their ``reference_terms``."""
        return replace(stats, extra=self.reference_terms(references))

    @property
    def prepared_like(self) -> frozenset[str]:
        """Fingerprints of other entries whose templates this engine verifies, with their
        statistics recomputed from their references (``restated``): entries that
        prepare references alike and decide otherwise. None unless an engine has some."""
        return frozenset()

    def restated(self, references: Sequence[np.ndarray]) -> ReferenceStats:
        """``reference_stats`` of a template that an entry in ``prepared_like`` enrolled,
        remembered by the references' content (the last ``RESTATED_KEPT`` templates): the
        recompute aligns the references with each other (20 passes for five; 24 ms for
        1000-point ones), a verification aligns once per reference, so a user enrolled
        under the older entry pays it once per process rather than on every call."""
        digest = hashlib.blake2b(digest_size=16)
        for reference in references:
            digest.update(repr((reference.shape, reference.dtype.str)).encode())
            digest.update(np.ascontiguousarray(reference))
        key = digest.digest()
        with self._restated_lock:
            if key in self._restated:
                self._restated.move_to_end(key)
                return self._restated[key]
        stats = self.reference_stats(references)
        with self._restated_lock:
            self._restated[key] = stats
            while len(self._restated) > RESTATED_KEPT:
                self._restated.popitem(last=False)
        return stats

    def decide(self, distances: np.ndarray, stats: ReferenceStats, query: np.ndarray,
               references: Sequence[np.ndarray]) -> float:
        """The query's dissimilarity from its distances to the references: the learned
        decision's weighted sum where the entry has one, else the plain sum plus penalty."""
        if self.decision is None:
            return dissimilarity(distances, stats, self.combine) + self.penalty(query, references)
        return self.decision.apply(self.term_values(distances, stats, query, references))

    def compare(self, query: np.ndarray, references: Sequence[np.ndarray],
                stats: ReferenceStats) -> tuple[np.ndarray, float]:
        """The query's distances to the references and its dissimilarity (``decide``) in one
        call, so that an engine whose terms come from the same alignment as its distances
        aligns once."""
        distances = self.distances(query, references)
        return distances, self.decide(distances, stats, query, references)

    def term_values(self, distances: np.ndarray, stats: ReferenceStats, query: np.ndarray,
                    references: Sequence[np.ndarray]) -> dict[str, float]:
        """Every named term a learned decision may weigh, for one query."""
        return {**decision_terms(distances, stats), **self.terms(query, references, stats)}

    def pairwise(self, references: Sequence[np.ndarray]) -> np.ndarray:
        """Symmetric reference-to-reference distance matrix (zero diagonal)."""
        k = len(references)
        out = np.zeros((k, k))
        for i in range(k):
            if i + 1 < k:
                row = self.distances(references[i], references[i + 1:])
                out[i, i + 1:] = row
                out[i + 1:, i] = row
        return out
