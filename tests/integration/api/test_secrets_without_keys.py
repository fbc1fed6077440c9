"""A project set up with the README's minimal settings: storing a secret is a clear 400, never a 500."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from django_automate.checks import check_encryption_configured, check_encryption_keys
from django_automate.models import AuditEntry, Secret

pytestmark = pytest.mark.django_db


def test_storing_a_secret_without_encryption_keys_answers_a_clear_400(settings, admin_api):
    settings.AUTOMATE = {key: value for key, value in settings.AUTOMATE.items() if key != "ENCRYPTION_KEYS"}
    audited = AuditEntry.objects.count()

    response = admin_api.post("secrets/", {"name": "STRIPE_KEY", "value": "sk_live_canary"})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"  # the documented code of a 400; the precise one is the reason
    assert body["details"]["reason"] == "encryption_not_configured"
    assert "ENCRYPTION_KEYS" in body["message"] and body["trace_id"]
    assert "sk_live_canary" not in response.content.decode()
    assert not Secret.objects.exists() and AuditEntry.objects.count() == audited


def test_deploy_check_warns_when_no_encryption_key_is_set(settings):
    for automate in ({}, {"ENCRYPTION_KEYS": []}):
        settings.AUTOMATE = automate
        assert [m.id for m in check_encryption_configured(None)] == ["automate.W042"]
        assert check_encryption_keys(None) == []  # not an error of the keys: there are none
    settings.AUTOMATE = {"ENCRYPTION_KEYS": ["ZXhhbXBsZS1vbmx5LWtleS1kby1ub3QtdXNlLTEyMzQ="]}
    assert check_encryption_configured(None) == []


def test_manage_py_check_deploy_passes_with_the_warning(settings, capsys):
    settings.AUTOMATE = {}
    call_command("check")
    assert "automate.W042" not in capsys.readouterr().err  # every command runs these: no noise
    # CRITICAL: the deploy findings of the test project itself (e.g. async.E001 under the browser tests) do not count.
    call_command("check", deploy=True, fail_level="CRITICAL")
    assert "automate.W042" in capsys.readouterr().err
