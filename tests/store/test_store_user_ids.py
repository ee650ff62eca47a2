"""User ids are kept in Unicode NFC at every entry point: "José" typed precomposed (NFC) and
with a combining accent (NFD) is one user, and a store written before ids were normalised
still finds its users."""
from __future__ import annotations

import re
import sqlite3
import time
import unicodedata
from dataclasses import replace

import pytest

import edgesig
from edgesig.audit import AuditLog
from edgesig.errors import InvalidInputError, TemplateIntegrityError
from edgesig.store import EncryptedStore, MemoryStore
from edgesig.store.backup import read_backup
from edgesig.store.base import check_user_id
from edgesig.store.encrypted import NFC_META
from tests.store.store_helpers import make_template, same_template

NFC = unicodedata.normalize("NFC", "José Müller")
NFD = unicodedata.normalize("NFD", "José Müller")


def test_the_two_forms_differ_as_strings():
    assert NFC != NFD and len(NFD) > len(NFC)


@pytest.fixture(params=["memory", "encrypted"])
def store(request, store_path, key):
    if request.param == "memory":
        yield MemoryStore()
    else:
        with EncryptedStore(store_path, key, create=True) as encrypted:
            yield encrypted


def test_both_forms_are_one_user_in_a_store(store):
    store.put(make_template(NFD))
    assert store.users() == [NFC]
    assert store.get(NFC, "dtw").user_id == NFC and store.get(NFD, "dtw").user_id == NFC
    assert store.engines(NFC) == store.engines(NFD) == ["dtw"]
    store.put(make_template(NFC, seed=1))  # replaces, not a second user
    assert store.users() == [NFC]
    assert store.delete(NFD) == 1 and store.users() == []


def test_a_verifier_enrols_and_verifies_either_form_as_one_user(pens):
    v = edgesig.Verifier("dtw", MemoryStore())
    v.enroll(NFD, pens[:5])
    assert v.users() == [NFC]
    assert v.verify_stroke(NFC, pens[5]).user_id == NFC
    assert v.delete(NFD) >= 1 and v.users() == []


def test_control_characters_are_refused_with_the_character_named():
    for bad, code in (("alice\t", "U+0009"), ("bob\n", "U+000A"), ("eve\x00", "U+0000"), ("x\u200b", "U+200B")):
        with pytest.raises(InvalidInputError, match=re.escape(code)):
            check_user_id(bad)


def test_the_length_limit_applies_to_the_nfc_form():
    assert check_user_id("e\u0301" * 256) == "é" * 256  # 512 characters typed, 256 kept


def test_the_audit_log_gives_both_forms_one_pseudonym():
    log = AuditLog(None, key=b"k" * 32)
    assert log.user_hash(NFC) == log.user_hash(NFD)


def _write_unnormalised(store: EncryptedStore, template) -> None:
    """What a store written before ids were normalised holds: the id as it was given."""
    store._write(lambda conn, state: store._write_records(conn, [template], store._keys, state))


def _forget_normalisation(path) -> None:
    with sqlite3.connect(path) as raw:
        raw.execute("DELETE FROM meta WHERE key = ?", (NFC_META,))
    raw.close()


