"""Template records and the TemplateStore interface every store implements.

A Template is what enrolment leaves behind for one user and one engine: the prepared
reference features (arrays) and the reference statistics the decision rule needs. It
serialises to bytes without pickle, so an encrypted store can seal it as one blob.
"""
from __future__ import annotations

import contextlib
import io
import json
import time
import unicodedata
from pathlib import Path
from dataclasses import dataclass, field, replace
from typing import Any, ContextManager, Iterable, Protocol, runtime_checkable

import numpy as np

from edgesig.errors import InvalidInputError, StoreError

#: Bumped when the serialised layout of a Template changes.
TEMPLATE_FORMAT = 1
#: Longest user id (characters, in NFC).
MAX_USER_ID = 256


@dataclass(frozen=True, eq=False)
class Template:
    """One user's enrolled references for one engine.

    ``references`` holds one prepared feature array per reference signature or image;
    ``stats`` the decision rule's reference statistics; ``meta`` anything else the
    engine or the security checks keep (reference fingerprints, adaptation history).
    ``version`` increases on every write of the record, so a rolled-back copy is
    detectable by stores that authenticate it.
    """

    user_id: str
    engine: str
    model_version: str
    references: tuple[np.ndarray, ...]
    stats: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def bumped(self, **changes: Any) -> "Template":
        """A copy with ``changes`` applied and the record version incremented."""
        return replace(self, version=self.version + 1, updated_at=time.time(), **changes)

    def to_bytes(self) -> bytes:
        """Serialise without pickle: a JSON header plus an .npz of the arrays."""
        header = {
            "format": TEMPLATE_FORMAT, "user_id": self.user_id, "engine": self.engine,
            "model_version": self.model_version, "stats": self.stats, "meta": self.meta,
            "version": self.version, "created_at": self.created_at, "updated_at": self.updated_at,
            "n_references": len(self.references),
        }
        try:
            arrays = {f"r{i}": np.asarray(r) for i, r in enumerate(self.references)}
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"template references must be a sequence of arrays: {exc}") from None
        bad = [k for k, a in arrays.items() if a.dtype.kind not in "biufc"]
        if bad:
            raise InvalidInputError(f"template references must be numeric arrays; reference {bad[0][1:]} "
                                    f"has dtype {arrays[bad[0]].dtype}")
        try:
            head = json.dumps(header, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"template stats and meta must be JSON data (str, int, float, bool, "
                                    f"None, lists, dicts with str keys): {exc}") from None
        buf = io.BytesIO()
        np.savez(buf, allow_pickle=False, **arrays)
        return len(head).to_bytes(4, "big") + head + buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> "Template":
        try:
            size = int.from_bytes(blob[:4], "big")
            header = json.loads(blob[4:4 + size])
            if header.get("format") != TEMPLATE_FORMAT:
                raise StoreError(f"template format {header.get('format')} is not supported "
                                 f"by this version (expects {TEMPLATE_FORMAT})")
            with np.load(io.BytesIO(blob[4 + size:]), allow_pickle=False) as npz:
                refs = tuple(npz[f"r{i}"] for i in range(header["n_references"]))
            template = cls(user_id=header["user_id"], engine=header["engine"],
                           model_version=header["model_version"], references=refs,
                           stats=header["stats"], meta=header["meta"], version=header["version"],
                           created_at=header["created_at"], updated_at=header["updated_at"])
            if not (isinstance(template.user_id, str) and isinstance(template.engine, str)
                    and isinstance(template.model_version, str) and isinstance(template.stats, dict)
                    and isinstance(template.meta, dict) and type(template.version) is int):
                raise TypeError("header fields have the wrong types")
        except StoreError:
            raise
        except Exception as exc:  # any parse failure of stored bytes is one error kind
            raise StoreError(f"a stored template could not be decoded ({type(exc).__name__}: {exc})") from None
        return template


