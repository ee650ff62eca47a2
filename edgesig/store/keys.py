"""Where the store's master key comes from, and the subkeys derived from it.

A kiosk has no operator typing a password at boot, a back-office tool has no secure
element, a container gets its secrets from the environment: so the key source is
pluggable. Every source yields the same thing, a 32-byte master key; the store never
uses it directly but derives one subkey per purpose with HKDF, so a leak of one
derived value (say the audit-log key) does not expose the templates.

Sources that need stored parameters (the scrypt salt of a passphrase) read and write
them through the store's ``meta`` mapping, so the same passphrase opens the same
store on any machine without a side file.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, MutableMapping, Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from edgesig.errors import InvalidInputError, StoreError

KEY_BYTES = 32
#: scrypt cost: about 0.1 s and 32 MiB on a laptop core, several seconds of GPU time per
#: guess for an attacker who copied the store. Stored with the salt so it can change.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
#: Refuse stored scrypt parameters beyond this: a tampered meta row must not make
#: opening the store allocate gigabytes.
MAX_SCRYPT_N = 2 ** 20
#: meta entry that holds the passphrase KDF parameters (JSON).
KDF_META = "kdf"


@runtime_checkable
class KeySource(Protocol):
    """Anything that can produce the 32-byte master key for a store."""

    def resolve(self, meta: MutableMapping[str, str]) -> bytes:
        """The master key; may add entries (a fresh salt) to ``meta`` for a new store."""


@dataclass(frozen=True)
class KeyFile:
    """A key in a file readable only by its owner; created (0600) when missing while a
    new store is created (never for an existing store or a backup: a new key cannot open
    them, and a stray key file only hides the mistyped path).

    The file holds the key as base64 text (raw 32 bytes and hex are accepted too), so
    it can be copied into ``EDGESIG_KEY`` for a container.
    """

    path: str | os.PathLike
    create: bool = True

    def resolve(self, meta: MutableMapping[str, str]) -> bytes:
        path = Path(self.path)
        if not path.exists():
            if not self.create:
                raise StoreError(f"key file {path} does not exist; check the path (an existing store or "
                                 "backup needs the key it was made with; a key file is only created "
                                 "together with a new store)")
            return _create_key_file(path)
        mode = path.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise StoreError(f"key file {path} is accessible by group or others (mode "
                             f"{stat.S_IMODE(mode):04o}); run `chmod 600 {path}`")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read key file {path}: {exc.strerror}") from None
        return decode_key(data, f"key file {path}")


@dataclass(frozen=True)
class Passphrase:
    """A passphrase stretched with scrypt; the random salt lives in the store's meta."""

    text: str = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text:
            raise InvalidInputError("the passphrase must be a non-empty string")

    def resolve(self, meta: MutableMapping[str, str]) -> bytes:
        params = _kdf_params(meta.get(KDF_META))
        if params is None:
            params = {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                      "salt": base64.b64encode(secrets.token_bytes(16)).decode()}
            meta[KDF_META] = json.dumps(params, sort_keys=True)
        kdf = Scrypt(salt=base64.b64decode(params["salt"]), length=KEY_BYTES,
                     n=params["n"], r=params["r"], p=params["p"])
        return kdf.derive(self.text.encode("utf-8"))


@dataclass(frozen=True)
class EnvKey:
    """A key in an environment variable, as base64 or hex of 32 bytes."""

    var: str = "EDGESIG_KEY"

    def resolve(self, meta: MutableMapping[str, str]) -> bytes:
        value = os.environ.get(self.var)
        if not value:
            raise InvalidInputError(f"environment variable {self.var} is not set; put a base64 or hex "
                                    "32-byte key in it (e.g. `openssl rand -base64 32`)")
        return decode_key(value.encode(), f"environment variable {self.var}")


