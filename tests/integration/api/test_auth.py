"""Tokens (hashed, revocable, created by a command), sessions, tenant resolution and the API's checks."""

from __future__ import annotations

import hashlib
import io
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from django_automate.api.checks import check_api
from django_automate.api.tokens import create_token, revoke_token
from django_automate.ingestion.events import record_event
from django_automate.models import ApiToken, AuditEntry

from .conftest import ApiClient

pytestmark = pytest.mark.django_db


def tenant_from_header(request) -> str:
    """A TENANT_RESOLVER for the tests: the tenant named by a header."""
    return request.headers.get("X-Tenant", "")


def test_tokens_are_stored_as_prefix_and_hash_only(make_user):
    user = make_user()
    new = create_token(user, name="ci", tenant="acme")
    token = ApiToken.objects.get(pk=new.token.pk)
    assert new.plaintext.startswith(f"atk_{token.prefix}_") and len(token.prefix) == 12
    assert token.key_hash == hashlib.sha256(new.plaintext.encode()).hexdigest()
    secret_part = new.plaintext.rsplit("_", 1)[-1]
    assert secret_part not in str(ApiToken.objects.values_list()) + str(AuditEntry.objects.values_list())
    assert AuditEntry.objects.filter(action="api_token.created", object_id=str(token.pk)).exists()


@pytest.mark.parametrize(
    "header",
    ["Bearer atk_000000000000_" + "A" * 43, "Bearer nonsense", "Bearer ", "Bearer atk_x"],
)
def test_unknown_or_malformed_tokens_answer_not_authenticated(anonymous, header):
    response = anonymous.get("events/", Authorization=header)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="automate"'


def test_a_token_with_a_wrong_secret_or_revoked_or_inactive_user_is_rejected(make_client):
    client = make_client("view_event")
    assert client.get("events/").status_code == 200
    forged = client.token[:-4] + ("AAAA" if not client.token.endswith("AAAA") else "BBBB")
    assert ApiClient(Client(), forged).get("events/").status_code == 401
    token = ApiToken.objects.get(user=client.user)
    assert token.last_used_at is not None
    client.user.is_active = False
    client.user.save()
    assert client.get("events/").status_code == 401
    client.user.is_active = True
    client.user.save()
    revoke_token(token, actor="test")
    response = client.get("events/")
    assert response.status_code == 401 and "revoked" in response.json()["message"]


def test_session_users_get_their_tenant_from_the_resolver(make_user, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "TENANT_RESOLVER": f"{__name__}.tenant_from_header"}
    acme = record_event(type="a", payload={}, source="api", tenant="acme", trace_id=str(uuid.uuid4())).event
    record_event(type="b", payload={}, source="api", tenant="", trace_id=str(uuid.uuid4()))
    client = Client()
    client.force_login(make_user("view_event"))
    listed = client.get("/automate/api/v1/events/", headers={"X-Tenant": "acme"}).json()["results"]
    assert [e["id"] for e in listed] == [str(acme.id)]
    assert len(client.get("/automate/api/v1/events/").json()["results"]) == 1  # tenant ""


def test_session_writes_need_the_csrf_token(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("add_event"))
    response = client.post("/automate/api/v1/events/", {"type": "a"}, content_type="application/json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert "CSRF" in response.json()["message"]


def test_the_token_command_prints_the_token_once_and_revokes(make_user):
    user = make_user("view_event")
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "automate", "token", "create", user.username, "--name", "ci", "--tenant", "acme", stdout=out, stderr=err
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("atk_")
    token = ApiToken.objects.get(user=user)
    assert token.name == "ci" and token.tenant == "acme" and str(token.pk) in err.getvalue()
    client = ApiClient(Client(), lines[0])
    assert client.get("events/").status_code == 200
    out = io.StringIO()
    call_command("automate", "token", "revoke", str(token.pk), stdout=out)
    assert "revoked" in out.getvalue()
    assert client.get("events/").status_code == 401
    with pytest.raises(CommandError):
        call_command("automate", "token", "create", "nobody", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError):
        call_command("automate", "token", "revoke", str(uuid.uuid4()), stdout=io.StringIO())


@pytest.mark.parametrize(
    ("settings_value", "check_id"),
    [
        ({"TENANT_RESOLVER": "no.such.module.resolver"}, "automate.E050"),
        ({"TENANT_RESOLVER": "django_automate.conf.DEFAULTS"}, "automate.E050"),
        ({"API_PAGE_SIZE": 600}, "automate.E051"),
        ({"API_MAX_PAGE_SIZE": 0}, "automate.E051"),
        ({"API_THROTTLE_RATE": "lots"}, "automate.E052"),
        ({"API_CURSOR_SAFETY_SECONDS": -1}, "automate.E053"),
        ({"API_MAX_BODY_BYTES": "1MB"}, "automate.E054"),
    ],
)
def test_bad_api_settings_are_reported(settings, settings_value, check_id):
    settings.AUTOMATE = settings_value
    assert [m.id for m in check_api()] == [check_id]


def test_default_api_settings_pass(settings):
    settings.AUTOMATE = {"TENANT_RESOLVER": f"{__name__}.tenant_from_header", "API_THROTTLE_RATE": "600/minute"}
    assert check_api() == []
