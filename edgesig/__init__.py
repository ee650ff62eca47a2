"""edgesig: on-device handwritten signature verification.

>>> import edgesig
>>> v = edgesig.Verifier()                       # best validated pen engine, in-memory store
>>> report = v.enroll("alice", [p1, p2, p3, p4, p5])
>>> r = v.verify_stroke("alice", pen)            # r.accepted, r.score, r.reasons, ...
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from edgesig.adaptation import AdaptPolicy
from edgesig.audit import AuditLog, verify_log
from edgesig.capture import load_pen, save_pen
from edgesig.errors import (EdgesigError, EngineUnavailableError, EnrollmentError, FormatError,
                            ImageError, InvalidInputError, ModelError, PenStreamError, ReplayError,
                            StoreBusyError, StoreError, TemplateIntegrityError, UnknownUserError,
                            WrongKeyError)
from edgesig.pen import DeviceInfo, PenStream
from edgesig.results import EnrollmentReport, Identification, VerifyResult
from edgesig.security import ReplayGuard, fingerprint, near_duplicate, timing_anomalies
from edgesig.store import (EncryptedStore, EnvKey, KeyFile, Keyring, MemoryStore, Passphrase, Template,
                           TemplateStore)
from edgesig.verifier import Verifier

__version__ = "0.1.0"

#: Verifiers the one-shot functions keep, the least recently used dropped first: one per
#: store object for good grew by about 350 kB a request where a handler opens its store per
#: request.
MAX_CACHED_VERIFIERS = 8
_VERIFIERS: "OrderedDict[tuple[Any, str, str], Verifier]" = OrderedDict()
_VERIFIERS_LOCK = threading.Lock()


def _cached_verifier(store: TemplateStore, engine: str, image_engine: str) -> Verifier:
    """The Verifier of ``store``'s templates. An EncryptedStore is known by its file, so
    the same file opened again (per request) keeps the last Verifier's replay memory: a
    capture accepted through one store object is a replay to the next."""
    if not isinstance(store, TemplateStore):  # None gave a new empty MemoryStore: "not enrolled"
        raise InvalidInputError(f"store= must be the TemplateStore the user was enrolled in (verifier.store, or "
                                f"edgesig.EncryptedStore(path, key)), got {type(store).__name__}")
    key = (("file", store.path.resolve()) if isinstance(store, EncryptedStore) else id(store), engine, image_engine)
    with _VERIFIERS_LOCK:
        verifier = _VERIFIERS.pop(key, None)
        if verifier is None or verifier.store is not store:
            # a guard that persists writes through its own (maybe closed) store: not carried over
            guard = verifier.replay_guard if verifier is not None and verifier.replay_guard.store is None else None
            verifier = Verifier(engine, store, image_engine=image_engine, replay_guard=guard)
        _VERIFIERS[key] = verifier
        while len(_VERIFIERS) > MAX_CACHED_VERIFIERS:
            _VERIFIERS.popitem(last=False)
    return verifier


def verify_stroke(user_id: str, pen: PenStream, *, store: TemplateStore, engine: str = "auto") -> VerifyResult:
    """One-shot verification against ``store``; the Verifier behind it is built once and reused."""
    return _cached_verifier(store, engine, "auto").verify_stroke(user_id, pen)


def verify_image(user_id: str, image: object, *, store: TemplateStore, engine: str = "auto") -> VerifyResult:
    """One-shot offline verification of a paper signature against ``store``."""
    return _cached_verifier(store, "auto", engine).verify_image(user_id, image)


__all__ = [
    "Verifier", "AdaptPolicy", "PenStream", "DeviceInfo", "load_pen", "save_pen", "verify_stroke", "verify_image",
    "VerifyResult", "EnrollmentReport", "Identification", "MemoryStore", "Template", "TemplateStore",
    "EncryptedStore", "KeyFile", "Passphrase", "EnvKey", "Keyring", "AuditLog", "verify_log",
    "ReplayGuard", "fingerprint", "near_duplicate", "timing_anomalies",
    "EdgesigError", "InvalidInputError", "PenStreamError", "FormatError", "ImageError",
    "UnknownUserError", "EnrollmentError", "EngineUnavailableError", "ModelError", "StoreError",
    "StoreBusyError", "TemplateIntegrityError", "WrongKeyError", "ReplayError",
]
