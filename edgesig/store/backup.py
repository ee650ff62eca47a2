"""Encrypted backup files: every record of a store sealed as one AES-256-GCM message.

A backup leaves the device (USB stick, back office), so it is encrypted under its own
subkey with a fresh salt, and carries a key check so a wrong key is told apart from a
damaged file. The file is written to a temporary name and renamed, so a crash never
leaves half a backup under the real name.

Layout: ``MAGIC``, one JSON header line (format, salt, key check, passphrase KDF
parameters when any), then nonce (12 bytes) + ciphertext of the records, each
length-prefixed ``Template.to_bytes()``. The header is the associated data.
"""
from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any, Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edgesig.errors import FormatError, InvalidInputError, StoreError, TemplateIntegrityError, WrongKeyError
from edgesig.store.base import Template
from edgesig.store.keys import KDF_META, derive_subkey, resolve_key

MAGIC = b"EDGESIG-BACKUP\n"
BACKUP_FORMAT = 1
_CHECK_TEXT = b"edgesig backup key check"


def write_backup(path: str | os.PathLike, records: Iterable[Template], key: Any,
                 meta: dict[str, str] | None = None) -> int:
    """Seal ``records`` into ``path`` under ``key``; returns how many were written.

    ``meta`` carries passphrase parameters to reuse (the store's own when the backup is
    made with the store key); a passphrase without them gets a fresh salt.
    """
    meta = dict(meta or {})
    master = resolve_key(key, meta, new=True)
    salt = secrets.token_bytes(16)
    blobs = [r.to_bytes() for r in records]
    header = {"format": BACKUP_FORMAT, "created_at": time.time(), "count": len(blobs),
              "salt": base64.b64encode(salt).decode(),
              "check": _check_value(master, salt).hex()}
    if KDF_META in meta:
        header[KDF_META] = meta[KDF_META]
    head = MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n"
    payload = b"".join(len(b).to_bytes(8, "big") + b for b in blobs)
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(derive_subkey(master, salt, "backup")).encrypt(nonce, payload, head)
    _atomic_write(Path(path), head + nonce + sealed)
    return len(blobs)


def read_backup(path: str | os.PathLike, key: Any) -> list[Template]:
    """The records of a backup file; WrongKeyError or TemplateIntegrityError on failure."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read backup {path}: {exc.strerror}") from None
    head, header = _parse_header(data, path)
    meta = {KDF_META: header[KDF_META]} if KDF_META in header else {}
    master = resolve_key(key, meta)
    salt = base64.b64decode(header["salt"])
    if not hmac.compare_digest(_check_value(master, salt).hex(), str(header["check"])):
        raise WrongKeyError(f"the key given does not open backup {path}; use the key (or passphrase) "
                            "it was exported with")
    body = data[len(head):]
    try:
        payload = AESGCM(derive_subkey(master, salt, "backup")).decrypt(body[:12], body[12:], head)
    except InvalidTag:
        raise TemplateIntegrityError(f"backup {path} was modified or truncated after it was written; "
                                     "use another copy") from None
    return _split_records(payload, int(header["count"]), path)


def _parse_header(data: bytes, path: Path) -> tuple[bytes, dict[str, Any]]:
    if not data.startswith(MAGIC):
        raise FormatError(f"{path} is not an edgesig backup (bad magic)", offset=0)
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        raise FormatError(f"{path} has no backup header line", offset=len(MAGIC))
    try:
        header = json.loads(data[len(MAGIC):end])
        ok = (isinstance(header, dict) and header.get("format") == BACKUP_FORMAT
              and isinstance(header.get("count"), int) and isinstance(header.get("check"), str)
              and len(base64.b64decode(header["salt"], validate=True)) == 16)
    except (ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        raise FormatError(f"{path} has a damaged or unsupported backup header", offset=len(MAGIC))
    return data[:end + 1], header


def _split_records(payload: bytes, count: int, path: Path) -> list[Template]:
    records, pos = [], 0
    while pos < len(payload):
        size = int.from_bytes(payload[pos:pos + 8], "big")
        records.append(Template.from_bytes(payload[pos + 8:pos + 8 + size]))
        pos += 8 + size
    if len(records) != count:
        raise StoreError(f"backup {path} holds {len(records)} records, its header says {count}")
    return records


def _check_value(master: bytes, salt: bytes) -> bytes:
    return hmac.digest(derive_subkey(master, salt, "backup-check"), _CHECK_TEXT, "sha256")


def _atomic_write(path: Path, data: bytes) -> None:
    """:func:`write_atomically`, the folder synced too, with the backup's errors."""
    if path.is_dir():
        raise InvalidInputError(f"backup path {path} is a directory; give a file name")
    try:
        write_atomically(path, data, sync_dir=True)
    except OSError as exc:
        raise StoreError(f"cannot write backup {path}: {exc.strerror}") from None


def write_atomically(path: Path, data: bytes, *, sync_dir: bool, sync: bool = True) -> None:
    """Write to a sibling temp file (0600), fsync (unless ``sync`` is off), rename over
    ``path``; with ``sync_dir`` fsync the folder too, so the rename itself is durable.
    OSError, the temp file gone, on failure."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        if sync_dir and os.name == "posix":
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
