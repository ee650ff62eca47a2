"""EncryptedStore: templates in SQLite, each sealed with AES-256-GCM, the whole table authenticated.

Why each piece exists (the threats are a stolen or copied device, a crash mid-write, and
someone editing the database file to swap, restore or plant templates):

* Confidentiality: a record's blob is ``Template.to_bytes()`` encrypted with AES-256-GCM
  under a fresh random 96-bit nonce per write. User ids are stored only as
  HMAC-SHA256(uid-subkey, user id) (``uid_hash``); the id itself is sealed in ``uid_box``
  (and inside the blob) so ``users()`` can list ids without decrypting whole templates.
  Subkeys come from the master key by HKDF with the random ``store_id`` as salt, so one
  key used for two stores does not link their users.
* Binding: the GCM associated data is (store id, uid_hash, engine, model version, record
  version, write sequence number). A blob copied to another user's row, another engine,
  another store, or paired with another version fails authentication. The keyed hash
  stands in for the user id so a row can be authenticated before its id is known.
* Rollback of a row to an older, validly encrypted copy: GCM cannot see that, so the
  store authenticates its *current state*. Every row has a tag HMAC(state-subkey,
  uid_hash, engine, model version, version, seq, nonce); the state digest is the XOR of
  all tags, and ``meta`` keeps ``counter`` (a write counter that only increases) and
  ``state_mac`` = HMAC(state-subkey, store id, counter, digest). The digest itself is
  never stored (an attacker who saw digests could combine old rows whose tags XOR to a
  stored value); it is recomputed from the rows when the store opens, or when another
  process has written (counter changed), and kept in memory with each row's tag, so a
  ``get`` checks its row against the authenticated tag in O(1). Restoring, deleting or
  inserting any row without the key breaks the MAC: TemplateIntegrityError.
  What this cannot see is a rollback of the *whole file* to an earlier copy; callers that
  keep ``counter`` somewhere trusted (a secure element, a server) pass it back as
  ``min_counter`` to catch that too.
* Wrong key: ``meta.key_check`` is an HMAC of a constant under a subkey, so a wrong key
  gives WrongKeyError at open instead of a storm of integrity errors.
* Nothing lost: SQLite in WAL mode with ``synchronous=FULL``; every write is one
  ``BEGIN IMMEDIATE`` transaction that changes the rows and the state MAC together, so a
  killed process leaves either the old or the new state. ``busy_timeout`` lets several
  processes share the file; one connection per store object, guarded by a lock, makes
  it thread-safe. ``secure_delete`` zeroes freed pages so deleted users and old-key
  ciphertexts do not linger.
* Nothing lost between processes: a read-merge-write (a replay record gaining a
  fingerprint, a template gaining an adapted reference) runs under :meth:`EncryptedStore.exclusive`,
  an advisory lock on ``<store>.lock`` that every write of this store also takes, so
  another process's write cannot land between its read and its write and be overwritten.
* Nothing lost silently: opening never creates a store (``create=True`` does, once, in a
  temporary file linked into place, so a crash cannot leave an empty store that a later
  open would take for a new one); a missing or empty file is an error. After each
  commit the counter is also written, with a MAC, to ``<store>.counter`` beside the
  database: SQLite drops the transactions of a deleted or damaged WAL without a word,
  and the database alone would then look like a valid older state. The counter file
  ahead of the database means committed writes were lost: TemplateIntegrityError
  (``accept_lost_writes=True`` opens the store as it is, after a decision).
* Upgrades: ``meta.schema_version`` and ``MIGRATIONS`` (from-version -> function) run in
  the opening transaction, so a store made by this version opens under the next.
"""
from __future__ import annotations

import hmac
import json
import logging
import numbers
import os
import secrets
import sqlite3
import threading
import time
import unicodedata
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edgesig.errors import (InvalidInputError, StoreBusyError, StoreError, TemplateIntegrityError,
                            UnknownUserError, WrongKeyError)
from edgesig.store.backup import read_backup, write_atomically, write_backup
from edgesig.store.base import Template, check_file_path, check_name, check_user_id, checked_template
from edgesig.store.filelock import exclusive
from edgesig.store.keys import KDF_META, derive_subkey, resolve_key

STORE_FORMAT = "edgesig-encrypted-store"
#: Suffix of the file beside the database that records the last committed write counter.
COUNTER_SUFFIX = ".counter"
#: Suffix of the lock file beside the database that makes read-merge-writes exclusive.
LOCK_SUFFIX = ".lock"
#: meta entry present once the store keeps a counter file.
COUNTER_META = "counter_file"
#: meta entry holding the audit log key sealed under the store key, once the key was rotated.
AUDIT_META = "audit_key_box"
#: meta entry present once every stored user id is in NFC (see check_user_id).
NFC_META = "user_ids_nfc"
#: Suffix of the backup beside the database that keeps the records NFC re-keying replaced.
NFC_DUPLICATES_SUFFIX = ".nfc-duplicates.backup"
SCHEMA_VERSION = 2
DEFAULT_TIMEOUT_S = 10.0
_CHECK_TEXT = b"edgesig store key check"

