"""An append-only audit log of enrolments, verifications and rejections.

A bank or a notary must be able to show, months later, who was enrolled, which
signatures were accepted and why others were refused, without the log itself becoming
a second copy of everyone's biometrics. So each line is JSON with the event, the time,
a keyed hash of the user id (never the id: an auditor with the key can compute the hash
of a given user and search for it), and a short list of allowed scalar fields. Anything
else (an array, a template, a raw pen stream) is refused with InvalidInputError, and the
raw user id is scrubbed from any string field.

Lines are chained: each carries the SHA-256 of the previous line and an HMAC over
itself, so :func:`verify_log` finds edited, inserted, removed or reordered lines.
Lines cut off the end leave a valid shorter chain, so after each append the hash of the
newest line is also written, with a MAC, to ``<log>.head`` beside it (as the store's
counter file): a log whose newest line is torn (a crash mid-append) or whose head line is
gone (the file cut short, its last writes lost) is reported by :meth:`AuditLog.entries`
(TruncatedLogError) and :func:`verify_log`, and the next append first writes a ``gap``
entry naming the last intact line, so the loss stays on record.
Several processes may append to one file: each line is one ``write`` under an
exclusive lock on the file (:mod:`edgesig.store.filelock`).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import numbers
import os
import re
import threading
import time
import unicodedata
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from edgesig.errors import InvalidInputError, StoreError, TruncatedLogError, WrongKeyError
from edgesig.store.backup import write_atomically
from edgesig.store.base import check_file_path
from edgesig.store.filelock import exclusive
from edgesig.store.keys import derive_subkey

EVENTS = frozenset({"enrol", "verify", "reject", "delete", "rotate", "update", "backup", "restore",
                    "lockout", "gap"})
#: The only fields an entry may carry, with their kinds: nothing that could hold a signature.
FIELDS: dict[str, str] = {
    "engine": "text", "model_version": "text", "decision": "text", "accepted": "flag",
    "reasons": "texts", "latency_ms": "number", "score": "number", "threshold": "number",
    "device": "text", "sequence": "count", "n_references": "count", "kept": "count",
    "removed": "count", "error": "text",
}
MAX_TEXT = 400
#: How long an append waits for another process appending to the same log.
LOCK_TIMEOUT_S = 10.0
#: Suffix of the file beside the log that records the newest line's hash.
HEAD_SUFFIX = ".head"
_GENESIS = "0" * 64


class AuditLog:
    """Append audit entries to ``path`` (JSON lines), or keep the last ``keep`` in memory.

    ``key`` (at least 16 bytes, e.g. ``EncryptedStore.audit_key``) keys the user-id hash
    and the line MACs; the same key must be given to :func:`verify_log`.
    """

    def __init__(self, path: str | os.PathLike | None, *, key: bytes, fsync: bool = False, keep: int = 1000):
        if not isinstance(key, (bytes, bytearray)) or len(key) < 16:
            raise InvalidInputError("the audit log key must be at least 16 bytes (e.g. EncryptedStore.audit_key)")
        self.path = None if path is None else Path(path)
        if self.path is not None:
            check_file_path(self.path, "audit log")
        self._user_key = derive_subkey(bytes(key), b"edgesig-audit", "audit-user")
        self._mac_key = derive_subkey(bytes(key), b"edgesig-audit", "audit-mac")
        if self.path is not None:
            self._check_key()
        self._fsync = fsync
        self._memory: deque[bytes] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def _check_key(self) -> None:
        """WrongKeyError when the log's last entry does not verify under this key: appending
        under another key left every later line unverifiable, noticed only by verify_log."""
        try:
            last, torn = _last_line(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot read audit log {self.path}: {exc.strerror}") from None
        if last is None or torn:
            return
        try:
            _, ok = _opened(last, self._mac_key)
        except (ValueError, TypeError, AttributeError, KeyError):
            return  # not an entry: verify_log reports it, appending goes on
        if not ok:
            raise WrongKeyError(f"the last entry of audit log {self.path} does not verify under this key: open it "
                                "with the key it was written with (its store's audit_key), or start a new log "
                                "file; if the key is right, the line was altered (verify_log lists the lines)")

    def user_hash(self, user_id: str) -> str:
        """The pseudonym this log uses for ``user_id`` (to search the log for one person),
        of its NFC form, as the SDK keeps user ids (check_user_id)."""
        user_id = unicodedata.normalize("NFC", user_id)
        return hmac.digest(self._user_key, user_id.encode("utf-8", "surrogatepass"), "sha256").hex()[:32]

    def record(self, event: str, user_id: str | None, **fields: Any) -> dict[str, Any]:
        """Append one entry; returns it as written. ``user_id`` is None for store-wide events."""
        if event not in EVENTS:
            raise InvalidInputError(f"unknown audit event {event!r}; use one of {', '.join(sorted(EVENTS))}")
        if user_id is not None and not isinstance(user_id, str):
            raise InvalidInputError(f"user_id must be a string or None, got {type(user_id).__name__}")
        entry: dict[str, Any] = {"time": _utc_now(), "event": event,
                                 "user": None if user_id is None else self.user_hash(user_id)}
        for name, value in fields.items():
            entry[name] = _clean_field(name, value, user_id, entry["user"])
        with self._lock:
            if self.path is None:
                line = _seal(entry, self._memory[-1] if self._memory else None, self._mac_key)
                self._memory.append(line)
            else:
                line = self._append_to_file(entry)
        return json.loads(line)

    def entries(self) -> list[dict[str, Any]]:
        """Every entry in the file (or in memory), oldest first.

        A line that does not parse (a write torn by a crash) is skipped here;
        :func:`verify_log` reports it. A log whose end is torn or cut short raises
        TruncatedLogError (its ``entries`` are the intact ones) until the next append
        records the gap: fewer entries must not pass for all of them.
        """
        with self._lock:
            if self.path is None:
                lines, gap = list(self._memory), None
            elif not self.path.exists():  # none yet, or deleted (which the head file shows)
                lines, gap = [], _tail_gap(self.path, self._mac_key)
            else:
                with exclusive(self.path, timeout=LOCK_TIMEOUT_S, what=f"audit log {self.path}", read=True):
                    lines, gap = _read_lines(self.path), _tail_gap(self.path, self._mac_key)
        entries = []
        for line in lines:
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        if gap is not None:
            raise TruncatedLogError(f"audit log {self.path}: {gap}. Restore it from a backup if you keep one; "
                                    "the next entry written records the gap, so the loss stays on record",
                                    entries=entries)
        return entries

    def _append_to_file(self, entry: dict[str, Any]) -> bytes:
        with exclusive(self.path, timeout=LOCK_TIMEOUT_S, what=f"audit log {self.path}", append=True) as fd:
            try:
                last, torn = _last_line(self.path)
                gap = _tail_gap(self.path, self._mac_key)
                out = b"\n" if torn else b""
                if gap is not None:  # on record before anything follows it
                    last = _seal({"time": _utc_now(), "event": "gap", "user": None, "decision": gap[:MAX_TEXT]},
                                 last, self._mac_key)
                    out += last + b"\n"
                line = _seal(entry, last, self._mac_key)
                os.write(fd, out + line + b"\n")
                if self._fsync:
                    os.fsync(fd)
                _write_head(self.path, line, self._mac_key, self._fsync)
                return line
            except OSError as exc:
                raise StoreError(f"cannot append to audit log {self.path}: {exc.strerror}") from None


def verify_log(path: str | os.PathLike, *, key: bytes) -> list[str]:
    """Problems found in an audit log file (empty when every line is intact and in order).
    A missing file is one: a deleted log, or a mistyped path, must not read as intact."""
    mac_key = derive_subkey(bytes(key), b"edgesig-audit", "audit-mac")
    path = Path(path)
    if not path.exists():
        return [f"{path} does not exist: the audit log was deleted or moved, or the path is wrong"]
    problems, prev = [], None
    for number, line in enumerate(_read_lines(path), start=1):
        try:
            entry, ok_mac = _opened(line, mac_key)
            ok_prev = entry.get("prev") == _line_hash(prev)
        except (ValueError, TypeError, AttributeError, KeyError):
            problems.append(f"line {number} is not a valid audit entry")
        else:
            if not ok_mac:
                problems.append(f"line {number} was modified")
            if not ok_prev:
                problems.append(f"line {number} does not follow line {number - 1} (lines removed, inserted or "
                                "reordered)")
            if entry.get("event") == "gap":
                problems.append(f"line {number} records lost entries: {entry.get('decision')}")
        prev = line
    gap = _tail_gap(path, mac_key)
    return problems + ([gap] if gap is not None else [])


def _clean_field(name: str, value: Any, user_id: str | None, pseudonym: str | None) -> Any:
    kind = FIELDS.get(name)
    if kind is None:
        raise InvalidInputError(f"audit field {name!r} is not allowed (allowed: {', '.join(sorted(FIELDS))}); "
                                "the audit log never holds biometric data")
    if value is None:
        return None
    if kind == "text" and isinstance(value, str):
        return _scrub(value, user_id, pseudonym)
    if kind == "texts" and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [_scrub(v, user_id, pseudonym) for v in value]
    if kind == "flag" and isinstance(value, (bool, np.bool_)):
        return bool(value)
    if kind == "count" and isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if kind == "number" and isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return round(float(value), 6) if math.isfinite(value) else None
    raise InvalidInputError(f"audit field {name!r} must be {_KIND_NAMES[kind]}, got {type(value).__name__}")


_KIND_NAMES = {"text": "a string", "texts": "a list of strings", "flag": "a bool",
               "count": "an integer", "number": "a number"}


def _scrub(text: str, user_id: str | None, pseudonym: str | None) -> str:
    """``text`` cut to MAX_TEXT characters, with the raw user id replaced by its pseudonym."""
    if user_id:
        text = re.sub(rf"(?<!\w){re.escape(user_id)}(?!\w)", f"user:{pseudonym}", text)
    return text[:MAX_TEXT]


def _seal(entry: dict[str, Any], previous: bytes | None, mac_key: bytes) -> bytes:
    entry = {**entry, "prev": _line_hash(previous)}
    entry["mac"] = _mac(entry, mac_key)
    return json.dumps(entry, ensure_ascii=True, separators=(",", ":")).encode()


def _opened(line: bytes, mac_key: bytes) -> tuple[dict[str, Any], bool]:
    """A line's entry (without its MAC) and whether the MAC is right; ValueError, TypeError,
    AttributeError or KeyError for a line that is not an entry."""
    entry = json.loads(line)
    mac = entry.pop("mac")
    return entry, hmac.compare_digest(mac, _mac(entry, mac_key))


def _mac(entry: dict[str, Any], mac_key: bytes) -> str:
    body = json.dumps(entry, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode()
    return hmac.digest(mac_key, body, "sha256").hex()


def _line_hash(line: bytes | None) -> str:
    return _GENESIS if line is None else hashlib.sha256(line).hexdigest()


def _last_line(path: Path) -> tuple[bytes | None, bool]:
    """The last line of the file, and whether it lacks its newline (a torn write)."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        chunk = 4096
        while True:
            start = max(0, end - chunk)
            fh.seek(start)
            data = fh.read(end - start)
            body = data[:-1] if data.endswith(b"\n") else data
            cut = body.rfind(b"\n")
            if cut >= 0 or start == 0:
                line = body[cut + 1:]
                return (line or None), bool(data) and not data.endswith(b"\n")
            chunk *= 2


