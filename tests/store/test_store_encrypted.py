"""EncryptedStore: the TemplateStore contract, key rotation, backups, schema migration."""
from __future__ import annotations

import os
import sqlite3
import stat

import numpy as np
import pytest

from edgesig.errors import (FormatError, InvalidInputError, StoreError, TemplateIntegrityError, UnknownUserError,
                            WrongKeyError)
from edgesig.store.base import TemplateStore, iter_records
from edgesig.store.encrypted import SCHEMA_VERSION, EncryptedStore
from edgesig.store.keys import KeyFile, Passphrase
from tests.store.store_helpers import make_template, same_template


def test_round_trip_and_protocol(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        assert isinstance(store, TemplateStore)
        alice = make_template("alice", seed=1)
        store.put(alice)
        store.put(make_template("bob", seed=2))
        store.put(make_template("bob", engine="lnps", seed=3))
        got = store.get("alice", "dtw")
        assert same_template(got, alice)
        assert store.users() == ["alice", "bob"]
        assert store.engines("bob") == ["dtw", "lnps"]
        assert store.engines("carol") == []
        assert len(list(iter_records(store))) == 3
    with EncryptedStore(store_path, key, create=True) as store:  # survives reopening
        assert same_template(store.get("alice", "dtw"), alice)
        assert store.delete("bob") == 2
        assert store.delete("bob") == 0
        assert store.users() == ["alice"]
        with pytest.raises(UnknownUserError):
            store.get("bob", "dtw")


def test_versions_increase_on_every_write(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template(version=1))
        store.put(make_template(version=1))  # a re-enrolment starts again at 1
        assert store.get("alice", "dtw").version == 2
        store.put(make_template(version=7))
        assert store.get("alice", "dtw").version == 7
        before = store.counter
        store.put(make_template())
        assert store.counter > before


def test_bad_arguments_are_typed_errors(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        for bad in ("", "a\nb", "x" * 300, 5, None):
            with pytest.raises(InvalidInputError):
                store.get(bad, "dtw")
        with pytest.raises(InvalidInputError):
            store.get("alice", "")
        with pytest.raises(InvalidInputError):
            store.put("not a template")
        with pytest.raises(InvalidInputError):
            store.put(make_template(engine=""))


def test_closed_store_refuses_calls(store_path, key):
    store = EncryptedStore(store_path, key, create=True)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.users()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_is_told_to_open_the_store_itself(store_path, key):
    """SQLite connections must not cross a fork (a preloading web server, a fork Pool):
    the child used the parent's connection as its own, silently, at the risk of the
    database. Now it gets a StoreError saying what to do; the parent carries on."""
    store = EncryptedStore(store_path, key, create=True)
    store.put(make_template("alice"))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what using the inherited store did, then leave at once
        try:
            store.users()
            outcome = b"used"
        except StoreError as exc:
            outcome = b"refused" if b"open the store again in this process" in str(exc).encode() else b"other"
        os.write(write, outcome)
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 100) == b"refused"
    assert store.users() == ["alice"]
    store.close()


def test_files_are_private(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template())
        for suffix in ("", "-wal"):
            mode = stat.S_IMODE(os.stat(f"{store_path}{suffix}").st_mode)
            assert mode & 0o077 == 0, (suffix, oct(mode))


def test_not_a_store(tmp_path, key):
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(StoreError):
        EncryptedStore(junk, key, create=True)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    with pytest.raises(StoreError, match="not an edgesig store"):
        EncryptedStore(other, key, create=True)
    with pytest.raises(InvalidInputError):
        EncryptedStore(tmp_path, key, create=True)
    with pytest.raises(StoreError):
        EncryptedStore(tmp_path / "missing" / "x.db", key, create=True)


def test_wrong_key_is_clear(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template())
    with pytest.raises(WrongKeyError, match="does not open"):
        EncryptedStore(store_path, os.urandom(32), create=True)
    with pytest.raises(InvalidInputError):
        EncryptedStore(store_path, b"short", create=True)
    with pytest.raises(InvalidInputError):
        EncryptedStore(store_path, "a passphrase as a bare str", create=True)


def test_passphrase_store(store_path):
    with EncryptedStore(store_path, Passphrase("correct horse"), create=True) as store:
        store.put(make_template())
    with EncryptedStore(store_path, Passphrase("correct horse"), create=True) as store:
        assert store.users() == ["alice"]
    with pytest.raises(WrongKeyError):
        EncryptedStore(store_path, Passphrase("wrong horse"), create=True)


def test_rotate_key(store_path, key, tmp_path):
    with EncryptedStore(store_path, key, create=True) as store:
        for i in range(5):
            store.put(make_template(f"user{i}", seed=i))
        store.rotate_key(Passphrase("new secret"))
        assert store.users() == [f"user{i}" for i in range(5)]
        store.rotate_key(KeyFile(tmp_path / "store.key"))
        assert same_template(store.get("user3", "dtw"), make_template("user3", seed=3))
    with pytest.raises(WrongKeyError):
        EncryptedStore(store_path, key, create=True)
    with pytest.raises(WrongKeyError):
        EncryptedStore(store_path, Passphrase("new secret"), create=True)
    with EncryptedStore(store_path, KeyFile(tmp_path / "store.key"), create=True) as store:
        assert len(store.users()) == 5


def test_rotation_by_another_process_is_reported(store_path, key):
    first = EncryptedStore(store_path, key, create=True)
    first.put(make_template())
    with EncryptedStore(store_path, key, create=True) as second:
        second.rotate_key(os.urandom(32))
    with pytest.raises(WrongKeyError, match="rotated"):
        first.get("alice", "dtw")
    first.close()


def test_backup_round_trip(store_path, key, tmp_path):
    backup = tmp_path / "backup.bin"
    with EncryptedStore(store_path, key, create=True) as store:
        for i in range(3):
            store.put(make_template(f"user{i}", seed=i))
        assert store.export_backup(backup) == 3
        assert store.export_backup(tmp_path / "pw.bin", Passphrase("offsite")) == 3
    assert stat.S_IMODE(backup.stat().st_mode) & 0o077 == 0
    with EncryptedStore(tmp_path / "restored.db", os.urandom(32), create=True) as fresh:
        with pytest.raises(WrongKeyError):
            fresh.import_backup(backup)  # made with another key
        assert fresh.import_backup(tmp_path / "pw.bin", Passphrase("offsite")) == 3
        assert same_template(fresh.get("user2", "dtw"), make_template("user2", seed=2))
        with pytest.raises(WrongKeyError):
            fresh.import_backup(tmp_path / "pw.bin", Passphrase("not it"))


def test_backup_with_store_key_and_tampered_backup(store_path, key, tmp_path):
    backup = tmp_path / "backup.bin"
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template(version=4))
        store.export_backup(backup)
        store.put(make_template(seed=9))
        assert store.import_backup(backup) == 1  # restore the older content ...
        restored = store.get("alice", "dtw")
        assert same_template(restored, make_template()) and restored.version == 6  # ... as a newer version
        data = bytearray(backup.read_bytes())
        data[-20] ^= 1
        backup.write_bytes(bytes(data))
        with pytest.raises(TemplateIntegrityError):
            store.import_backup(backup)
        backup.write_bytes(b"not a backup")
        with pytest.raises(FormatError):
            store.import_backup(backup)
        assert same_template(store.get("alice", "dtw"), make_template())  # failed imports changed nothing


