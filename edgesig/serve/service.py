"""What the web pages ask of the SDK, free of HTTP: one Verifier, one lock, one lockout.

Every request goes through the same :class:`~edgesig.verifier.Verifier`, so one replay
guard sees every capture and one audit log records every decision. Calls are
serialised by one lock: a kiosk serves one person at a time, the engines are not
meant to be entered concurrently, and the replay and lockout bookkeeping stays exact.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

from edgesig.audit import AuditLog
from edgesig.capture.pointer_events import from_recording
from edgesig.errors import EdgesigError, InvalidInputError, LockedOutError, TruncatedLogError, UnknownUserError
from edgesig.results import VerifyResult
from edgesig.serve import imaging
from edgesig.serve.config import Limits
from edgesig.serve.lockout import Lockout
from edgesig.store.base import check_user_id
from edgesig.verifier import MAX_REFERENCES, MIN_REFERENCES, Verifier

T = TypeVar("T")
#: Manifest metrics shown on the admin page: the validated error rates and their protocol.
FIGURE_SUFFIXES = ("eer", "far", "frr", "auc", "top1", "top5")
FIGURE_TEXTS = ("protocol", "selection_eer_definition", "val_eer_definition", "test_users", "val_users")
#: Audit entries the admin page shows, newest first.
AUDIT_SHOWN = 200


@dataclass
class Service:
    """The SDK behind `edgesig serve`."""

    verifier: Verifier
    audit: AuditLog
    lockout: Lockout

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @classmethod
    def create(cls, verifier: Verifier, limits: Limits = Limits(), audit: AuditLog | None = None) -> "Service":
        """A service around ``verifier``; without an audit log, one in memory under a fresh key."""
        audit = audit or verifier.audit or AuditLog(None, key=secrets.token_bytes(32))
        verifier.audit = audit
        return cls(verifier, audit, Lockout(limits.max_failures, limits.lockout_s))

    def close(self) -> None:
        """At shutdown, before the store closes: write the replay memory still queued."""
        self._serial(self.verifier.replay_guard.flush)

    def _serial(self, fn: Callable[[], T]) -> T:
        with self._lock:
            return fn()

    # -- pen ---------------------------------------------------------------------------
    def enroll_pen(self, user_id: Any, recordings: Any) -> dict[str, Any]:
        """Enrol from 3–20 pointer-event recordings; the report names the references to redo."""
        user = check_user_id(user_id)
        pens = [_pen(r, i) for i, r in enumerate(_recordings(recordings))]
        report = self._serial(lambda: self.verifier.enroll(user, pens))
        return {**report.to_dict(), "redo": list(report.outliers)}

    def verify_pen(self, user_id: Any, recording: Any) -> dict[str, Any]:
        user = check_user_id(user_id)
        pen = _pen(recording, None)
        return self._verify(user, lambda: self.verifier.verify_stroke(user, pen))

    # -- images ------------------------------------------------------------------------
    def locate(self, data_url: Any) -> dict[str, Any]:
        image = imaging.decode_data_url(data_url)
        return self._serial(lambda: imaging.locate(image)).to_dict()

    def enroll_images(self, user_id: Any, data_urls: Any) -> dict[str, Any]:
        user = check_user_id(user_id)
        images = [imaging.decode_data_url(u, f"image {i}") for i, u in enumerate(_recordings(data_urls))]
        report = self._serial(lambda: self.verifier.enroll_images(user, images))
        return {**report.to_dict(), "redo": list(report.outliers)}

    def verify_image(self, user_id: Any, data_url: Any) -> dict[str, Any]:
        """The decision and, when the engine allows, the optical-flow heatmap beside it.

        The template is read once, under the lock, and the decision is made on it; the
        heatmap (optical flow, the slow part) is drawn after the lock is released, from
        that snapshot, so other requests wait only for the decision, and an adaptation
        or a re-enrolment in between changes the store, not what the heatmap explains.
        """
        user = check_user_id(user_id)
        image = imaging.decode_data_url(data_url)
        engine = self.verifier.engine(self.verifier.image_engine_name)
        used: dict[str, Any] = {}

        def run() -> VerifyResult:
            used["query"] = engine.prepare(image)
            used["template"] = self.verifier.store.get(user, engine.name)
            return self.verifier.verify_image(user, image, prepared=used["query"], template=used["template"])
        response = self._verify(user, run)
        return {**response, "heatmap": imaging.heatmap(engine, used["template"].references, used["query"])}

    def _verify(self, user: str, run: Callable[[], VerifyResult]) -> dict[str, Any]:
        """One verification under the lockout: refused while locked, counted after."""
        def locked_run() -> VerifyResult:
            try:
                self.lockout.check(user)
            except LockedOutError as exc:
                self.audit.record("reject", user, decision="locked out", error=str(exc))
                raise
            result = run()
            if self.lockout.record(user, result.accepted):
                self.audit.record("lockout", user, decision="locked",
                                  reasons=[f"{self.lockout.max_failures} failed verifications in a row"])
            return result
        start = time.perf_counter()
        result = self._serial(locked_run)
        return {"user": user, "accepted": result.accepted, "score": result.score, "threshold": result.threshold,
                "engine": result.engine, "reasons": list(result.reasons), "latency_ms": result.latency_ms,
                "server_ms": (time.perf_counter() - start) * 1e3}

    # -- administration ----------------------------------------------------------------
    def users(self) -> list[dict[str, Any]]:
        def listing() -> list[dict[str, Any]]:
            locked = self.lockout.locked()
            store = self.verifier.store
            return [{"user": u, "engines": store.engines(u), "locked_s": round(locked.get(u, 0.0))}
                    for u in store.users()]
        return self._serial(listing)

    def delete(self, user_id: Any) -> dict[str, Any]:
        user = check_user_id(user_id)
        removed = self._serial(lambda: self.verifier.delete(user))
        if not removed:
            raise UnknownUserError(f"{user!r} is not enrolled; nothing was deleted")
        self.lockout.unlock(user)
        return {"user": user, "removed": removed}

    def unlock(self, user_id: Any) -> dict[str, Any]:
        user = check_user_id(user_id)
        was = self.lockout.unlock(user)
        self.audit.record("update", user, decision="unlocked" if was else "unlock: was not locked")
        return {"user": user, "unlocked": was}

    def audit_entries(self) -> list[dict[str, Any]]:
        """The newest audit entries: keyed user hashes and decisions, no biometric data. A log
        whose end was torn or cut off shows its intact entries under a row that says so."""
        try:
            entries = self.audit.entries()[-AUDIT_SHOWN:]
        except TruncatedLogError as exc:
            flag = {"time": "", "event": "gap", "user": None, "decision": str(exc)}
            entries = [*exc.entries[-AUDIT_SHOWN + 1:], flag]
        return [{k: v for k, v in e.items() if k not in ("mac", "prev")} for e in reversed(entries)]

    def models(self) -> list[dict[str, Any]]:
        in_use = {self.verifier.engine_name, self.verifier.image_engine_name}
        return [{"name": e.name, "version": e.version, "modality": e.modality, "in_use": e.name in in_use,
                 "figures": _figures(e.metrics)} for e in self.verifier.manifest.entries.values()]

    def info(self) -> dict[str, Any]:
        return {"pen_engine": self.verifier.engine_name, "image_engine": self.verifier.image_engine_name,
                "min_references": MIN_REFERENCES, "max_references": MAX_REFERENCES}


def _figures(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items()
            if (isinstance(v, (int, float)) and not isinstance(v, bool) and k.endswith(FIGURE_SUFFIXES))
            or k in FIGURE_TEXTS}


def _recordings(value: Any) -> Sequence[Any]:
    if not isinstance(value, list):
        raise InvalidInputError(f"expected a list of {MIN_REFERENCES} to {MAX_REFERENCES} signatures, "
                                f"got {type(value).__name__}")
    return value


def _pen(recording: Any, index: int | None):
    """A PenStream from one recording; the error names the reference it came from."""
    try:
        return from_recording(recording)
    except EdgesigError as exc:
        if index is None:
            raise
        raise type(exc)(f"reference {index}: {exc}") from None