_RECORDS_TABLE = """CREATE TABLE records (
    uid_hash BLOB NOT NULL, engine TEXT NOT NULL, model_version TEXT NOT NULL,
    version INTEGER NOT NULL, seq INTEGER NOT NULL, nonce BLOB NOT NULL, blob BLOB NOT NULL,
    uid_box BLOB NOT NULL, PRIMARY KEY (uid_hash, engine))"""
_UPSERT = """INSERT INTO records (uid_hash, engine, model_version, version, seq, nonce, blob, uid_box)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uid_hash, engine) DO UPDATE SET
    model_version = excluded.model_version, version = excluded.version, seq = excluded.seq,
    nonce = excluded.nonce, blob = excluded.blob, uid_box = excluded.uid_box"""
_ROW_COLUMNS = "uid_hash, engine, model_version, version, seq, nonce"
#: Records that failed authentication while user ids were re-keyed, kept byte for byte
#: (``records``' columns after the owner's NFC uid hash and the reason); outside the
#: authenticated state, so a row here only ever turns "not enrolled" into an integrity error.
_SET_ASIDE_TABLE = """CREATE TABLE IF NOT EXISTS set_aside (
    owner_hash BLOB NOT NULL, reason TEXT NOT NULL, uid_hash BLOB, engine TEXT, model_version TEXT,
    version INTEGER, seq INTEGER, nonce BLOB, blob BLOB, uid_box BLOB)"""

log = logging.getLogger("edgesig.store")


