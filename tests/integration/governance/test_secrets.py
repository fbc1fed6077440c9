"""Secrets in the database: encrypted at rest, resolved per tenant, audited, rotated all or nothing."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from django_automate import exceptions
from django_automate.audit.chain import verify
from django_automate.models import AuditEntry, Secret
from django_automate.secrets import crypto
from django_automate.secrets.refs import Resolver, SecretNotFound, env_var_name, resolve_name
from django_automate.secrets.store import delete_secret, put_secret, rotate_keys

pytestmark = pytest.mark.django_db

OLD, NEW, OTHER = (Fernet.generate_key().decode() for _ in range(3))


@pytest.fixture
def keys(settings):
    def use(*values: str) -> None:
        settings.AUTOMATE = {**django_settings.AUTOMATE, "ENCRYPTION_KEYS": list(values)}

    use(OLD)
    return use


def test_put_secret_stores_only_ciphertext_and_audits_create_then_update(keys):
    secret = put_secret(name="crm/api.key", value="v1-plaintext", description="CRM", actor="alice")
    assert "v1-plaintext" not in secret.ciphertext
    assert resolve_name("crm/api.key") == "v1-plaintext"
    put_secret(name="crm/api.key", value="v2-plaintext", description="CRM v2", actor="bob")
    assert Secret.objects.count() == 1
    assert resolve_name("crm/api.key") == "v2-plaintext"
    entries = list(AuditEntry.objects.order_by("seq").values_list("action", "actor", "object_id", "data"))
    assert entries == [
        ("secret.created", "alice", str(secret.pk), {"name": "crm/api.key", "description": "CRM"}),
        ("secret.updated", "bob", str(secret.pk), {"name": "crm/api.key", "description": "CRM v2"}),
    ]
    assert "plaintext" not in str(list(AuditEntry.objects.values()))


def test_delete_secret_is_audited_and_references_then_fail_closed(keys):
    secret = put_secret(name="GONE", value="x", actor="alice")
    delete_secret(secret, actor="carol")
    assert AuditEntry.objects.order_by("-seq").values_list("action", "actor").first() == ("secret.deleted", "carol")
    with pytest.raises(SecretNotFound):
        Resolver().resolve("$secret:GONE")
    with pytest.raises(exceptions.ResourceNotFound):
        delete_secret(secret, actor="carol")


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [("bad name", "v", "name"), ("", "v", "name"), ("n" * 201, "v", "name"), ("OK", "", "value")],
)
def test_invalid_input_is_rejected_without_echoing_the_value(keys, name, value, field):
    with pytest.raises(exceptions.ValidationError) as info:
        put_secret(name=name, value=value)
    assert info.value.details["errors"][0]["field"] == field
    assert Secret.objects.count() == 0 and AuditEntry.objects.count() == 0


def test_a_value_is_never_echoed_in_validation_errors(keys):
    with pytest.raises(exceptions.ValidationError) as info:
        put_secret(name="bad name", value="do-not-echo-me", description="x" * 300)
    assert "do-not-echo-me" not in str(info.value.message) + str(info.value.details)


def test_tenants_see_their_own_secret_then_the_operators_never_another_tenants(keys, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "SHARED_SECRETS": ["TOKEN"]}  # the operator shares TOKEN
    put_secret(name="TOKEN", value="operator")
    put_secret(name="TOKEN", value="acme-value", tenant="acme")
    put_secret(name="ONLY_GLOBEX", value="globex-value", tenant="globex")
    assert Resolver(tenant="acme").resolve("$secret:TOKEN") == "acme-value"
    assert Resolver(tenant="initech").resolve("$secret:TOKEN") == "operator"
    assert Resolver().resolve("$secret:TOKEN") == "operator"
    with pytest.raises(SecretNotFound):
        Resolver(tenant="acme").resolve("$secret:ONLY_GLOBEX")


def test_environment_and_settings_come_before_the_database(keys, settings, monkeypatch):
    put_secret(name="ORDER", value="from-db")
    assert resolve_name("ORDER") == "from-db"
    settings.AUTOMATE = {**settings.AUTOMATE, "SECRETS": {"ORDER": "from-settings"}}
    assert resolve_name("ORDER") == "from-settings"
    monkeypatch.setenv(env_var_name("ORDER"), "from-env")
    assert resolve_name("ORDER") == "from-env"


def test_rotation_of_a_thousand_secrets_then_dropping_the_old_key_keeps_all_readable(keys):
    Secret.objects.bulk_create(Secret(name=f"S{i:04d}", ciphertext=crypto.encrypt(f"value-{i}")) for i in range(1000))
    keys(NEW, OLD)
    assert rotate_keys(actor="ops") == 1000
    keys(NEW)
    assert [resolve_name(f"S{i:04d}") for i in range(0, 1000, 37)] == [f"value-{i}" for i in range(0, 1000, 37)]
    assert all(crypto.decrypt(token) for token in Secret.objects.values_list("ciphertext", flat=True))
    entry = AuditEntry.objects.get(action="secret.rotated")
    assert entry.data == {"count": 1000, "fingerprint": crypto.fingerprint(NEW)}
    assert verify().ok


def test_a_wrong_key_fails_closed_for_resolution_and_rotation_changes_nothing(keys):
    put_secret(name="A", value="a-value")
    before = list(Secret.objects.values_list("ciphertext", flat=True))
    keys(OTHER)
    with pytest.raises(crypto.SecretDecryptionFailed):
        resolve_name("A")
    with pytest.raises(crypto.SecretDecryptionFailed):
        rotate_keys()
    assert list(Secret.objects.values_list("ciphertext", flat=True)) == before
    assert not AuditEntry.objects.filter(action="secret.rotated").exists()


def test_rotate_keys_command_reports_the_count_and_fails_loudly(keys):
    put_secret(name="A", value="a-value")
    keys(NEW, OLD)
    out = io.StringIO()
    call_command("automate", "rotate-keys", stdout=out)
    assert "Re-encrypted 1 secrets" in out.getvalue()
    keys(OTHER)
    with pytest.raises(CommandError, match="secret_decryption_failed"):
        call_command("automate", "rotate-keys", stdout=io.StringIO())


def test_without_encryption_keys_the_database_backend_is_off(keys, settings):
    put_secret(name="STORED", value="v")
    settings.AUTOMATE = {k: v for k, v in settings.AUTOMATE.items() if k != "ENCRYPTION_KEYS"}
    with pytest.raises(SecretNotFound):
        resolve_name("STORED")
    with pytest.raises(crypto.EncryptionNotConfigured):
        put_secret(name="OTHER", value="v")
