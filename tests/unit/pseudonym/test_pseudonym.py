"""Keyed-hash pseudonyms (cartwh/pseudonym.py), checked against the standard library's hmac."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from cartwh import pseudonym
from cartwh.pseudonym import pseudonymise

KEY = b"a-test-key-kept-outside-the-warehouse"


def reference(record_id: str, key: bytes) -> str:
    return hmac.new(key, record_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def test_rfc4231_test_case_2():
    # RFC 4231, test case 2: HMAC-SHA256(key="Jefe", "what do ya want for nothing?")
    # = 5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843
    assert pseudonymise("what do ya want for nothing?", b"Jefe") == "5bdcc146bf60754e"


def test_matches_hmac_sha256_first_16_hex_chars():
    for record_id in ("1", "42", "SITE7-0042", "X-999999", "patient/ü"):
        assert pseudonymise(record_id, KEY) == reference(record_id, KEY)


def test_shape_is_16_lowercase_hex():
    value = pseudonymise("1001", KEY)
    assert len(value) == 16
    assert set(value) <= set("0123456789abcdef")


def test_same_id_same_key_is_stable():
    assert pseudonymise("1001", KEY) == pseudonymise("1001", KEY)


def test_different_ids_differ():
    assert pseudonymise("1001", KEY) != pseudonymise("1002", KEY)


def test_different_key_gives_different_pseudonym():
    assert pseudonymise("1001", KEY) != pseudonymise("1001", b"another-key")
    assert pseudonymise("1001", b"another-key") == reference("1001", b"another-key")


def test_surrounding_whitespace_is_stripped():
    expected = reference("1001", KEY)
    for variant in (" 1001", "1001 ", "\t1001\n", "  1001  "):
        assert pseudonymise(variant, KEY) == expected


def test_environment_secret_is_used(monkeypatch):
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", "secret-one")
    first = pseudonymise("1001")
    assert first == reference("1001", b"secret-one")
    assert pseudonym.secret() == b"secret-one"
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", "secret-two")
    assert pseudonymise("1001") == reference("1001", b"secret-two") != first


def test_explicit_key_overrides_environment(monkeypatch):
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", "secret-one")
    assert pseudonymise("1001", KEY) == reference("1001", KEY)


def test_demo_secret_when_variable_unset(monkeypatch):
    monkeypatch.delenv("CARTWH_PSEUDONYM_KEY", raising=False)
    assert pseudonym.secret() == b"cartwh-demo-secret-do-not-use-with-real-patients"
    assert pseudonymise("1001") == reference("1001", b"cartwh-demo-secret-do-not-use-with-real-patients")


def test_empty_variable_falls_back_to_demo_secret(monkeypatch):
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", "")
    assert pseudonym.secret() == pseudonym.DEMO_SECRET.encode()


def test_site_is_part_of_the_message():
    # The contract: HMAC-SHA256(key, "<site>/<record id>"), the record id trimmed.
    assert pseudonymise(" 1 ", KEY, site="huvr") == reference("huvr/1", KEY)
    assert pseudonymise("1", KEY, site="huvr") != pseudonymise("1", KEY, site="hugm") != pseudonymise("1", KEY)


def test_key_file_is_read_stripped_and_never_logged(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("CARTWH_PSEUDONYM_KEY", raising=False)
    key_file = tmp_path / "pseudonym.key"
    key_file.write_text("a-key-from-a-file\n")
    key_file.chmod(0o644)  # readable by others: a warning, naming the file only
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY_FILE", str(key_file))
    with caplog.at_level("WARNING"):
        assert pseudonym.secret() == b"a-key-from-a-file"
    assert pseudonymise("1", site="huvr") == reference("huvr/1", b"a-key-from-a-file")
    assert "chmod 600" in caplog.text and "a-key-from-a-file" not in caplog.text
    caplog.clear()
    pseudonym.secret()  # said once, not at every batch
    assert caplog.text == ""


@pytest.mark.parametrize(
    "problem, message",
    [
        ("both", "both CARTWH_PSEUDONYM_KEY and CARTWH_PSEUDONYM_KEY_FILE are set: set one of them"),
        ("missing", "CARTWH_PSEUDONYM_KEY_FILE: cannot read the key file {file}: No such file or directory"),
        ("empty", "CARTWH_PSEUDONYM_KEY_FILE: the key file {file} is empty"),
    ],
)
def test_a_misconfigured_key_is_one_clear_error_without_the_key(tmp_path, monkeypatch, problem, message):
    key_file = tmp_path / "pseudonym.key"
    if problem != "missing":
        key_file.write_text("" if problem == "empty" else "key-in-file\n")
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY_FILE", str(key_file))
    if problem == "both":
        monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", "key-in-variable")
    else:
        monkeypatch.delenv("CARTWH_PSEUDONYM_KEY", raising=False)
    with pytest.raises(pseudonym.PseudonymKeyError) as raised:
        pseudonym.secret()
    assert str(raised.value) == message.format(file=key_file)
    assert "key-in" not in str(raised.value)


def test_fingerprint_is_a_keyed_hash_of_a_constant():
    expected = hmac.new(KEY, b"cartwh pseudonym key fingerprint v1", hashlib.sha256).hexdigest()
    assert pseudonym.key_fingerprint(KEY) == expected != pseudonym.key_fingerprint(b"another-key")
    assert KEY.hex() not in expected