@dataclass(frozen=True)
class _Keys:
    """The per-purpose subkeys of one master key for one store."""

    master: bytes
    store_id: bytes
    aead: AESGCM
    uid: bytes
    state: bytes

    @classmethod
    def derive(cls, master: bytes, store_id: bytes) -> "_Keys":
        return cls(master, store_id, AESGCM(derive_subkey(master, store_id, "store-aead")),
                   derive_subkey(master, store_id, "store-uid"), derive_subkey(master, store_id, "store-state"))

    def check_value(self) -> str:
        return hmac.digest(derive_subkey(self.master, self.store_id, "store-check"),
                           _CHECK_TEXT, "sha256").hex()

    def uid_hash(self, user_id: str) -> bytes:
        return hmac.digest(self.uid, user_id.encode("utf-8"), "sha256")

    def state_mac(self, counter: int, digest: int) -> str:
        msg = b"state" + self.store_id + counter.to_bytes(8, "big") + digest.to_bytes(32, "big")
        return hmac.digest(self.state, msg, "sha256").hex()

    def seal_uid(self, user_id: str, uid_hash: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self.aead.encrypt(nonce, user_id.encode("utf-8"), b"uid" + self.store_id + uid_hash)

    def seal_audit(self, audit_key: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self.aead.encrypt(nonce, audit_key, b"audit" + self.store_id)

    def open_audit(self, box_hex: Any) -> bytes:
        try:
            box = bytes.fromhex(str(box_hex))
            return self.aead.decrypt(box[:12], box[12:], b"audit" + self.store_id)
        except (InvalidTag, ValueError):
            raise TemplateIntegrityError("the store's sealed audit log key failed authentication: the store "
                                         "file was altered; restore it from a backup") from None

    def open_uid(self, box: bytes, uid_hash: bytes) -> str:
        try:
            user_id = self.aead.decrypt(box[:12], box[12:], b"uid" + self.store_id + uid_hash).decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise TemplateIntegrityError("a stored user id failed authentication: the store file was "
                                         "altered; restore it from a backup") from None
        if not hmac.compare_digest(self.uid_hash(user_id), uid_hash):
            raise TemplateIntegrityError("a stored user id does not match its row; the store was altered")
        return user_id


@dataclass(frozen=True)
class _Row:
    """The clear columns of a record: what its tag and associated data bind."""

    uid_hash: bytes
    engine: str
    model_version: str
    version: int
    seq: int
    nonce: bytes

    @classmethod
    def from_db(cls, values: tuple[Any, ...]) -> "_Row":
        types = (bytes, str, str, int, int, bytes)
        if len(values) != 6 or not all(isinstance(v, t) for v, t in zip(values, types)):
            raise TemplateIntegrityError("a record has columns of the wrong type; the store file was "
                                         "altered outside edgesig")
        return cls(*values)

    def associated_data(self, store_id: bytes) -> bytes:
        return json.dumps([store_id.hex(), self.uid_hash.hex(), self.engine, self.model_version,
                           self.version, self.seq], separators=(",", ":")).encode()

    def tag(self, keys: _Keys) -> bytes:
        return hmac.digest(keys.state, b"row" + self.associated_data(keys.store_id) + self.nonce, "sha256")


@dataclass(frozen=True)
class _State:
    """The authenticated view of the table: each row's tag and version, the counter."""

    tags: dict[tuple[bytes, str], tuple[bytes, int]]
    counter: int
    digest: int
    mac: str


class EncryptedStore:
    """A TemplateStore in one SQLite file; templates are encrypted and authenticated.

    ``key`` is 32 raw bytes or a key source from :mod:`edgesig.store.keys` (KeyFile,
    Passphrase, EnvKey, Keyring). ``timeout`` is how long a write waits for another
    process holding the file. ``create=True`` makes a new store when ``path`` does not
    exist (first run); without it a missing file is an error, so a mistyped path never
    becomes an empty store. ``min_counter`` refuses a store whose write counter is below
    a value kept elsewhere (whole-file rollback); ``accept_lost_writes`` opens a store
    whose counter file says committed writes are missing (see the module docstring).
    Each ``put`` stores the record with a version above the one it replaces, whatever
    ``template.version`` says.

    ``get`` keeps the last ``cache_size`` decoded templates: when a row's tag and
    ciphertext are byte-for-byte the ones already authenticated, the cached template is
    returned without decrypting and parsing again (as with MemoryStore, callers share
    the returned object and must not modify its arrays).
    """

    def __init__(self, path: str | os.PathLike, key: Any, *, create: bool = False,
                 timeout: float = DEFAULT_TIMEOUT_S, min_counter: int = 0, accept_lost_writes: bool = False,
                 cache_size: int = 256):
        _check_options(timeout=timeout, min_counter=min_counter, cache_size=cache_size)
        self.path = Path(path)
        self._counter_file = self.path.with_name(self.path.name + COUNTER_SUFFIX)
        self._lock_file = self.path.with_name(self.path.name + LOCK_SUFFIX)
        self._timeout = timeout
        self._lock = threading.RLock()
        self._exclusive = threading.RLock()  # taken before _lock, never after it
        self._exclusive_depth = 0
        self._state: _State | None = None
        self._conn: sqlite3.Connection | None = None
        self._cache: OrderedDict[tuple[bytes, str], tuple[bytes, bytes, Template]] = OrderedDict()
        self._cache_size = cache_size
        if _check_file(self.path, self._counter_file, create):
            _create(self.path, self._counter_file, key, timeout)
        self._conn = _connect(self.path, timeout)
        self._pid = os.getpid()  # the connection's process: it must not be used across a fork
        try:
            with self._txn("IMMEDIATE") as conn:
                meta = _read_meta(conn)
                if meta is None:
                    raise StoreError(f"{self.path} is an SQLite file but not an edgesig store")
                self._keys = self._open_existing(conn, meta, key)
                self._audit = self._audit_key(conn)
                self._sync(conn)
                legacy = COUNTER_META not in meta  # a store from before counter files: start one
                if legacy:
                    _set_meta(conn, {COUNTER_META: "1"})
                # under the write lock: no commit lands between reading the two counters
                self._check_counter_file(accept_lost_writes or legacy)
                renames = {} if meta.get(NFC_META) else self._unnormalised_users(conn)
                if not renames:
                    _set_meta(conn, {NFC_META: "1"})
            if renames:
                self._write(self._normalise_user_ids)
        except BaseException:
            self.close()
            raise
        if self._state.counter < min_counter:
            counter = self._state.counter
            self.close()
            raise TemplateIntegrityError(f"store {self.path} is at write {counter}, older than the "
                                         f"{min_counter} recorded elsewhere: the file was rolled back")

    # -- TemplateStore ---------------------------------------------------------------
    def put(self, template: Template) -> None:
        """Insert or replace the record for (user, engine) atomically."""
        self.put_many([template])

    def put_many(self, templates: Iterable[Template]) -> None:
        """Insert or replace several records in one transaction: all of them or none."""
        templates = [checked_template(t) for t in templates]
        self._write(lambda conn, state: self._write_records(conn, templates, self._keys, state))

    def get(self, user_id: str, engine: str) -> Template:
        user_id = check_user_id(user_id)
        check_name("engine", engine)
        with self._txn() as conn:
            self._sync(conn)
            uid_hash = self._keys.uid_hash(user_id)
            template = self._read_record(conn, uid_hash, engine)
            if template is None and _was_set_aside(conn, uid_hash, engine):
                raise TemplateIntegrityError(
                    f"{user_id!r}'s {engine!r} record failed authentication when the store re-keyed its user "
                    "ids and was set aside (kept in the store's set_aside table): restore it from a backup "
                    "(import_backup) or enrol the user again")
        if template is None:
            raise UnknownUserError.not_enrolled(user_id, engine)
        if template.user_id != user_id:
            raise TemplateIntegrityError("a record decrypted to another user's template; the store was altered")
        return template

    def delete(self, user_id: str) -> int:
        """Remove every record of the user (freed pages are zeroed); returns how many."""
        user_id = check_user_id(user_id)
        uid_hash = self._keys.uid_hash(user_id)

        def delete(conn: sqlite3.Connection, state: _State) -> tuple[_State, int]:
            new_state, removed = self._delete_rows(conn, uid_hash, state)
            return new_state, removed + _delete_set_aside(conn, uid_hash)

        removed = self._write(delete)
        self._checkpoint()
        return removed

    def users(self) -> list[str]:
        with self._txn() as conn:
            self._sync(conn)
            rows = conn.execute("SELECT uid_hash, engine, uid_box FROM records").fetchall()
            tags = self._state.tags
        names = set()
        for uid_hash, engine, box in rows:
            if (uid_hash, engine) not in tags or not isinstance(box, bytes):
                raise TemplateIntegrityError("the store holds a record edgesig did not write; restore it "
                                             "from a backup")
            names.add(self._keys.open_uid(box, uid_hash))
        return sorted(names)

    def engines(self, user_id: str) -> list[str]:
        user_id = check_user_id(user_id)
        with self._txn() as conn:
            self._sync(conn)
            uid_hash = self._keys.uid_hash(user_id)
            return sorted(e for h, e in self._state.tags if h == uid_hash)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the store for a read-merge-write: no other thread, and no other process
        using this store file, writes until the block ends (each write takes it too). The
        work inside should be short: other writers (threads of this store object first,
        then processes and other store objects on the file) wait for it up to the store's
        ``timeout`` each, then get StoreBusyError. Nested use in one thread is free; reads
        never wait."""
        if not self._exclusive.acquire(timeout=self._timeout if self._timeout < threading.TIMEOUT_MAX else -1):
            raise StoreBusyError(
                f"store {self.path} is busy: another thread of this process has held it for over "
                f"{self._timeout:g} s (a write, or a read-merge-write in store.exclusive()). Retry, or open the "
                "store with a longer timeout=; a thread that hangs inside store.exclusive() holds up every writer",
                path=self._lock_file)
        try:
            if self._exclusive_depth:
                yield
                return
            with exclusive(self._lock_file, timeout=self._timeout, what=f"store {self.path}"):
                self._exclusive_depth += 1
                try:
                    yield
                finally:
                    self._exclusive_depth -= 1
        finally:
            self._exclusive.release()

    # -- key management and backups --------------------------------------------------
    def rotate_key(self, new_key: Any) -> None:
        """Re-encrypt every record under ``new_key`` in one transaction."""
        new_meta: dict[str, str] = {}
        keys = _Keys.derive(resolve_key(new_key, new_meta, new=True), self._keys.store_id)

        def rotate(conn: sqlite3.Connection, state: _State) -> tuple[_State, None]:
            records = [self._read_record(conn, h, e) for h, e in sorted(state.tags)]
            conn.execute("DELETE FROM records")
            empty = _State({}, state.counter, 0, "")
            new_state, _ = self._write_records(conn, records, keys, empty, keep_versions=True)
            conn.execute("DELETE FROM meta WHERE key = ?", (KDF_META,))
            # the audit log beside the store keeps its key: lines before and after verify together
            _set_meta(conn, {**new_meta, "key_check": keys.check_value(),
                             AUDIT_META: keys.seal_audit(self._audit_key(conn)).hex()})
            return new_state, None

        self._write(rotate, keys=keys)
        self._checkpoint()

    def export_backup(self, path: str | os.PathLike, key: Any = None) -> int:
        """Write every record to an encrypted backup file; ``key`` defaults to the store's."""
        with self._txn() as conn:
            self._sync(conn)
            records = [self._read_record(conn, h, e) for h, e in sorted(self._state.tags)]
            meta = _read_meta(conn)
        if key is None:  # same key and passphrase parameters as the store
            return write_backup(path, records, self._keys.master, _kdf_of(meta))
        return write_backup(path, records, key)

    def import_backup(self, path: str | os.PathLike, key: Any = None) -> int:
        """Restore every record of a backup (replacing the same user+engine); returns how many."""
        records = read_backup(path, self._keys.master if key is None else key)
        self.put_many(records)
        return len(records)

    @property
    def counter(self) -> int:
        """The authenticated write counter: increases with every committed change."""
        with self._lock:
            if self._state is None:
                raise StoreError(f"store {self.path} is closed")
            return self._state.counter

    @property
    def audit_key(self) -> bytes:
        """A key for :class:`edgesig.audit.AuditLog`, so its user hashes need no extra secret.
        It survives rotate_key (sealed in the store under the new key): derived from the
        master key as it was, it changed with it, and the log's older lines no longer verified.
        Read when the store opens (a rotation keeps it), so a closed store still gives it."""
        return self._audit

    def _audit_key(self, conn: sqlite3.Connection) -> bytes:
        box = conn.execute("SELECT value FROM meta WHERE key = ?", (AUDIT_META,)).fetchone()
        if box is None:  # never rotated: the subkey of the key the store was made with
            return derive_subkey(self._keys.master, self._keys.store_id, "audit")
        return self._keys.open_audit(box[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self._state = None
            self._cache.clear()

    def __enter__(self) -> "EncryptedStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EncryptedStore({str(self.path)!r})"

    # -- opening ---------------------------------------------------------------------
    def _open_existing(self, conn: sqlite3.Connection, meta: dict[str, str], key: Any) -> _Keys:
        if meta.get("format") != STORE_FORMAT:
            raise StoreError(f"{self.path} is an SQLite file but not an edgesig store")
        try:
            version = int(meta["schema_version"])
            store_id = bytes.fromhex(meta["store_id"])
            damaged = version < 1 or len(store_id) != 16
        except (KeyError, ValueError, TypeError):
            damaged = True
        if damaged:
            raise TemplateIntegrityError(f"{self.path} has damaged store metadata (schema version or store "
                                         "id); restore it from a backup")
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer edgesig (schema {version}, this version "
                             f"reads up to {SCHEMA_VERSION}); upgrade edgesig")
        keys = _Keys.derive(resolve_key(key, dict(meta)), store_id)
        if not hmac.compare_digest(keys.check_value(), meta.get("key_check", "")):
            raise WrongKeyError(f"the key given does not open {self.path}; use the key (or passphrase) "
                                "the store was created or last rotated with")
        for step in range(version, SCHEMA_VERSION):
            MIGRATIONS[step](conn, keys)
            _set_meta(conn, {"schema_version": str(step + 1)})
        return keys

    def _check_counter_file(self, accept_lost_writes: bool) -> None:
        """Compare the counter recorded beside the database with the database's own."""
        recorded = _read_counter(self._counter_file, self._keys)
        counter = self._state.counter
        if recorded is not None and recorded <= counter:
            return
        if not accept_lost_writes:
            if recorded is None and counter > 0:
                raise _lost_writes_error(
                    f"{self._counter_file}, which records the last committed write, is missing or damaged, so "
                    f"the store cannot tell whether writes were lost. Restore it with the store, or {{open}} "
                    "to continue with the store as it is")
            if recorded is not None:
                raise _lost_writes_error(
                    f"{self.path} is at write counter {counter} but {recorded} was committed: committed "
                    "writes are missing (the -wal file was deleted or damaged, or the database was "
                    "replaced by an older copy). Restore the store from a "
                    "backup, or {open} to continue without them")
        _write_counter(self._counter_file, self._keys, counter, force=True)

    # -- transactions and state ------------------------------------------------------
    @contextmanager
    def _txn(self, mode: str = "") -> Iterator[sqlite3.Connection]:
        """One SQLite transaction (``IMMEDIATE`` takes the write lock at once)."""
        with self._lock, _sqlite_errors(self.path):
            if self._conn is None:
                raise StoreError(f"store {self.path} is closed")
            if os.getpid() != self._pid:
                raise StoreError(f"store {self.path} was opened before this process was forked, and an SQLite "
                                 "connection must not cross a fork: open the store again in this process "
                                 "(in each worker once it has started)")
            conn = self._conn
            conn.execute(f"BEGIN {mode}")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _write(self, change: Callable[[sqlite3.Connection, _State], tuple[_State, Any]],
               keys: _Keys | None = None) -> Any:
        """Apply ``change`` and the new state MAC in one transaction; memory follows on commit.

        ``keys`` are the keys the new state is written under (a rotation's new ones).
        """
        with self.exclusive(), self._lock:
            keys = keys or self._keys
            with self._txn("IMMEDIATE") as conn:
                self._sync(conn)
                new_state, result = change(conn, self._state)
                new_state = replace(new_state, counter=new_state.counter + 1,
                                    mac=keys.state_mac(new_state.counter + 1, new_state.digest))
                _set_meta(conn, {"counter": str(new_state.counter), "state_mac": new_state.mac})
            self._state, self._keys = new_state, keys
            _write_counter(self._counter_file, keys, new_state.counter)
            return result

    def _sync(self, conn: sqlite3.Connection) -> None:
        """Make the in-memory state match the file, verifying it when another writer changed it."""
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('counter', 'state_mac')"))
            counter, mac = int(meta["counter"]), str(meta["state_mac"])
        except (KeyError, ValueError, TypeError):
            raise TemplateIntegrityError(f"the state record of {self.path} is missing or damaged") from None
        if self._state is not None and counter == self._state.counter and mac == self._state.mac:
            return
        check = conn.execute("SELECT value FROM meta WHERE key = 'key_check'").fetchone()
        if check is None or not hmac.compare_digest(str(check[0]), self._keys.check_value()):
            raise WrongKeyError(f"the key of {self.path} was changed (rotated by another process?); "
                                "reopen the store with the new key")
        if self._state is not None and counter < self._state.counter:
            raise TemplateIntegrityError(f"the write counter of {self.path} went backwards: the file was "
                                         "replaced by an older copy")
        tags: dict[tuple[bytes, str], tuple[bytes, int]] = {}
        digest = 0
        for values in conn.execute(f"SELECT {_ROW_COLUMNS} FROM records"):
            row = _Row.from_db(tuple(values))
            tag = row.tag(self._keys)
            tags[(row.uid_hash, row.engine)] = (tag, row.version)
            digest ^= int.from_bytes(tag, "big")
        if not hmac.compare_digest(self._keys.state_mac(counter, digest), mac):
            raise TemplateIntegrityError(f"the records of {self.path} do not match its authenticated state: "
                                         "a record was rolled back, deleted or inserted outside edgesig. "
                                         "Restore the store from a backup (import_backup)")
        self._state = _State(tags, counter, digest, mac)

    # -- user ids from before NFC ------------------------------------------------------
    def _unnormalised_users(self, conn: sqlite3.Connection) -> dict[bytes, str | None]:
        """The uid hashes of stored ids that are not in NFC (written before check_user_id
        normalised), each with its NFC form; None for an id that fails authentication,
        which cannot be told apart (its record is left in place, see _normalise_user_ids)."""
        renames: dict[bytes, str | None] = {}
        for h, box in conn.execute("SELECT uid_hash, uid_box FROM records"):
            try:
                uid = self._keys.open_uid(box, h)
            except TemplateIntegrityError:
                renames[h] = None
                continue
            if (nfc := unicodedata.normalize("NFC", uid)) != uid:
                renames[h] = nfc
        return renames

    def _normalise_user_ids(self, conn: sqlite3.Connection, state: _State) -> tuple[_State, None]:
        """Re-key every record of a non-NFC user id under its NFC form, so the users of a
        store written before ids were normalised are found again. Where both forms were
        enrolled (one person, two enrolments), each engine keeps the later-updated record;
        the others are sealed, under the store's key, in ``<store>.nfc-duplicates.backup``
        (``import_backup`` puts one back), so neither enrolment is lost. A record that fails
        authentication is set aside (``_sound_records``) rather than stopping the store from
        opening for every user; one whose user id fails is left where it is; both are logged."""
        chosen: dict[tuple[str, str], Template] = {}
        replaced: list[Template] = []
        for old_hash, user_id in self._unnormalised_users(conn).items():
            if user_id is None:
                log.warning("%s: a record whose user id fails authentication was left in place while user ids "
                            "were re-keyed (its user may not be found); restore the store from a backup", self.path)
                continue
            new_hash = self._keys.uid_hash(user_id)
            for h, engine in sorted(state.tags):
                if h != old_hash:
                    continue
                keys = [(h, engine)]
                if (user_id, engine) not in chosen and (new_hash, engine) in state.tags:
                    keys.append((new_hash, engine))
                state, candidates = self._sound_records(conn, keys, user_id, state)
                if (user_id, engine) in chosen:  # another form's record, or the NFC one, weighed already
                    candidates.append(chosen[(user_id, engine)])
                if candidates:
                    chosen[(user_id, engine)] = max(candidates, key=lambda t: t.updated_at)
                    replaced += [c for c in candidates if c is not chosen[(user_id, engine)]]
            state, _ = self._delete_rows(conn, old_hash, state)
        if replaced:  # before the transaction commits: a failed write leaves the store as it was
            write_backup(self.path.with_name(self.path.name + NFC_DUPLICATES_SUFFIX), replaced, self._keys.master,
                         _kdf_of(_read_meta(conn)))
        state, _ = self._write_records(conn, [replace(t, user_id=u) for (u, _), t in chosen.items()], self._keys,
                                       state)
        _set_meta(conn, {NFC_META: "1"})
        return state, None

    def _sound_records(self, conn: sqlite3.Connection, keys: list[tuple[bytes, str]], user_id: str,
                       state: _State) -> tuple[_State, list[Template]]:
        """The records at ``keys`` that authenticate; each other one is moved, byte for byte,
        to the set_aside table under ``user_id`` (whose ``get`` then names it) and logged."""
        sound = []
        for uid_hash, engine in keys:
            try:
                sound.append(self._read_record(conn, uid_hash, engine))
            except TemplateIntegrityError as exc:
                conn.execute(_SET_ASIDE_TABLE)
                conn.execute("INSERT INTO set_aside SELECT ?, ?, * FROM records WHERE uid_hash = ? AND engine = ?",
                             (self._keys.uid_hash(user_id), str(exc), uid_hash, engine))
                state, _ = self._delete_rows(conn, uid_hash, state, engine)
                log.warning("%s: %r's %r record failed authentication while user ids were re-keyed and was set "
                            "aside (table set_aside); the other users are served. Restore it from a backup or "
                            "enrol the user again", self.path, user_id, engine)
        return state, sound

    # -- records ---------------------------------------------------------------------
    def _read_record(self, conn: sqlite3.Connection, uid_hash: bytes, engine: str) -> Template | None:
        found = conn.execute(f"SELECT {_ROW_COLUMNS}, blob FROM records WHERE uid_hash = ? AND engine = ?",
                             (uid_hash, engine)).fetchone()
        expected = self._state.tags.get((uid_hash, engine))
        if found is None:
            if expected is not None:
                raise TemplateIntegrityError(f"a {engine!r} record was removed outside edgesig; restore "
                                             "the store from a backup")
            return None
        row, blob = _Row.from_db(tuple(found[:6])), found[6]
        if expected is None or not hmac.compare_digest(row.tag(self._keys), expected[0]):
            raise TemplateIntegrityError(f"a {engine!r} record is not the one edgesig last wrote (rolled "
                                         "back or replaced); restore the store from a backup")
        cached = self._cache.get((uid_hash, engine))
        if cached is not None and cached[0] == expected[0] and cached[1] == blob:  # the bytes already verified
            self._cache.move_to_end((uid_hash, engine))
            return cached[2]
        try:
            plain = self._keys.aead.decrypt(row.nonce, blob, row.associated_data(self._keys.store_id))
        except (InvalidTag, TypeError, ValueError):
            raise TemplateIntegrityError(f"a {engine!r} record failed authentication: its bytes were changed "
                                         "or it was moved from another user; restore it from a backup") from None
        template = Template.from_bytes(plain)
        if (template.engine, template.model_version, template.version) != (row.engine, row.model_version,
                                                                           row.version):
            raise TemplateIntegrityError("a record's contents do not match its row; the store was altered")
        if self._cache_size > 0:
            self._cache[(uid_hash, engine)] = (expected[0], blob, template)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return template

    def _write_records(self, conn: sqlite3.Connection, records: Iterable[Template], keys: _Keys,
                       state: _State, keep_versions: bool = False) -> tuple[_State, None]:
        tags, counter, digest = dict(state.tags), state.counter, state.digest
        for template in records:
            uid_hash = keys.uid_hash(template.user_id)
            old = tags.get((uid_hash, template.engine))
            version = max(template.version, 1)
            if old is not None and not keep_versions:
                version = max(version, old[1] + 1)
                digest ^= int.from_bytes(old[0], "big")
            counter += 1
            row = _Row(uid_hash, template.engine, template.model_version, version, counter, secrets.token_bytes(12))
            plain = replace(template, version=version).to_bytes()
            blob = keys.aead.encrypt(row.nonce, plain, row.associated_data(keys.store_id))
            conn.execute(_UPSERT, (uid_hash, row.engine, row.model_version, version, counter, row.nonce, blob,
                                   keys.seal_uid(template.user_id, uid_hash)))
            tag = row.tag(keys)
            tags[(uid_hash, row.engine)] = (tag, version)
            digest ^= int.from_bytes(tag, "big")
        return _State(tags, counter, digest, ""), None

    def _delete_rows(self, conn: sqlite3.Connection, uid_hash: bytes, state: _State,
                     engine: str | None = None) -> tuple[_State, int]:
        """Remove the user's records (of one ``engine``, when given) and their tags from the state."""
        doomed = [k for k in state.tags if k[0] == uid_hash and engine in (None, k[1])]
        if engine is None:
            removed = conn.execute("DELETE FROM records WHERE uid_hash = ?", (uid_hash,)).rowcount
        else:
            removed = conn.execute("DELETE FROM records WHERE uid_hash = ? AND engine = ?", (uid_hash, engine)).rowcount
        if removed != len(doomed):
            raise TemplateIntegrityError("the store held records of this user that edgesig did not write; "
                                         "nothing was deleted. Restore the store from a backup")
        tags = {k: v for k, v in state.tags.items() if k not in doomed}
        digest = state.digest
        for k in doomed:
            digest ^= int.from_bytes(state.tags[k][0], "big")
        return _State(tags, state.counter, digest, ""), removed

    def _checkpoint(self) -> None:
        """Fold the WAL into the main file and truncate it, so old pages leave the disk (best effort)."""
        with self._lock, _sqlite_errors(self.path):
            if self._conn is not None:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _migrate_1_to_2(conn: sqlite3.Connection, keys: _Keys) -> None:
    """Schema 1 kept user ids only inside the template blobs, so listing users meant
    decrypting every template. Schema 2 adds the sealed ``uid_box`` column."""
    rows = conn.execute(f"SELECT {_ROW_COLUMNS}, blob FROM records").fetchall()
    conn.execute("ALTER TABLE records RENAME TO records_v1")
    conn.execute(_RECORDS_TABLE)
    for values in rows:
        row = _Row.from_db(tuple(values[:6]))
        try:
            plain = keys.aead.decrypt(row.nonce, values[6], row.associated_data(keys.store_id))
        except (InvalidTag, TypeError, ValueError):
            raise TemplateIntegrityError("a record failed authentication while upgrading the store; "
                                         "restore it from a backup") from None
        user_id = Template.from_bytes(plain).user_id
        conn.execute(_UPSERT, (*values, keys.seal_uid(user_id, row.uid_hash)))
    conn.execute("DROP TABLE records_v1")


#: Schema upgrades, keyed by the version they start from; run in order when opening.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection, _Keys], None]] = {1: _migrate_1_to_2}


def _lost_writes_error(message: str) -> TemplateIntegrityError:
    """The error for a store whose counter file says writes may be lost; ``{open}`` in
    ``message`` is the way to open it anyway, for code and for the `edgesig` command."""
    return TemplateIntegrityError(message.format(open="open with accept_lost_writes=True"),
                                  cli_message=message.format(open="rerun with --accept-lost-writes"))


def _was_set_aside(conn: sqlite3.Connection, owner_hash: bytes, engine: str) -> bool:
    """Whether the user's record for ``engine`` failed authentication and was set aside."""
    return _has_table(conn, "set_aside") and conn.execute(
        "SELECT 1 FROM set_aside WHERE owner_hash = ? AND engine = ?", (owner_hash, engine)).fetchone() is not None


def _delete_set_aside(conn: sqlite3.Connection, owner_hash: bytes) -> int:
    """Forget what was set aside of a deleted user; returns how many records."""
    if not _has_table(conn, "set_aside"):
        return 0
    return conn.execute("DELETE FROM set_aside WHERE owner_hash = ?", (owner_hash,)).rowcount


def _kdf_of(meta: dict[str, str]) -> dict[str, str]:
    """The store's passphrase parameters, for a backup sealed with the store's own key."""
    return {KDF_META: meta[KDF_META]} if KDF_META in meta else {}


def _check_options(*, timeout: Any, min_counter: Any, cache_size: Any) -> None:
    """InvalidInputError for an option of the wrong kind, before anything is opened: a
    timeout or counter given as text failed with a raw TypeError from SQLite or a comparison."""
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout >= 0:
        raise InvalidInputError(f"timeout must be a number of seconds >= 0, got {timeout!r:.40}")
    for name, value in (("min_counter", min_counter), ("cache_size", cache_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise InvalidInputError(f"{name} must be a whole number >= 0, got {value!r:.40}")


def _check_file(path: Path, counter_file: Path, create: bool) -> bool:
    """Whether a new store must be made at ``path``; StoreError where opening it would
    hide a mistake (a mistyped path) or a loss (a deleted or emptied store)."""
    check_file_path(path, "store")
    if path.exists():
        if path.stat().st_size == 0:
            raise StoreError(f"store {path} is empty (0 bytes): its enrolments are gone. Restore it from a "
                             "backup; delete the file and create the store again only if it never held any")
        return False
    if counter_file.exists():
        raise StoreError(f"store {path} is missing but {counter_file} shows a store was there: restore it "
                         f"from a backup, or delete {counter_file.name} to start a new store deliberately")
    if not create:
        raise StoreError(f"store {path} does not exist; check the path, or pass create=True "
                         "(edgesig enroll --create) to make a new store")
    return True


def _create(path: Path, counter_file: Path, key: Any, timeout: float) -> None:
    """Make a new store in a temporary file and link it into place, so ``path`` appears
    complete or not at all (another process that got there first wins)."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
    try:  # owner-only before SQLite creates it with the umask; -wal/-shm inherit the mode
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise StoreError(f"cannot create store {path}: {exc.strerror}") from None
    try:
        conn = _connect(temp, timeout)
        try:
            with _sqlite_errors(path):
                conn.execute("BEGIN IMMEDIATE")
                keys = _initialise(conn, key)
                conn.execute("COMMIT")
        finally:
            conn.close()
        try:
            os.link(temp, path)
        except FileExistsError:
            return
        except OSError as exc:
            raise StoreError(f"cannot create store {path}: {exc.strerror}") from None
        _write_counter(counter_file, keys, 0, force=True)
    finally:
        for leftover in (temp, Path(f"{temp}-wal"), Path(f"{temp}-shm")):
            leftover.unlink(missing_ok=True)


def _initialise(conn: sqlite3.Connection, key: Any) -> _Keys:
    """The tables and metadata of a new, empty store."""
    meta: dict[str, str] = {}
    keys = _Keys.derive(resolve_key(key, meta, new=True), secrets.token_bytes(16))
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute(_RECORDS_TABLE)
    _set_meta(conn, {**meta, "format": STORE_FORMAT, "schema_version": str(SCHEMA_VERSION),
                     "store_id": keys.store_id.hex(), "created_at": repr(time.time()),
                     "key_check": keys.check_value(), "counter": "0", "state_mac": keys.state_mac(0, 0),
                     COUNTER_META: "1", NFC_META: "1"})
    return keys


def _counter_mac(keys: _Keys, counter: int) -> str:
    return hmac.digest(keys.state, b"counter-file" + keys.store_id + counter.to_bytes(8, "big"), "sha256").hex()


def _read_counter(path: Path, keys: _Keys) -> int | None:
    """The authenticated counter in ``path``; None when it is missing or does not authenticate."""
    try:
        data = json.loads(path.read_text())
        counter = data["counter"]
        if type(counter) is int and hmac.compare_digest(_counter_mac(keys, counter), str(data["mac"])):
            return counter
    except (OSError, ValueError, TypeError, KeyError, OverflowError):
        pass
    return None


def _write_counter(path: Path, keys: _Keys, counter: int, force: bool = False) -> None:
    """Record ``counter`` beside the database (atomically, synced), unless a concurrent
    writer already recorded a higher one and ``force`` is off."""
    if not force:
        recorded = _read_counter(path, keys)
        if recorded is not None and recorded >= counter:
            return
    try:  # the folder is not synced: a rename lost to a crash leaves an older counter, which opens
        write_atomically(path, json.dumps({"counter": counter, "mac": _counter_mac(keys, counter)}).encode(),
                         sync_dir=False)
    except OSError as exc:
        raise StoreError(f"the write was committed, but {path} could not be updated ({exc.strerror}); "
                         "free space or fix permissions, then reopen the store") from None


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    with _sqlite_errors(path):
        conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{path} cannot use write-ahead logging (journal mode {mode}); "
                                 "put it on a local file system")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA secure_delete = ON")
        except BaseException:
            conn.close()
            raise
    return conn


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """SQLite's exceptions as StoreError with a message that says what to do."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise StoreBusyError(f"store {path} is busy (another process holds it); retry, or raise timeout=",
                                 path=path) from None
        raise StoreError(f"store {path} cannot be used: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not an edgesig store or is corrupted ({exc}); restore it from a "
                         "backup") from None
    except UnicodeDecodeError:
        raise StoreError(f"{path} is corrupted (text that is not UTF-8); restore it from a backup") from None


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def _read_meta(conn: sqlite3.Connection) -> dict[str, str] | None:
    """The meta table as a dict, or None when there is no meta table (a new file)."""
    return dict(conn.execute("SELECT key, value FROM meta")) if _has_table(conn, "meta") else None


def _set_meta(conn: sqlite3.Connection, values: dict[str, str]) -> None:
    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                     "value = excluded.value", list(values.items()))
