"""Adaptive template update: let a template follow a signature that drifts over months.

A template frozen at enrolment slowly starts rejecting its owner as their signature
changes. After a confident genuine verification (calibrated score at least
``min_score``, no security reason) the query joins the references and the decision
statistics are recomputed. Bounded: at most ``max_added`` adapted references, the
oldest replaced first, and the enrolled references are never dropped, so a few lucky
forgeries cannot take a template over. Reversible: the record keeps how many
references were enrolled and their statistics, and :func:`reverted` restores them.
"""
from __future__ import annotations

import numbers
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesig.engines.base import Engine
from edgesig.errors import InvalidInputError
from edgesig.store.base import Template

ENROLLED = "enrolled_references"
ENROLLED_STATS = "enrolled_stats"
ADAPTED_AT = "adapted_at"


@dataclass(frozen=True)
class AdaptPolicy:
    """When and how much a template adapts (pass one to ``Verifier(adapt=...)``)."""

    min_score: float = 0.9
    max_added: int = 3

    def __post_init__(self) -> None:
        # a number first: "0.9" failed the range test with a raw TypeError
        if isinstance(self.min_score, bool) or not isinstance(self.min_score, numbers.Real) \
                or not 0.0 < self.min_score <= 1.0:
            raise InvalidInputError(f"min_score must be a number in (0, 1], got {self.min_score!r:.40}")
        if isinstance(self.max_added, bool) or not isinstance(self.max_added, numbers.Integral) \
                or not 1 <= self.max_added <= 10:
            raise InvalidInputError(f"max_added must be a whole number between 1 and 10, got {self.max_added!r:.40}")


def n_enrolled(template: Template) -> int:
    """How many of the template's references came from enrolment (they come first)."""
    return int(template.meta.get(ENROLLED, len(template.references)))


def same_enrolment(a: Template, b: Template) -> bool:
    """Whether two versions of a record hold the same enrolled references (adapted ones may
    differ): a query judged against ``a`` may join ``b``, not a re-enrolment's references."""
    n = n_enrolled(a)
    return n == n_enrolled(b) and all(np.array_equal(x, y) for x, y in zip(a.references[:n], b.references[:n]))


def adapted(template: Template, engine: Engine, query: np.ndarray, policy: AdaptPolicy,
            fingerprint: np.ndarray | None = None) -> Template:
    """The template with ``query`` added as a reference (the oldest adapted one dropped when full)."""
    enrolled = n_enrolled(template)
    added = list(template.references[enrolled:])
    stamps = list(template.meta.get(ADAPTED_AT, []))
    fingerprints = template.meta.get("fingerprints")
    fps = list(fingerprints[enrolled:]) if fingerprints is not None else []
    if len(added) >= policy.max_added:
        added, stamps, fps = added[1:], stamps[1:], fps[1:]
    references = tuple(template.references[:enrolled]) + tuple(added) + (query,)
    meta: dict[str, Any] = {**template.meta, ENROLLED: enrolled, ADAPTED_AT: stamps + [time.time()],
                            ENROLLED_STATS: template.meta.get(ENROLLED_STATS, template.stats)}
    if fingerprints is not None and fingerprint is not None:
        meta["fingerprints"] = list(fingerprints[:enrolled]) + fps + [np.asarray(fingerprint).tolist()]
    stats = engine.reference_stats(references).to_dict()
    return template.bumped(references=references, stats=stats, meta=meta)


def reverted(template: Template) -> Template:
    """The template as enrolled: adapted references and their statistics removed."""
    enrolled = n_enrolled(template)
    meta = {k: v for k, v in template.meta.items() if k not in (ENROLLED, ENROLLED_STATS, ADAPTED_AT)}
    if "fingerprints" in meta:
        meta["fingerprints"] = list(meta["fingerprints"][:enrolled])
    return template.bumped(references=tuple(template.references[:enrolled]),
                           stats=template.meta.get(ENROLLED_STATS, template.stats), meta=meta)
