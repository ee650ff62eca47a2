"""The offline ensemble: installed image engines' distances, calibrated and fused.

The image models fail differently (SDINet compares stroke details of the two images
laid over each other, SigEmbed compares writer embeddings, its writer-dependent route
measures a query against a classifier of the user's references, the cross-writer network
compares global, attention-pooled embeddings, the flow engine measures how far a query
bends away from the references' stable regions, the handcrafted descriptor compares
stroke-direction and texture histograms), so a weighted sum of their opinions can beat
each of them. Their raw distances are not on one scale, so each member's pair
distance d is first mapped to 1 - P_m(genuine | d) by a logistic calibration fitted on
the validation writers' reference-query pairs; the fused distance is sum_m w_m (1 - P_m),
with weights chosen on the same validation writers (``python -m export offline pool
ensemble``). It stays a per-reference distance in [0, 1], so enrolment checks and the
Sharma-Sundaram decision work unchanged.

Prepared sample layout (what a template stores): ONE 1-D float32 array, the members'
prepared arrays flattened and concatenated in the manifest's member order, each stored
once: members that keep the same array (the same normalisation target and the same
``from_normalized``, as SDINet and SigEmbed both keep SDINet's 155x220 image) share one
part. SDINet plus the cross-writer network store 84,276 values; a flow member adds its
64x96 grid of SDINet's image, a descriptor member its (1, D) row (the shipped 2.5.0:
34,100 + 372 values). The offline pipeline (sheet, lighting, lines, location)
runs once; only the last normalisation differs per target, and each is computed once.
The manifest pins each member (``ModelEntry.fingerprint``): an ensemble fitted on other
member files or trees is refused rather than silently miscalibrated. Reference matrices
are fused from each member's own ``pairwise``, because flow scores a reference pair
against the stability map of the whole set and the writer-dependent route holds each
reference out of the others' user model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from edgesig.decision import Calibration
from edgesig.engines.base import Engine
from edgesig.errors import EngineUnavailableError, ImageError, InvalidInputError
from edgesig.runtime import Manifest, ModelEntry

#: Smallest fused distance: keeps the decision's normalisers away from zero.
_D_FLOOR = 1e-4


def _normalizers() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    from edgesig.offline import normalize_crosswriter, normalize_sdinet
    return {"sdinet": normalize_sdinet, "crosswriter": normalize_crosswriter}


@dataclass(frozen=True)
class Member:
    """One fused engine: where its part of a prepared array lies, its weight and calibration."""

    engine: Engine
    target: str                 # whose normalisation the member's input starts from
    shape: tuple[int, int]
    weight: float
    calibration: Calibration
    part: int                   # the stored part holding its array (members keeping the same array share one)

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]


class EnsembleEngine(Engine):
    modality = "image"

    def __init__(self, entry: ModelEntry, threads: int = 1, manifest: Manifest | None = None):
        super().__init__(entry)
        from edgesig.engines import load_engine, stale_members
        manifest = manifest or Manifest()
        specs = entry.params.get("members", [])
        if not specs:
            raise EngineUnavailableError(f"ensemble entry {entry.name!r} lists no members; rebuild it")
        members: list[Member] = []
        stored: list[tuple[str, tuple[int, int], Any]] = []  # one (target, shape, transform) per part
        stale = stale_members(entry, manifest)
        for spec in specs:
            installed = manifest.get(spec["name"])
            if spec["name"] in stale:
                raise EngineUnavailableError(
                    f"the ensemble was fitted on another {spec['name']!r} model (sha256 "
                    f"{str(spec.get('sha256'))[:12]}…, installed {installed.fingerprint[:12]}…); refit it with "
                    "`python -m export offline pool ensemble` or choose a single image engine")
            engine = load_engine(spec["name"], manifest, threads)
            shape = (int(spec["shape"][0]), int(spec["shape"][1]))
            key = (str(spec["target"]), shape, type(engine).from_normalized)
            if key not in stored:
                stored.append(key)
            members.append(Member(engine, key[0], shape, float(spec["weight"]),
                                  Calibration.from_dict(spec["calibration"]), stored.index(key)))
        self.members = tuple(members)
        #: the member that makes each stored part
        self.makers = tuple(next(m for m in members if m.part == p) for p in range(len(stored)))
        self.length = sum(m.size for m in self.makers)

    def prepare(self, image: Any) -> np.ndarray:
        """The stored parts, flattened and concatenated (see the module doc)."""
        from edgesig.offline import prepare
        try:
            prepared = prepare(image, self.members[0].target)
        except ImageError:
            raise
        except InvalidInputError as exc:
            raise ImageError(str(exc)) from None
        normalized = {prepared.target: prepared.array}
        for m in self.makers:
            if m.target not in normalized:
                normalized[m.target] = _normalizers()[m.target](prepared.steps["crop"])
        parts = [m.engine.from_normalized(normalized[m.target]) for m in self.makers]
        return np.concatenate([p.astype(np.float32, copy=False).ravel() for p in parts])

    def split(self, sample: np.ndarray, label: str = "sample") -> list[np.ndarray]:
        """A prepared array cut back into each member's (H, W) array (shared parts repeated)."""
        a = np.asarray(sample)
        if a.shape != (self.length,) or not np.issubdtype(a.dtype, np.floating):
            raise InvalidInputError(f"the {label} must be a float ({self.length},) array from "
                                    f"EnsembleEngine.prepare, got {a.dtype} {a.shape}")
        parts, start = [], 0
        for m in self.makers:
            parts.append(a[start:start + m.size].reshape(m.shape))
            start += m.size
        return [parts[m.part] for m in self.members]

    def member_distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each member's raw distances of the query to the references."""
        if len(references) == 0:
            raise InvalidInputError("need at least one reference to compare the query with")
        q = self.split(query, "query")
        refs = [self.split(r, "reference") for r in references]
        return [m.engine.distances(q[i], [r[i] for r in refs]) for i, m in enumerate(self.members)]

    def distances(self, query: np.ndarray, references: Sequence[np.ndarray]) -> np.ndarray:
        """sum_m w_m (1 - P_m(genuine | d_m)) per reference."""
        fused = fuse([m.weight for m in self.members], [m.calibration for m in self.members],
                     self.member_distances(query, references))
        return np.maximum(fused, _D_FLOOR)

    def pairwise(self, references: Sequence[np.ndarray]) -> np.ndarray:
        """The members' own reference matrices, fused (what the ensemble was fitted on)."""
        refs = [self.split(r, "reference") for r in references]
        mats = [m.engine.pairwise([r[i] for r in refs]) for i, m in enumerate(self.members)]
        out = np.maximum(fuse([m.weight for m in self.members], [m.calibration for m in self.members], mats),
                         _D_FLOOR)
        np.fill_diagonal(out, 0.0)
        return out


def fuse(weights: Sequence[float], calibrations: Sequence[Calibration],
         distances: Sequence[np.ndarray]) -> np.ndarray:
    """The fusion rule, shared by the engine and the fitting code: sum_m w_m (1 - P_m(d_m))."""
    out = np.zeros(np.shape(distances[0]), dtype=np.float64)
    for w, cal, d in zip(weights, calibrations, distances):
        if w:
            out += w * (1.0 - np.asarray(cal.probability(np.asarray(d, dtype=np.float64))))
    return out
