"""Tampering with the database file: every change is caught, nothing is readable in clear."""
from __future__ import annotations

import shutil
import sqlite3

import pytest

from edgesig.errors import TemplateIntegrityError, WrongKeyError
from edgesig.store.encrypted import EncryptedStore
from tests.store.store_helpers import MARKER, make_template, same_template


def _raw(path):
    return sqlite3.connect(path, isolation_level=None)


def _row(conn, index=0):
    return conn.execute("SELECT rowid, * FROM records ORDER BY rowid").fetchall()[index]


def test_every_byte_of_a_blob_is_authenticated(store_path, key):
    store = EncryptedStore(store_path, key, create=True)
    store.put(make_template(n_refs=1, shape=(4, 2)))
    store.get("alice", "dtw")  # a decoded copy is now cached: it must not mask any change
    raw = _raw(store_path)
    rowid, blob = raw.execute("SELECT rowid, blob FROM records").fetchone()
    for pos in range(len(blob)):
        flipped = bytearray(blob)
        flipped[pos] ^= 0x01 << (pos % 8)
        raw.execute("UPDATE records SET blob = ? WHERE rowid = ?", (bytes(flipped), rowid))
        with pytest.raises(TemplateIntegrityError):
            store.get("alice", "dtw")
    for cut in (0, 1, 16, len(blob) - 1):  # truncation, and an empty blob
        raw.execute("UPDATE records SET blob = ? WHERE rowid = ?", (blob[:cut], rowid))
        with pytest.raises(TemplateIntegrityError):
            store.get("alice", "dtw")
    raw.execute("UPDATE records SET blob = ? WHERE rowid = ?", (blob, rowid))
    assert same_template(store.get("alice", "dtw"), make_template(n_refs=1, shape=(4, 2)))
    store.close()


@pytest.mark.parametrize("column, value", [
    ("model_version", "'m2'"), ("version", "version + 1"), ("seq", "seq + 1"),
    ("nonce", "zeroblob(12)"), ("engine", "'lnps'"), ("uid_hash", "zeroblob(32)"),
    ("version", "'one'"), ("blob", "x'00'"),
])
def test_every_column_is_authenticated(store_path, key, column, value):
    store = EncryptedStore(store_path, key, create=True)
    store.put(make_template())
    with _raw(store_path) as raw:
        raw.execute(f"UPDATE records SET {column} = {value}")
    with pytest.raises(TemplateIntegrityError):
        store.get("alice", "dtw")  # the open store sees it
    store.close()
    with pytest.raises(TemplateIntegrityError):  # and so does a fresh process (at open or at get)
        with EncryptedStore(store_path, key, create=True) as fresh:
            fresh.get("alice", "dtw")


def test_sealed_user_id_is_authenticated(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template("alice"))
        store.put(make_template("bob"))
        with _raw(store_path) as raw:
            boxes = [r[0] for r in raw.execute("SELECT uid_box FROM records ORDER BY rowid")]
            raw.execute("UPDATE records SET uid_box = ? WHERE rowid = 1", (boxes[1],))
        with pytest.raises(TemplateIntegrityError):
            store.users()


def test_swapped_rows_fail(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template("alice", seed=1))
        store.put(make_template("bob", seed=2))
        with _raw(store_path) as raw:
            a, b = _row(raw, 0), _row(raw, 1)
            # Give alice's row bob's sealed template (with its nonce, version and sequence).
            raw.execute("UPDATE records SET model_version = ?, version = ?, seq = ?, nonce = ?, blob = ? "
                        "WHERE rowid = ?", (*b[3:8], a[0]))
        with pytest.raises(TemplateIntegrityError):
            store.get("alice", "dtw")
        with _raw(store_path) as raw:  # only the blob moved: the associated data catches it
            raw.execute("UPDATE records SET blob = ? WHERE rowid = ?", (b[7], a[0]))
            raw.execute("UPDATE records SET model_version = ?, version = ?, seq = ?, nonce = ? WHERE rowid = ?",
                        (*b[3:7], a[0]))
        with pytest.raises(TemplateIntegrityError):
            store.get("alice", "dtw")


def test_row_rollback_is_detected(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template("alice", seed=1))
        store.put(make_template("bob", seed=2))
        with _raw(store_path) as raw:
            old = _row(raw, 0)
        store.put(make_template("alice", seed=3))  # alice re-enrols: version 2
        with _raw(store_path) as raw:
            raw.execute("UPDATE records SET model_version = ?, version = ?, seq = ?, nonce = ?, blob = ?, "
                        "uid_box = ? WHERE rowid = ?", (*old[3:9], old[0]))
        with pytest.raises(TemplateIntegrityError, match="rolled back"):
            store.get("alice", "dtw")
        assert same_template(store.get("bob", "dtw"), make_template("bob", seed=2))
    with pytest.raises(TemplateIntegrityError, match="authenticated state"):
        EncryptedStore(store_path, key, create=True)


