"""What the public API returns: plain frozen dataclasses, easy to log and to serialise."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class VerifyResult:
    """The answer to "is this the enrolled person's signature?".

    ``score`` is the calibrated probability of a genuine signature in [0, 1] (higher =
    more likely genuine); it is accepted when ``score >= threshold`` and no security
    check refused the sample. ``reasons`` says why a sample was rejected or flagged.
    ``distance`` is the raw normalised dissimilarity behind the score.
    """

    user_id: str
    accepted: bool
    score: float
    threshold: float
    engine: str
    latency_ms: float
    reasons: tuple[str, ...] = ()
    distance: float | None = None
    model_version: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        return out


@dataclass(frozen=True)
class EnrollmentReport:
    """How enrolment went: which references were kept and how consistent they are.

    ``consistency`` is in [0, 1]: 1 when the references are as close to each other as
    a typical validation writer's, falling towards 0 as they spread out.
    """

    user_id: str
    engine: str
    n_references: int
    kept: tuple[int, ...]
    outliers: tuple[int, ...]
    consistency: float
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("kept", "outliers", "reasons"):
            out[key] = list(out[key])
        return out


@dataclass(frozen=True)
class Identification:
    """The answer to "which enrolled user wrote this signature?".

    ``candidates`` are the closest enrolled users as (user_id, score), best first, with
    ``score`` in [0, 1] (1 = the same embedding as one of the user's references, 0.5 =
    unrelated). ``unknown`` is True when even the best score is below ``threshold``: the
    writer is most likely nobody enrolled, and the candidates are only the nearest
    strangers (for a person to review, not to act on). ``threshold`` is None for a
    closed-set search, which never answers unknown. ``gallery_size`` is how many users
    were searched: the open-set error rates depend on it (see the README).
    """

    candidates: tuple[tuple[str, float], ...]
    unknown: bool
    threshold: float | None
    gallery_size: int

    @property
    def user_id(self) -> str | None:
        """The identified user, or None when unknown."""
        return None if self.unknown else self.candidates[0][0]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["candidates"] = [list(c) for c in self.candidates]
        return out