def test_schema_version_1_store_is_migrated(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template("alice", seed=1))
        store.put(make_template("bob", engine="lnps", seed=2))
    # Turn it into the version 1 layout: no sealed uid_box column.
    with sqlite3.connect(store_path) as conn:
        conn.execute("ALTER TABLE records DROP COLUMN uid_box")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with EncryptedStore(store_path, key, create=True) as store:
        assert store.users() == ["alice", "bob"]
        assert same_template(store.get("bob", "lnps"), make_template("bob", engine="lnps", seed=2))
    with sqlite3.connect(store_path) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        columns = [r[1] for r in conn.execute("PRAGMA table_info(records)")]
    assert int(version) == SCHEMA_VERSION and "uid_box" in columns


def test_newer_schema_is_refused(store_path, key):
    EncryptedStore(store_path, key, create=True).close()
    with sqlite3.connect(store_path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer edgesig"):
        EncryptedStore(store_path, key, create=True)


def test_unicode_users_and_many_records(store_path, key):
    names = ["Zoë", "李小龍", "محمد", "user with spaces", "emoji 🖋"]
    with EncryptedStore(store_path, key, create=True) as store:
        for i, name in enumerate(names):
            store.put(make_template(name, seed=i))
        assert store.users() == sorted(names)
        assert np.array_equal(store.get("李小龍", "dtw").references[0], make_template(seed=1).references[0])


def test_decoded_templates_are_cached_only_while_unchanged(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template(seed=1))
        first = store.get("alice", "dtw")
        assert store.get("alice", "dtw") is first
        store.put(make_template(seed=2))
        second = store.get("alice", "dtw")
        assert second is not first and same_template(second, make_template(seed=2))
    with EncryptedStore(store_path, key, cache_size=0, create=True) as store:
        assert store.get("alice", "dtw") is not store.get("alice", "dtw")


@pytest.mark.parametrize("option, value", [("timeout", "10"), ("timeout", -1), ("min_counter", "5"),
                                           ("min_counter", 1.5), ("cache_size", -1)])
def test_options_of_the_wrong_kind_are_typed_errors(store_path, key, option, value):
    """timeout='10' failed in SQLite with a raw TypeError, min_counter='5' in a comparison
    after the store was opened."""
    with EncryptedStore(store_path, key, create=True):
        pass
    with pytest.raises(InvalidInputError, match=f"{option} must be"):
        EncryptedStore(store_path, key, **{option: value})