def _head_path(path: Path) -> Path:
    return path.with_name(path.name + HEAD_SUFFIX)


def _head_mac(mac_key: bytes, line_hash: str) -> str:
    return hmac.digest(mac_key, b"audit-head" + line_hash.encode(), "sha256").hex()


def _write_head(path: Path, line: bytes, mac_key: bytes, sync: bool) -> None:
    """Record ``line`` as the log's newest, beside it (synced when the log is)."""
    line_hash = _line_hash(line)
    write_atomically(_head_path(path), json.dumps({"last": line_hash, "mac": _head_mac(mac_key, line_hash)}).encode(),
                     sync=sync, sync_dir=False)


def _read_head(path: Path, mac_key: bytes) -> str | None:
    """The newest line's hash the head file vouches for; None without one (a log from
    before head files) or with one that does not authenticate (another key)."""
    try:
        head = json.loads(_head_path(path).read_bytes())
        line_hash = str(head["last"])
        return line_hash if hmac.compare_digest(str(head["mac"]), _head_mac(mac_key, line_hash)) else None
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _tail_gap(path: Path, mac_key: bytes) -> str | None:
    """What is missing at the end of the log, naming its last intact line; None when its
    newest line is whole and is the head's, or follows it (a crash between the two writes)."""
    head = _read_head(path, mac_key)
    try:
        last, torn = _last_line(path)
    except FileNotFoundError:
        return None if head is None else f"it is missing, but {_head_path(path)} shows entries were written to it"
    if not torn and (head is None or (last is not None and head in (_line_hash(last), _prev_of(last)))):
        return None
    lines = _read_lines(path)
    if torn:
        return f"its last line ({len(lines)}) is torn, a crash while it was written; {_last_intact(lines[:-1])}"
    if head in map(_line_hash, lines):
        return None  # lines appended without a head (an older edgesig): nothing is missing
    return f"it was cut short, the newest entry written is gone (a crash or a full disk lost the last writes, " \
           f"or the file was truncated); {_last_intact(lines)}"


def _prev_of(line: bytes) -> str | None:
    try:
        return str(json.loads(line)["prev"])
    except (ValueError, TypeError, KeyError):
        return None


def _last_intact(lines: list[bytes]) -> str:
    """Which line is the last intact one, with its time, for a message."""
    if not lines:
        return "no intact entry is left"
    try:
        when = str(json.loads(lines[-1])["time"])
    except (ValueError, TypeError, KeyError):
        when = "time unreadable"
    return f"line {len(lines)} ({when}) is the last intact entry"


def _read_lines(path: Path) -> list[bytes]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(f"cannot read audit log {path}: {exc.strerror}") from None
    return [line for line in data.split(b"\n") if line]


def _utc_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