def test_rollback_of_row_and_state_together_is_detected(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template("alice", seed=1))
        store.put(make_template("bob", seed=2))
        with _raw(store_path) as raw:
            old_row = _row(raw, 0)
            old_meta = raw.execute("SELECT key, value FROM meta WHERE key IN ('counter', 'state_mac')").fetchall()
        store.put(make_template("alice", seed=3))
        store.put(make_template("bob", seed=4))  # bob moves on, so the old state no longer fits
    with _raw(store_path) as raw:
        raw.execute("UPDATE records SET model_version = ?, version = ?, seq = ?, nonce = ?, blob = ?, "
                    "uid_box = ? WHERE rowid = ?", (*old_row[3:9], old_row[0]))
        raw.executemany("UPDATE meta SET value = ? WHERE key = ?", [(v, k) for k, v in old_meta])
    with pytest.raises(TemplateIntegrityError):
        EncryptedStore(store_path, key, create=True)


def test_deleted_and_planted_rows_are_detected(store_path, key, tmp_path):
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template("alice"))
        store.put(make_template("bob"))
    planted = shutil.copy(store_path, tmp_path / "copy.db")
    with _raw(store_path) as raw:
        raw.execute("DELETE FROM records WHERE rowid = 2")
    with pytest.raises(TemplateIntegrityError):
        EncryptedStore(store_path, key, create=True)
    with _raw(planted) as raw:  # a row copied in from a store with the same key
        row = _row(raw, 0)
        raw.execute("INSERT INTO records (uid_hash, engine, model_version, version, seq, nonce, blob, uid_box) "
                    "VALUES (?, 'other', ?, ?, ?, ?, ?, ?)", (row[1], *row[3:9]))
    with pytest.raises(TemplateIntegrityError):
        EncryptedStore(planted, key, create=True)


def test_whole_file_rollback_needs_the_external_counter(store_path, key, tmp_path):
    """An older copy of the database alone is caught by the counter file beside it (this
    test used to show it passing unnoticed); database and counter file rolled back
    together are caught only by a counter kept elsewhere (min_counter)."""
    counter_file = store_path.with_name(store_path.name + ".counter")
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template(seed=1))
    old_copy = shutil.copy(store_path, tmp_path / "old.db")
    old_counter = shutil.copy(counter_file, tmp_path / "old.counter")
    with EncryptedStore(store_path, key) as store:
        store.put(make_template(seed=2))
        counter = store.counter
    shutil.copy(old_copy, store_path)
    with pytest.raises(TemplateIntegrityError, match="committed writes are missing"):
        EncryptedStore(store_path, key)
    shutil.copy(old_counter, counter_file)
    EncryptedStore(store_path, key).close()
    with pytest.raises(TemplateIntegrityError, match="rolled back"):
        EncryptedStore(store_path, key, min_counter=counter)


def test_tampered_state_record(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template())
        with _raw(store_path) as raw:
            raw.execute("UPDATE meta SET value = value + 5 WHERE key = 'counter'")
        with pytest.raises(TemplateIntegrityError):
            store.get("alice", "dtw")
        with _raw(store_path) as raw:
            raw.execute("DELETE FROM meta WHERE key = 'state_mac'")
        with pytest.raises(TemplateIntegrityError):
            store.users()
    with _raw(store_path) as raw:
        raw.execute("UPDATE meta SET value = '00' WHERE key = 'key_check'")
    with pytest.raises(WrongKeyError):
        EncryptedStore(store_path, key, create=True)


def test_raw_file_holds_no_user_id_or_coordinates(store_path, key):
    user = "alice.unique-user-7f3k"
    store = EncryptedStore(store_path, key, create=True)
    store.put(make_template(user, n_refs=5, shape=(200, 30)))
    store.put(make_template(user, engine="lnps", n_refs=5, shape=(200, 30), seed=4))
    store.put(make_template(user, n_refs=5, shape=(200, 30), seed=5))  # a rewrite leaves old pages behind
    assert store.get(user, "dtw").references[0].reshape(-1)[:4].tobytes() == MARKER.tobytes()
    needles = [user.encode(), user.encode("utf-16-le"), MARKER.tobytes(), MARKER[:2].tobytes(),
               MARKER.astype(">f8").tobytes()]

    def assert_clean() -> None:
        for suffix in ("", "-wal", "-shm"):
            path = f"{store_path}{suffix}"
            try:
                data = open(path, "rb").read()
            except FileNotFoundError:
                continue
            for needle in needles:
                assert needle not in data, (suffix, needle)

    assert_clean()  # with the WAL full of fresh writes
    store.delete(user)
    store.close()
    assert_clean()
