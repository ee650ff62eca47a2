"""Key sources: key file permissions, passphrase salt, environment variable, keyring."""
from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from edgesig.errors import InvalidInputError, StoreError
from edgesig.store.keys import KDF_META, EnvKey, KeyFile, Keyring, Passphrase, derive_subkey, resolve_key


def test_key_file_is_created_private_and_stable(tmp_path):
    path = tmp_path / "store.key"
    first = resolve_key(KeyFile(path), {}, new=True)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_key(KeyFile(path), {}) == first
    assert base64.b64decode(path.read_bytes().strip()) == first  # copyable into EDGESIG_KEY


def test_key_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "store.key"
    resolve_key(KeyFile(path), {}, new=True)
    path.chmod(0o644)
    with pytest.raises(StoreError, match="chmod 600"):
        resolve_key(KeyFile(path), {})


def test_key_file_not_created_when_asked(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        resolve_key(KeyFile(tmp_path / "none.key", create=False), {}, new=True)


def test_key_file_is_only_created_for_a_new_store(tmp_path):
    """Issue 20 #3: a mistyped key path beside an existing store made a stray key."""
    with pytest.raises(StoreError, match="check the path"):
        resolve_key(KeyFile(tmp_path / "typo.key"), {"format": "edgesig-encrypted-store"})
    assert not (tmp_path / "typo.key").exists()


def test_key_file_with_garbage_is_refused(tmp_path):
    path = tmp_path / "bad.key"
    path.write_bytes(b"not a key at all")
    path.chmod(0o600)
    with pytest.raises(InvalidInputError, match="32-byte key"):
        resolve_key(KeyFile(path), {})


def test_passphrase_stores_salt_and_reuses_it():
    meta: dict[str, str] = {}
    first = resolve_key(Passphrase("s3cret"), meta)
    params = json.loads(meta[KDF_META])
    assert params["n"] == 2 ** 15 and params["r"] == 8 and params["p"] == 1
    assert resolve_key(Passphrase("s3cret"), dict(meta)) == first
    assert resolve_key(Passphrase("s3cret"), {}) != first  # a new salt, a new key
    assert "s3cret" not in repr(Passphrase("s3cret"))
    with pytest.raises(InvalidInputError):
        Passphrase("")


def test_damaged_or_hostile_kdf_parameters_are_refused():
    meta: dict[str, str] = {}
    resolve_key(Passphrase("pw"), meta)
    params = json.loads(meta[KDF_META])
    for change in ({"n": 2 ** 30}, {"salt": "!!"}, {"name": "md5"}, {"r": "8"}):
        with pytest.raises(StoreError, match="passphrase parameters"):
            resolve_key(Passphrase("pw"), {KDF_META: json.dumps({**params, **change})})
    with pytest.raises(StoreError):
        resolve_key(Passphrase("pw"), {KDF_META: "{not json"})


def test_env_key_hex_and_base64(monkeypatch):
    raw = os.urandom(32)
    monkeypatch.setenv("EDGESIG_KEY", raw.hex())
    assert resolve_key(EnvKey(), {}) == raw
    monkeypatch.setenv("OTHER_KEY", base64.b64encode(raw).decode())
    assert resolve_key(EnvKey("OTHER_KEY"), {}) == raw
    monkeypatch.setenv("EDGESIG_KEY", "too short")
    with pytest.raises(InvalidInputError):
        resolve_key(EnvKey(), {})
    monkeypatch.delenv("EDGESIG_KEY")
    with pytest.raises(InvalidInputError, match="not set"):
        resolve_key(EnvKey(), {})


def test_keyring_without_package_says_how_to_fix():
    try:
        import keyring  # noqa: F401
    except ImportError:
        with pytest.raises(StoreError, match="pip install keyring"):
            Keyring("edgesig", "store")
    else:
        pytest.skip("keyring is installed here; its backend is exercised by integration setups")


def test_raw_keys_and_bad_types():
    raw = os.urandom(32)
    assert resolve_key(raw, {}) == raw
    assert resolve_key(bytearray(raw), {}) == raw
    for bad in (b"x" * 31, "text", 42, None):
        with pytest.raises(InvalidInputError):
            resolve_key(bad, {})


def test_subkeys_are_independent():
    master = os.urandom(32)
    a = derive_subkey(master, b"salt", "one")
    assert a != derive_subkey(master, b"salt", "two")
    assert a != derive_subkey(master, b"other", "one")
    assert a == derive_subkey(master, b"salt", "one")