@dataclass(frozen=True)
class Keyring:
    """A key kept by the OS keyring (macOS Keychain, Windows Credential Locker, Secret
    Service); created there when missing. Needs the optional ``keyring`` package."""

    service: str
    name: str

    def __post_init__(self) -> None:
        _keyring_module()  # fail at configuration time, not at the first enrolment

    def resolve(self, meta: MutableMapping[str, str]) -> bytes:
        keyring = _keyring_module()
        try:
            stored = keyring.get_password(self.service, self.name)
            if stored is None and not self.create:
                raise StoreError(f"the OS keyring has no entry {self.service}/{self.name}; an existing store "
                                 "needs the key it was made with")
            if stored is None:
                stored = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()
                keyring.set_password(self.service, self.name, stored)
        except StoreError:
            raise
        except Exception as exc:  # backends raise their own types; report one kind
            raise StoreError(f"the OS keyring failed for {self.service}/{self.name}: {exc}") from None
        return decode_key(stored.encode(), f"keyring entry {self.service}/{self.name}")


def resolve_key(key: Any, store_meta: MutableMapping[str, str], *, new: bool = False) -> bytes:
    """The 32-byte master key from raw bytes or a key source.

    ``store_meta`` is the store's (or backup's) parameter mapping; a passphrase on a new
    store adds its salt there, and the caller must persist what was added. ``new`` says
    the key is for a store or backup being made now: only then may a KeyFile or Keyring
    create a missing key.
    """
    if isinstance(key, (bytes, bytearray, memoryview)):
        raw = bytes(key)
        if len(raw) != KEY_BYTES:
            raise InvalidInputError(f"a raw key must be {KEY_BYTES} bytes, got {len(raw)}; "
                                    "use Passphrase() for a password")
        return raw
    if isinstance(key, str):
        raise InvalidInputError("a str is ambiguous as a key: wrap it as Passphrase(text), "
                                "KeyFile(path) or EnvKey(var)")
    if isinstance(key, (KeyFile, Keyring)) and not new:
        key = replace(key, create=False)
    if isinstance(key, KeySource):
        master = key.resolve(store_meta)
        if not isinstance(master, bytes) or len(master) != KEY_BYTES:
            raise InvalidInputError(f"{type(key).__name__} did not produce a {KEY_BYTES}-byte key")
        return master
    raise InvalidInputError(f"key must be 32 bytes or a key source (KeyFile, Passphrase, EnvKey, "
                            f"Keyring), got {type(key).__name__}")


def derive_subkey(master: bytes, salt: bytes, label: str) -> bytes:
    """A 32-byte key for one purpose (``label``), independent of the other purposes."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt,
                info=f"edgesig/v1/{label}".encode()).derive(master)


def decode_key(data: bytes, where: str) -> bytes:
    """32 key bytes from raw bytes, hex or base64 text."""
    if len(data) == KEY_BYTES:
        return data
    text = data.strip()
    candidates = []
    try:
        candidates.append(binascii.unhexlify(text))
    except (binascii.Error, ValueError):
        pass
    try:
        candidates.append(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        pass
    for raw in candidates:
        if len(raw) == KEY_BYTES:
            return raw
    raise InvalidInputError(f"{where} does not hold a {KEY_BYTES}-byte key in raw, hex or base64 form")


def _create_key_file(path: Path) -> bytes:
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return KeyFile(path, create=False).resolve({})
    except OSError as exc:
        raise StoreError(f"cannot create key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(key) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key


def _kdf_params(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        params = json.loads(raw)
        ok = (params.get("name") == "scrypt" and all(isinstance(params.get(k), int) for k in "nrp")
              and 2 <= params["n"] <= MAX_SCRYPT_N and 1 <= params["r"] <= 64 and 1 <= params["p"] <= 16
              and len(base64.b64decode(params["salt"], validate=True)) >= 16)
    except (ValueError, TypeError, AttributeError, KeyError, binascii.Error):
        ok = False
    if not ok:
        raise StoreError("the stored passphrase parameters are damaged; the store cannot be "
                         "opened with a passphrase (restore it from a backup)")
    return params


def _keyring_module() -> Any:
    try:
        import keyring
    except ImportError:
        raise StoreError("the OS keyring needs the optional `keyring` package: pip install keyring "
                         "(or use KeyFile, Passphrase or EnvKey)") from None
    return keyring