@runtime_checkable
class TemplateStore(Protocol):
    """Where templates live. Implementations must make ``put`` atomic.

    A store that several threads or processes write may also offer ``exclusive()``, a
    context manager during which no one else writes (see :func:`locked`).
    """

    def put(self, template: Template) -> None:
        """Insert or replace the record for (template.user_id, template.engine)."""

    def put_many(self, templates: Iterable[Template]) -> None:
        """Insert or replace several records in one atomic step (an enrolment's engine and
        identification records): after a crash, all of them are stored or none."""

    def get(self, user_id: str, engine: str) -> Template:
        """The record, or UnknownUserError when there is none."""

    def delete(self, user_id: str) -> int:
        """Remove every record of the user; returns how many were removed."""

    def users(self) -> list[str]:
        """Enrolled user ids, sorted."""

    def engines(self, user_id: str) -> list[str]:
        """Engines the user has a record for, sorted (empty when unknown)."""


def check_user_id(user_id: Any) -> str:
    """The user id in Unicode NFC, which every entry point uses from then on; InvalidInputError
    unless it is a non-empty string of printable characters, at most 256 long in NFC.

    "José" typed with a combining accent (NFD: macOS file names, some keyboards and web
    forms) and precomposed (NFC) look the same and are one user, not two enrolments of
    which each form finds only its own.
    """
    if not isinstance(user_id, str) or not user_id:
        raise InvalidInputError(f"user id must be a non-empty string, got {user_id!r:.80}")
    bad = next((c for c in user_id if not c.isprintable()), None)
    if bad is not None:
        raise InvalidInputError(f"user id {user_id!r:.80} contains the control or unprintable character "
                                f"{bad!r} (U+{ord(bad):04X}); remove it (a pasted tab or line end?)")
    user_id = unicodedata.normalize("NFC", user_id)
    if len(user_id) > MAX_USER_ID:
        raise InvalidInputError(f"user id must be at most {MAX_USER_ID} characters, got {len(user_id)}")
    return user_id


def check_name(what: str, value: Any) -> str:
    """An engine name: a non-empty printable string of at most 128 characters."""
    if not isinstance(value, str) or not value or len(value) > 128 or not value.isprintable():
        raise InvalidInputError(f"{what} must be a non-empty printable string of at most 128 characters, "
                                f"got {value!r:.80}")
    return value


def checked_template(template: Any) -> Template:
    """``template`` as a store keeps it (its user id in NFC), or InvalidInputError for a
    record no store can keep."""
    if not isinstance(template, Template):
        raise InvalidInputError(f"put() takes a Template, got {type(template).__name__}")
    user_id = check_user_id(template.user_id)
    check_name("engine", template.engine)
    if not isinstance(template.model_version, str) or len(template.model_version) > 128:
        raise InvalidInputError(f"model_version must be a string of at most 128 characters, "
                                f"got {template.model_version!r:.80}")
    if not isinstance(template.version, int) or isinstance(template.version, bool) or not 0 <= template.version < 2 ** 62:
        raise InvalidInputError(f"template version must be a non-negative integer, got {template.version!r:.40}")
    return template if user_id == template.user_id else replace(template, user_id=user_id)


def locked(store: TemplateStore) -> ContextManager[Any]:
    """``store.exclusive()``, for a read-merge-write: without it another writer's change
    that lands between the read and the write is overwritten. A store without that method
    (one of the integrator's own) gives no such guarantee, and the step runs unguarded."""
    exclusive = getattr(store, "exclusive", None)
    return exclusive() if callable(exclusive) else contextlib.nullcontext()


def iter_records(store: TemplateStore) -> Iterable[Template]:
    """Every record in a store, user by user (used by backup and migration)."""
    for user in store.users():
        for engine in store.engines(user):
            yield store.get(user, engine)


def check_file_path(path: Path, what: str) -> None:
    """InvalidInputError when ``path`` is a folder, StoreError when its folder is missing:
    mistakes to report when the file is named, not at its first write (after the template
    was stored, or the capture consumed)."""
    if path.is_dir():
        raise InvalidInputError(f"{what} path {path} is a directory; give a file name")
    if not path.parent.is_dir():
        raise StoreError(f"folder {path.parent} does not exist; create it first")
