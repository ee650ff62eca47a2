"""Verifier: the facade that wires capture, engines, decision and store together.

POS code needs three calls: ``enroll``, ``verify_stroke`` (pen) and ``verify_image``
(paper). Everything else (which engine, how references are normalised, where templates
live) is configuration with sensible defaults.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from edgesig.adaptation import AdaptPolicy, adapted, n_enrolled, reverted, same_enrolment
from edgesig.audit import AuditLog
from edgesig.decision import ReferenceStats
from edgesig.engines import Engine, best_engine, load_engine, pressure_free
from edgesig.errors import (EnrollmentError, ImageError, InvalidInputError, PenStreamError, UnknownUserError,
                            input_label, labelled)
from edgesig.features.kinematics import at_rate, capture_rate
from edgesig.identify import Embedder, Identifier, entry_name, load_identification
from edgesig.pen import PenStream
from edgesig.results import EnrollmentReport, Identification, VerifyResult
from edgesig.runtime import Manifest
from edgesig.security import ReplayGuard, fingerprint, near_duplicate, shared_guard, timing_anomalies
from edgesig.store import MemoryStore, Template, TemplateStore
from edgesig.store.base import check_user_id, locked

MIN_REFERENCES = 3
MAX_REFERENCES = 20
#: Template meta key holding the engine's ``ModelEntry.fingerprint`` at enrolment.
MODEL_FINGERPRINT = "model_fingerprint"
#: Pen template meta key: the references' sampling rate (Hz), which queries are brought to.
CAPTURE_RATE = "capture_hz"


#: What each component argument of Verifier must be, and how to make one.
_COMPONENTS: dict[str, tuple[type, str]] = {
    "store": (TemplateStore, "a TemplateStore (edgesig.EncryptedStore(path, key) or MemoryStore())"),
    "audit": (AuditLog, "an AuditLog (edgesig.AuditLog(path, key=store.audit_key))"),
    "adapt": (AdaptPolicy, "an AdaptPolicy (edgesig.AdaptPolicy(min_score=0.9, max_added=3))"),
    "replay_guard": (ReplayGuard, "a ReplayGuard"),
}


@dataclass(frozen=True)
class EnrollPolicy:
    """How strict enrolment is about its references.

    A reference is an outlier when its median distance to the others exceeds
    ``outlier_ratio`` times the median distance among the others. A reference set whose
    mean pairwise distance exceeds ``max_spread`` (from validation writers' genuine sets)
    is refused outright: it mixes writers or signature styles.
    """

    outlier_ratio: float = 1.8
    max_spread: float = float("inf")
    typical_spread: float | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "EnrollPolicy":
        data = params.get("enroll", {})
        return cls(**{k: float(v) for k, v in data.items() if k in cls.__dataclass_fields__})


class Verifier:
    """Enrol users and verify their signatures on this device.

    ``engine`` names the online engine ("auto" = the best validated one installed);
    ``image_engine`` the offline one, resolved when first used; ``store`` keeps the
    templates (a MemoryStore unless given); ``threads`` is the intra-op thread count of
    ONNX engines. ``replay_guard`` remembers nonces, sequence numbers and recently
    accepted signatures (by default one per store, shared by every Verifier on it and by
    the one-shot ``edgesig.verify_stroke``, so a capture accepted by one is a replay to
    all; ``persist_replays`` keeps the accepted fingerprints in the store across
    restarts); ``audit`` records every enrolment and decision without biometric data. With ``adapt`` (an
    :class:`~edgesig.adaptation.AdaptPolicy`) confidently accepted signatures join the
    template, bounded and reversible (:meth:`revert_adaptation`); off by default.
    """

    def __init__(self, engine: str = "auto", store: TemplateStore | None = None, *,
                 image_engine: str = "auto", models_dir: str | None = None, threads: int = 1,
                 replay_guard: ReplayGuard | None = None, audit: AuditLog | None = None,
                 adapt: AdaptPolicy | None = None, persist_replays: bool = False):
        _check_components(store=store, audit=audit, adapt=adapt, replay_guard=replay_guard)
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise InvalidInputError(f"threads must be a whole number of at least 1 (the ONNX engines' "
                                    f"intra-op threads), got {threads!r:.40}")
        self.store: TemplateStore = store if store is not None else MemoryStore()
        self.replay_guard = replay_guard if replay_guard is not None else shared_guard(self.store, persist_replays)
        self.audit = audit
        self.adapt = adapt
        self.manifest = Manifest(models_dir)
        self.threads = threads
        self._engine_name = best_engine(self.manifest, "pen") if engine == "auto" else engine
        self._image_engine_name = image_engine
        self._engines: dict[str, Engine] = {}
        self._identifiers: dict[str, Identifier] = {}
        self._embedders: dict[str, tuple[Embedder, float]] = {}
        self.engine(self._engine_name)  # fail at construction, not at the first customer

    @property
    def engine_name(self) -> str:
        return self._engine_name

    @property
    def image_engine_name(self) -> str:
        if self._image_engine_name == "auto":
            self._image_engine_name = best_engine(self.manifest, "image")
        return self._image_engine_name

    def pen_engines(self) -> list[str]:
        """The pen engines a user can hold a template for: the chosen one and its
        pressure-free variant, if installed (all that a user enrolled only from pads
        without pressure has)."""
        variant = pressure_free(self._engine_name, self.manifest)
        return [self._engine_name] + ([variant] if variant else [])

    def engine(self, name: str) -> Engine:
        if name not in self._engines:
            self._engines[name] = load_engine(name, self.manifest, self.threads)
        return self._engines[name]

    def warm_up(self, sample: PenStream | Any) -> None:
        """Run every compute step of a verification on ``sample`` (a pen, or an image for
        the image engine) and keep nothing: the first call of a process loads compiled
        kernels and models (hundreds of ms), so a service warms up at start, not on its
        first customer. No template, replay memory or audit log is touched."""
        pen = isinstance(sample, PenStream)
        engine = self.engine(self._engine_name if pen else self.image_engine_name)
        query = engine.prepare(sample)
        refs = [query, query]
        engine.compare(query, refs, engine.reference_stats(refs))
        if pen:
            sample_fp = fingerprint(sample)
            near_duplicate(sample_fp, [sample_fp])
            timing_anomalies(sample)

    # -- enrolment -------------------------------------------------------------------
    def enroll(self, user_id: str, pens: Sequence[PenStream]) -> EnrollmentReport:
        """Enrol (or re-enrol) ``user_id`` from 3–20 reference signatures.

        Outlier references are dropped and reported; if fewer than three consistent
        references remain, or the set as a whole is far more spread out than any genuine
        writer's, EnrollmentError says which references to capture again.
        """
        user_id = check_user_id(user_id)
        samples = _check_samples(pens, PenStream, "PenStream")
        fingerprints = [fingerprint(p) for p in samples]
        for i, pen in enumerate(samples):
            copy_of = near_duplicate(fingerprints[i], fingerprints[:i])
            if copy_of is not None:
                raise EnrollmentError(f"reference {i} is a copy of reference {copy_of}; a hand never "
                                      "signs twice exactly alike, capture real signatures")
            anomalies = timing_anomalies(pen)
            if anomalies:
                raise EnrollmentError(f"reference {i} has implausible timing ({'; '.join(anomalies)}); "
                                      "capture it again from the pad")
        variant = pressure_free(self._engine_name, self.manifest)
        # pressure pads enrol both (a later query may come from a pad without); others the variant
        names = [self._engine_name] if variant is None or all(p.has_pressure for p in samples) else []
        rate = float(np.median([capture_rate(p, 0.0) for p in samples]))
        return self._enroll(user_id, [self.engine(name) for name in names + ([variant] if variant else [])],
                            [at_rate(p, rate) for p in samples] if rate > 0 else samples,
                            {"fingerprints": [fp.tolist() for fp in fingerprints]}, "pen",
                            {CAPTURE_RATE: rate} if rate > 0 else {})

    def enroll_images(self, user_id: str, images: Sequence[Any]) -> EnrollmentReport:
        """Enrol ``user_id`` from 3–20 images of paper signatures (paths, bytes or arrays).

        Each image goes through the offline pipeline (sheet, clean-up, crop,
        normalisation); an image without a signature raises ImageError naming it.
        """
        user_id = check_user_id(user_id)
        samples = _check_samples(images, object, "image")
        return self._enroll(user_id, [self.engine(self.image_engine_name)], samples, {}, "image")

    def _enroll(self, user_id: str, engines: Sequence[Engine], samples: list[Any],
                per_reference: dict[str, list[Any]], modality: str,
                shared: dict[str, Any] | None = None) -> EnrollmentReport:
        """Prepare, check and store for each engine; returns the first engine's report.
        ``per_reference`` meta is kept for the references each engine kept, ``shared`` as it is.

        The engine templates and the identification embeddings go into the store in one
        transaction, so a crash cannot leave a user enrolled for one and not the other.
        """
        records, reports = [], []
        for engine in engines:
            prepared = [_prepare_reference(engine, s, i) for i, s in enumerate(samples)]
            template, report = self._build_template(user_id, engine, prepared)
            meta = {key: [values[i] for i in report.kept] for key, values in per_reference.items()}
            records.append(replace(template, meta={**template.meta, **meta, **(shared or {})}))
            reports.append(report)
        self.store.put_many(records + self._embeddings(user_id, modality, samples))
        self._identifiers.pop(modality, None)
        if self.audit is not None:  # one enrolment, one line: a pressure-free variant's template rides along
            self.audit.record("enrol", user_id, engine=engines[0].name, n_references=len(samples),
                              kept=len(reports[0].kept), reasons=list(reports[0].reasons))
        return reports[0]

    def _build_template(self, user_id: str, engine: Engine,
                        prepared: list[np.ndarray]) -> tuple[Template, EnrollmentReport]:
        policy = EnrollPolicy.from_params(engine.entry.params)
        kept, outliers, reasons, stats = check_references(engine.pairwise(prepared), policy)
        stats = engine.kept_stats(stats, [prepared[i] for i in kept])
        typical = policy.typical_spread or stats.d_mean
        consistency = float(np.clip(typical / stats.d_mean, 0.0, 1.0))
        template = Template(user_id=user_id, engine=engine.name, model_version=engine.version,
                            references=tuple(prepared[i] for i in kept), stats=stats.to_dict(),
                            meta={MODEL_FINGERPRINT: engine.fingerprint})
        report = EnrollmentReport(user_id, engine.name, len(prepared), tuple(kept), tuple(outliers),
                                  consistency, tuple(reasons))
        return template, report

    # -- verification ----------------------------------------------------------------
    def verify_stroke(self, user_id: str, pen: PenStream, *,
                      prepared: np.ndarray | None = None) -> VerifyResult:
        """Compare a pen signature with ``user_id``'s enrolled references.

        ``prepared`` is the engine's representation of ``pen`` when a streaming session
        has already computed it (see :class:`edgesig.capture.session.Session`).
        """
        start = time.perf_counter()
        user_id = check_user_id(user_id)
        if not isinstance(pen, PenStream):
            raise InvalidInputError(f"verify_stroke needs a PenStream, got {type(pen).__name__}; "
                                    "build one with PenStream.from_arrays or edgesig.load_pen")
        generation = self.replay_guard.generation()  # before the template: a delete from here on wins
        engine = self.engine(self._pen_engine(user_id, pen))
        template = self.store.get(user_id, engine.name)
        # the features count samples, so a query from a pad of another rate is brought to the enrolment's
        at_enrolled = at_rate(pen, template.meta.get(CAPTURE_RATE))
        if prepared is not None and engine.name == self._engine_name and at_enrolled is pen:  # a session prepares
            _check_prepared(prepared, engine, template)  # for the main engine, at the pad's own rate
        else:
            prepared = None
        query_fp = fingerprint(pen)  # once, for the replay check, remember_accepted and adaptation
        security = timing_anomalies(pen) + self.replay_guard.check(
            user_id, pen, template.meta.get("fingerprints", ()), query_fp=query_fp, advance=False)
        if not security:  # the pad's counter moves only for a capture that passed every check
            security = self.replay_guard.advance(pen)
        query = _finite(engine.prepare(at_enrolled) if prepared is None else prepared, engine, "the query")
        result = self._decide(user_id, engine, template, query, start)
        if security:
            result = replace(result, accepted=False, reasons=result.reasons + tuple(security))
        elif result.accepted:
            self.replay_guard.remember_accepted(user_id, pen, query_fp=query_fp, generation=generation)
            result = self._maybe_adapt(engine, template, query, result, query_fp)
        return self._audited(result, device=pen.device.name, sequence=pen.sequence)

    def _pen_engine(self, user_id: str, pen: PenStream) -> str:
        """The pen engine for this query: the pressure-free variant for a pen without
        pressure, or for a user enrolled only on such a pad; otherwise the chosen engine."""
        variant = pressure_free(self._engine_name, self.manifest)
        if variant is None:
            return self._engine_name
        if not pen.has_pressure:
            return variant
        engines = self.store.engines(user_id)  # nobody's: the chosen engine, which the error names
        return variant if variant in engines and self._engine_name not in engines else self._engine_name

    def verify_image(self, user_id: str, image: Any, *, prepared: np.ndarray | None = None,
                     template: Template | None = None) -> VerifyResult:
        """Compare a paper signature (path, bytes or array) with ``user_id``'s references.

        A sheet without a signature raises ImageError("no signature found ..."): there
        is nothing to score. ``prepared`` is the image engine's representation of
        ``image`` and ``template`` the user's record for that engine, when the caller has
        already read them (to explain the decision against the same references, which
        adaptation or a re-enrolment may replace in the store afterwards).
        """
        start = time.perf_counter()
        user_id = check_user_id(user_id)
        engine = self.engine(self.image_engine_name)
        if template is None:
            template = self.store.get(user_id, engine.name)
        elif (template.user_id, template.engine) != (user_id, engine.name):
            raise InvalidInputError(f"the template given is {template.user_id!r}'s for {template.engine!r}; "
                                    f"verifying {user_id!r} needs theirs for {engine.name!r} (store.get)")
        if prepared is not None:
            _check_prepared(prepared, engine, template)
        query = _finite(engine.prepare(image) if prepared is None else prepared, engine, "the query")
        result = self._decide(user_id, engine, template, query, start)
        return self._audited(self._maybe_adapt(engine, template, query, result))

    def _maybe_adapt(self, engine: Engine, template: Template, query: np.ndarray, result: VerifyResult,
                     query_fp: np.ndarray | None = None) -> VerifyResult:
        """Add a confidently accepted query (with its pen fingerprint, if a pen) to the
        template when adaptation is on. The record is read again under the store's
        exclusive lock and the query joins that: another process's adaptation since the
        decision is kept, and a user re-enrolled or deleted since is left as they are."""
        if self.adapt is None or not result.accepted or result.score < self.adapt.min_score:
            return result
        with locked(self.store):
            try:
                current = self.store.get(template.user_id, template.engine)
            except UnknownUserError:
                return result
            if not same_enrolment(template, current):
                return result
            new = adapted(current, engine, query, self.adapt, query_fp)
            self.store.put(new)
        if self.audit is not None:
            self.audit.record("update", result.user_id, engine=engine.name, decision="adapted",
                              n_references=len(new.references))
        return replace(result, details={**result.details, "adapted": True})

    def revert_adaptation(self, user_id: str) -> int:
        """Restore ``user_id``'s templates as enrolled; returns how many adapted references went."""
        user_id = check_user_id(user_id)
        removed = 0
        with locked(self.store):  # an adaptation by another process cannot land between read and write
            for name in self.store.engines(user_id):
                template = self.store.get(user_id, name)
                extra = len(template.references) - n_enrolled(template)
                if extra > 0:
                    self.store.put(reverted(template))
                    removed += extra
        if self.audit is not None:
            self.audit.record("update", user_id, decision="reverted adaptation", removed=removed)
        return removed

    def _audited(self, result: VerifyResult, **fields: Any) -> VerifyResult:
        if self.audit is not None:
            self.audit.record("verify" if result.accepted else "reject", result.user_id,
                              engine=result.engine, accepted=result.accepted, score=result.score,
                              threshold=result.threshold, latency_ms=result.latency_ms,
                              reasons=list(result.reasons), **fields)
        return result

    def _decide(self, user_id: str, engine: Engine, template: Template, query: np.ndarray,
                start: float) -> VerifyResult:
        if _enrolled_elsewhere(template, engine):
            raise EnrollmentError(
                f"{user_id!r} was enrolled with {engine.name} {template.model_version}, but the installed "
                f"{engine.name} {engine.version} prepares signatures differently; enrol the user again "
                "(the old template stays stored until then)")
        stats = ReferenceStats.from_dict(template.stats)
        if template.meta.get(MODEL_FINGERPRINT) in engine.prepared_like:  # its statistics are another decision's
            stats = engine.restated(template.references)
        dists, d = engine.compare(query, template.references, stats)
        score = float(engine.calibration.probability(d))
        threshold = engine.calibration.score_threshold
        accepted = bool(d <= engine.calibration.threshold)
        reasons = () if accepted else (f"score {score:.3f} below threshold {threshold:.3f}",)
        return VerifyResult(user_id=user_id, accepted=accepted, score=score, threshold=threshold,
                            engine=engine.name, latency_ms=(time.perf_counter() - start) * 1e3,
                            reasons=reasons, distance=d, model_version=template.model_version,
                            details={"distances": [float(x) for x in dists]})

    # -- identification ----------------------------------------------------------------
    def identify(self, sample: Any, top_k: int = 5) -> Identification:
        """Which enrolled user wrote ``sample`` (a PenStream or an image): the ``top_k``
        closest users with scores in [0, 1], ``unknown`` when nobody scores above the
        validated open-set threshold (``result.user_id`` is then None)."""
        modality = "pen" if isinstance(sample, PenStream) else "image"
        embedder, threshold = self._identification(modality)
        name = entry_name(modality)
        version = self.manifest.get(name).version
        ident = self._identifiers.get(modality)
        if ident is None:
            ident = self._identifiers[modality] = Identifier.from_store(self.store, name, threshold, version)
        if len(ident) == 0:
            raise UnknownUserError(f"nobody is enrolled for {modality} identification with {name} {version}; "
                                   f"enrol users (again, if they were enrolled under another {name} version) "
                                   "while it is installed")
        return ident.identify(embedder.embed(sample), top_k)

    def _embeddings(self, user_id: str, modality: str, samples: list[Any]) -> list[Template]:
        """The identification record to keep beside the template (none without an id model)."""
        name = entry_name(modality)
        if name not in self.manifest.entries:
            return []
        embedder, _ = self._identification(modality)
        return [Template(user_id=user_id, engine=name, model_version=self.manifest.get(name).version,
                         references=tuple(embedder.embed_many(samples)), stats={})]

    def _identification(self, modality: str) -> tuple[Embedder, float]:
        if modality not in self._embedders:
            self._embedders[modality] = load_identification(modality, self.manifest)
        return self._embedders[modality]

    # -- users -----------------------------------------------------------------------
    def users(self) -> list[str]:
        return self.store.users()

    def delete(self, user_id: str) -> int:
        """Forget a user everywhere; returns the number of templates removed."""
        user_id = check_user_id(user_id)
        self.replay_guard.forget(user_id)  # before the store: a replay record still to be written goes too
        removed = self.store.delete(user_id)
        self.replay_guard.forget(user_id)  # and after: a verification that read the template before it keeps none
        self._identifiers.clear()
        if self.audit is not None:
            self.audit.record("delete", user_id, removed=removed)
        return removed


def _check_components(**values: Any) -> None:
    """InvalidInputError for a component of the wrong kind: a path given as ``store`` failed
    only at first use, with a raw AttributeError after the work was done."""
    for name, value in values.items():
        kind, how = _COMPONENTS[name]
        if value is not None and not isinstance(value, kind):
            raise InvalidInputError(f"{name} must be {how}, got {type(value).__name__}")


def _check_samples(samples: Any, kind: type, label: str) -> list[Any]:
    if isinstance(samples, (str, bytes)) or not isinstance(samples, Sequence):
        raise InvalidInputError(f"references must be a list of {label}s, got {type(samples).__name__}")
    bad = [i for i, s in enumerate(samples) if not isinstance(s, kind)]
    if bad:
        raise InvalidInputError(f"reference {bad[0]} is a {type(samples[bad[0]]).__name__}, not a {label}")
    if not MIN_REFERENCES <= len(samples) <= MAX_REFERENCES:
        raise EnrollmentError(f"enrolment needs {MIN_REFERENCES} to {MAX_REFERENCES} references, "
                              f"got {len(samples)}; ask the signer for {MIN_REFERENCES}–5 signatures")
    return list(samples)


def _check_prepared(prepared: Any, engine: Engine, template: Template) -> None:
    """InvalidInputError for a caller's ``prepared=`` that ``engine.prepare`` cannot have
    made (another type, or a shape the template's references do not share), before the
    capture is consumed: it failed inside the scoring with a raw ValueError or TypeError."""
    reference = template.references[0]
    if not isinstance(prepared, np.ndarray) or prepared.dtype.kind not in "biuf":
        raise InvalidInputError(f"prepared= must be a numeric array as {engine.name}'s prepare() returns it, "
                                f"got {type(prepared).__name__}")
    if (prepared.ndim, prepared.shape[1:]) != (reference.ndim, reference.shape[1:]):
        raise InvalidInputError(f"prepared= has shape {prepared.shape}, {template.user_id!r}'s {engine.name} "
                                f"references {reference.shape}: pass it only as {engine.name}'s prepare() "
                                "returns it (or leave it out)")


def _enrolled_elsewhere(template: Template, engine: Engine) -> bool:
    """Whether ``template`` was prepared by another model than ``engine``'s: another version,
    or the same version with other features (an entry ``edgesig tune`` installs keeps the
    version it replaces). Templates from before fingerprints were kept are judged by version.
    A template of an entry ``engine`` names ``prepared_like`` was prepared alike: it verifies,
    its statistics recomputed (``_decide``)."""
    enrolled = template.meta.get(MODEL_FINGERPRINT, engine.fingerprint)
    if enrolled in engine.prepared_like:
        return False
    return template.model_version != engine.version or enrolled != engine.fingerprint


def _prepare_reference(engine: Engine, sample: Any, index: int) -> np.ndarray:
    """``engine.prepare`` of one reference, its failure naming the reference (and file):
    "no signature found" alone does not say which of five photos to retake."""
    label = input_label(f"reference {index}", sample)
    with labelled(label):
        prepared = engine.prepare(sample)
    return _finite(prepared, engine, label)  # its message names the reference already


def _finite(prepared: np.ndarray, engine: Engine, label: str) -> np.ndarray:
    """``prepared`` if every feature is finite; otherwise the typed error, before any score
    is computed (a NaN would otherwise come back as "score nan below threshold")."""
    if np.all(np.isfinite(prepared)):
        return prepared
    error = PenStreamError if engine.modality == "pen" else ImageError
    raise error(f"{label} gives non-finite {engine.name} features (NaN or infinity): its values are far "
                "outside any device's range (coordinates scaled by a huge factor?); check the capture's units")


def check_references(dist: np.ndarray, policy: EnrollPolicy) -> tuple[list[int], list[int], list[str],
                                                                     ReferenceStats]:
    """Enrolment's consistency check on the references' distance matrix: outliers are
    dropped (kept, outliers, a reason each) and the rest's statistics returned;
    EnrollmentError when fewer than three agree or they spread beyond ``policy.max_spread``.
    """
    kept, outliers, reasons = _split_outliers(dist, policy.outlier_ratio)
    if len(kept) < MIN_REFERENCES:
        raise EnrollmentError(
            f"only {len(kept)} of {len(dist)} references agree with each other "
            f"(outliers: {', '.join(str(i) for i in outliers)}); capture the signature again "
            f"at least {MIN_REFERENCES} times")
    stats = ReferenceStats.from_matrix(dist[np.ix_(kept, kept)])
    if stats.d_mean > policy.max_spread:
        raise EnrollmentError(
            f"the references are inconsistent: their mean distance {stats.d_mean:.3g} is above "
            f"{policy.max_spread:.3g}, the most any validation writer's genuine set reached; "
            "they look like different signatures. Enrol again with signatures of one person "
            "signed the same way")
    return kept, outliers, reasons, stats


def _split_outliers(dist: np.ndarray, ratio: float) -> tuple[list[int], list[int], list[str]]:
    """Indices kept and dropped, with a reason per dropped reference."""
    kept, outliers, reasons = [], [], []
    for i, own_ratio in enumerate(outlier_ratios(dist)):
        if own_ratio > ratio:
            outliers.append(i)
            reasons.append(f"reference {i} differs from the others ({own_ratio:.1f}x their typical "
                           "distance); it was left out, capture it again if the set is short")
        else:
            kept.append(i)
    return kept, outliers, reasons


def outlier_ratios(dist: np.ndarray) -> list[float]:
    """Each reference's median distance to the others over the median distance among those
    others (0 when they coincide): enrolment drops a reference whose ratio is too high."""
    k = dist.shape[0]
    out = []
    for i in range(k):
        others = [j for j in range(k) if j != i]
        own = float(np.median(dist[i, others]))
        among = dist[np.ix_(others, others)][~np.eye(k - 1, dtype=bool)]
        base = float(np.median(among)) if among.size else own
        out.append(own / base if base > 0 else 0.0)
    return out
