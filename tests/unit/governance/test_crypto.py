"""Fernet encryption of stored secrets: several keys, rotation, failing closed, system checks."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from django_automate.checks import check_encryption_keys
from django_automate.secrets import crypto

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_values_round_trip_and_the_ciphertext_does_not_contain_them(settings):
    settings.AUTOMATE = {"ENCRYPTION_KEYS": [OLD]}
    token = crypto.encrypt("hunter2-value")
    assert "hunter2" not in token
    assert crypto.decrypt(token) == "hunter2-value"


def test_a_new_first_key_still_decrypts_old_values_and_rotation_moves_them_to_it(settings):
    settings.AUTOMATE = {"ENCRYPTION_KEYS": [OLD]}
    token = crypto.encrypt("v")
    settings.AUTOMATE = {"ENCRYPTION_KEYS": [NEW, OLD]}
    assert crypto.decrypt(token) == "v"
    rotated = crypto.reencrypt(token)
    settings.AUTOMATE = {"ENCRYPTION_KEYS": [NEW]}
    assert crypto.decrypt(rotated) == "v"
    with pytest.raises(crypto.SecretDecryptionFailed):
        crypto.decrypt(token)


def test_a_wrong_key_fails_closed_without_revealing_anything(settings):
    settings.AUTOMATE = {"ENCRYPTION_KEYS": [OLD]}
    token = crypto.encrypt("plain-text-value")
    settings.AUTOMATE = {"ENCRYPTION_KEYS": [NEW]}
    with pytest.raises(crypto.SecretDecryptionFailed) as info:
        crypto.decrypt(token, name="API_TOKEN")
    assert info.value.code == "secret_decryption_failed"
    assert "API_TOKEN" in info.value.message and "plain-text" not in info.value.message
    with pytest.raises(crypto.SecretDecryptionFailed):
        crypto.reencrypt(token, name="API_TOKEN")


def test_encrypting_without_a_key_is_a_configuration_error(settings):
    settings.AUTOMATE = {}
    with pytest.raises(crypto.EncryptionNotConfigured):
        crypto.encrypt("v")


def check_ids(settings, keys: object) -> dict[str, str]:
    settings.AUTOMATE = {"ENCRYPTION_KEYS": keys}
    return {m.id: m.msg for m in check_encryption_keys(None) if m.id}


def test_system_checks_reject_bad_keys_without_echoing_them(settings):
    assert check_ids(settings, [NEW, OLD]) == {}
    assert set(check_ids(settings, "not-a-list")) == {"automate.E040"}
    messages = check_ids(settings, [NEW, "short-secret-key"])
    assert set(messages) == {"automate.E041"}
    assert "entry 1" in messages["automate.E041"] and "short-secret-key" not in messages["automate.E041"]
    assert set(check_ids(settings, [NEW, NEW])) == {"automate.W040"}


def test_fingerprints_identify_keys_without_revealing_them():
    assert crypto.fingerprint(NEW) == crypto.fingerprint(NEW) != crypto.fingerprint(OLD)
    assert len(crypto.fingerprint(NEW)) == 12 and crypto.fingerprint(NEW) not in NEW