def test_a_store_from_before_finds_its_users_under_either_form(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        _write_unnormalised(store, make_template(NFD))
        store.put(make_template("bob"))
    _forget_normalisation(store_path)
    with EncryptedStore(store_path, key) as store:
        assert store.users() == sorted(["bob", NFC])
        assert same_template(store.get(NFD, "dtw"), make_template(NFC))
        assert same_template(store.get("bob", "dtw"), make_template("bob"))
    with EncryptedStore(store_path, key) as store:  # done once: the next open finds nothing to do
        assert store.users() == sorted(["bob", NFC])
    assert not store_path.with_name("templates.db.nfc-duplicates.backup").exists()  # no duplicate to keep


def test_a_user_enrolled_under_both_forms_keeps_the_later_record_per_engine(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        old = make_template(NFD, seed=1)
        _write_unnormalised(store, old)
        _write_unnormalised(store, make_template(NFD, engine="gru", seed=2))
        store.put(replace(make_template(NFC, seed=3), updated_at=time.time() + 60))  # re-enrolled later
    _forget_normalisation(store_path)
    with EncryptedStore(store_path, key) as store:
        assert store.users() == [NFC]
        assert store.engines(NFC) == ["dtw", "gru"]
        assert same_template(store.get(NFC, "dtw"), make_template(NFC, seed=3))
        assert same_template(store.get(NFC, "gru"), make_template(NFC, engine="gru", seed=2))
        # the older enrolment was dropped from the store, not lost: it can be put back
        kept = read_backup(store_path.with_name("templates.db.nfc-duplicates.backup"), key)
        assert len(kept) == 1 and same_template(kept[0], old)
        store.import_backup(store_path.with_name("templates.db.nfc-duplicates.backup"))
        assert same_template(store.get(NFC, "dtw"), replace(old, user_id=NFC))


def _tamper_blob(path, user_hash: bytes, engine: str) -> None:
    """Flip a byte of one record's sealed template, as damage or an edit outside edgesig would."""
    with sqlite3.connect(path) as raw:
        blob = raw.execute("SELECT blob FROM records WHERE uid_hash = ? AND engine = ?",
                           (user_hash, engine)).fetchone()[0]
        raw.execute("UPDATE records SET blob = ? WHERE uid_hash = ? AND engine = ?",
                    (bytes([blob[0] ^ 1]) + blob[1:], user_hash, engine))
    raw.close()


def test_a_damaged_record_met_while_re_keying_is_set_aside_and_the_others_open(store_path, key, caplog):
    with EncryptedStore(store_path, key, create=True) as store:
        _write_unnormalised(store, make_template(NFD))
        _write_unnormalised(store, make_template(NFD, engine="gru", seed=2))
        store.put(make_template("bob"))
        damaged = store._keys.uid_hash(NFD)
    _tamper_blob(store_path, damaged, "dtw")
    _forget_normalisation(store_path)
    with caplog.at_level("WARNING", logger="edgesig.store"):
        store = EncryptedStore(store_path, key)  # opened TemplateIntegrityError for everyone before
    with store:
        assert "'dtw'" in caplog.text and NFC in caplog.text and "set aside" in caplog.text
        assert same_template(store.get("bob", "dtw"), make_template("bob"))  # the others are served
        assert same_template(store.get(NFC, "gru"), make_template(NFC, engine="gru", seed=2))  # and its sound one
        with pytest.raises(TemplateIntegrityError, match="set aside.*(backup|enrol)"):
            store.get(NFD, "dtw")  # never taken for a valid record, nor for a user never enrolled
        with sqlite3.connect(store_path) as raw:  # kept, byte for byte, not deleted
            assert raw.execute("SELECT count(*) FROM set_aside").fetchone()[0] == 1
        raw.close()
        store.put(make_template(NFC, seed=5))  # re-enrolled: served again
        assert same_template(store.get(NFC, "dtw"), make_template(NFC, seed=5))
        assert store.delete(NFC) == 3  # forgetting the user takes what was set aside too
        with sqlite3.connect(store_path) as raw:
            assert raw.execute("SELECT count(*) FROM set_aside").fetchone()[0] == 0
        raw.close()
    with EncryptedStore(store_path, key) as store:  # re-keyed once: the next open finds nothing to do
        assert store.users() == ["bob"]


def test_a_record_whose_user_id_fails_authentication_is_left_in_place_while_re_keying(store_path, key, caplog):
    with EncryptedStore(store_path, key, create=True) as store:
        _write_unnormalised(store, make_template(NFD))
        store.put(make_template("bob"))
        bob = store._keys.uid_hash("bob")
    with sqlite3.connect(store_path) as raw:
        raw.execute("UPDATE records SET uid_box = zeroblob(40) WHERE uid_hash = ?", (bob,))
    raw.close()
    _forget_normalisation(store_path)
    with caplog.at_level("WARNING", logger="edgesig.store"):
        store = EncryptedStore(store_path, key)
    with store:
        assert "left in place" in caplog.text
        assert same_template(store.get(NFC, "dtw"), make_template(NFC))
        assert same_template(store.get("bob", "dtw"), make_template("bob"))  # its template is sound


def test_a_tampered_record_fails_for_its_user_only(store_path, key):
    with EncryptedStore(store_path, key, create=True) as store:
        store.put(make_template("alice"))
        store.put(make_template("bob"))
        _tamper_blob(store_path, store._keys.uid_hash("alice"), "dtw")
        with pytest.raises(TemplateIntegrityError, match="restore it from a backup"):
            store.get("alice", "dtw")
        assert same_template(store.get("bob", "dtw"), make_template("bob"))
    with EncryptedStore(store_path, key) as store:  # and a fresh open
        assert same_template(store.get("bob", "dtw"), make_template("bob"))
        with pytest.raises(TemplateIntegrityError):
            store.get("alice", "dtw")
