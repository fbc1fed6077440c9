"""``traces/<trace_id>/`` by caller, and failed authentication being throttled like any other call."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from django_automate.api.tokens import create_token
from django_automate.audit import log as audit
from django_automate.ingestion.events import record_event
from django_automate.models import ExecutionRun
from tests.integration.api.conftest import ApiClient, grant
from tests.integration.api.test_errors import assert_error

pytestmark = pytest.mark.django_db

TRACE_PERMS = ("view_event", "view_executionrun")


@pytest.fixture
def trace_id(workflow_factory) -> str:
    trace_id = str(uuid.uuid4())
    workflow = workflow_factory()
    event = record_event(type="order.created", payload={"id": 1}, source="api", trace_id=trace_id).event
    ExecutionRun.objects.create(
        event=event, workflow=workflow, workflow_version=workflow.current_version, status="failed", trace_id=trace_id
    )
    audit.record("run.retried", actor="ops", object_type="run", object_id="1", trace_id=trace_id)
    return trace_id


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()
    yield
    cache.clear()


def kinds(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [entry["kind"] for entry in response.json()["entries"]]


def test_trace_answers_401_403_or_200_by_permission(trace_id, anonymous, make_client):
    path = f"traces/{trace_id}/"
    assert_error(anonymous.get(path), 401, "not_authenticated")
    assert_error(make_client().get(path), 403, "permission_denied")
    for perm in TRACE_PERMS:
        assert_error(make_client(perm).get(path), 403, "permission_denied")
    assert kinds(make_client(*TRACE_PERMS).get(path)) == ["event", "run"]
    assert kinds(make_client(superuser=True).get(path)) == ["event", "run", "audit"]


def test_trace_shows_audit_entries_only_with_view_auditentry(trace_id, make_client):
    path = f"traces/{trace_id}/"
    assert "audit" not in kinds(make_client(*TRACE_PERMS).get(path))
    entries = make_client(*TRACE_PERMS, "view_auditentry").get(path).json()["entries"]
    assert [e["data"]["action"] for e in entries if e["kind"] == "audit"] == ["run.retried"]


def test_trace_of_only_audit_entries_does_not_exist_without_their_permission(make_client):
    trace_id = str(uuid.uuid4())
    audit.record("thing.done", trace_id=trace_id)
    assert_error(make_client(*TRACE_PERMS).get(f"traces/{trace_id}/"), 404, "resource_not_found")
    assert kinds(make_client(*TRACE_PERMS, "view_auditentry").get(f"traces/{trace_id}/")) == ["audit"]


def test_trace_through_the_admin_session(trace_id):
    user = User.objects.create_user("ops", "ops@example.com", None, is_staff=True)
    client = ApiClient(Client())
    client.client.force_login(user)
    assert_error(client.get(f"traces/{trace_id}/"), 403, "permission_denied")
    grant(user, *TRACE_PERMS)
    client.client.force_login(User.objects.get(pk=user.pk))
    assert kinds(client.get(f"traces/{trace_id}/")) == ["event", "run"]


def bad_token() -> str:
    return f"atk_{uuid.uuid4().hex[:12]}_{'x' * 43}"


def test_guessing_tokens_is_throttled_with_a_normalized_error(settings, make_client, trace_id):
    settings.AUTOMATE = {**settings.AUTOMATE, "API_AUTH_FAILURE_RATE": "5/minute"}
    owner = make_client(*TRACE_PERMS)
    statuses = []
    for _ in range(8):
        response = ApiClient(Client(), bad_token()).get(f"traces/{trace_id}/")
        statuses.append(response.status_code)
        if response.status_code == 401:
            assert_error(response, 401, "not_authenticated")
    assert statuses == [401] * 5 + [429] * 3
    body = assert_error(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60 and "Traceback" not in str(body)
    # Once over the rate, a guess is not even checked: the right token from that client is refused too.
    assert_error(owner.get(f"traces/{trace_id}/"), 429, "throttled")
    # Other clients are not affected.
    elsewhere = ApiClient(Client(REMOTE_ADDR="10.1.2.3"), owner.token)
    assert kinds(elsewhere.get(f"traces/{trace_id}/")) == ["event", "run"]
    guess = ApiClient(Client(REMOTE_ADDR="10.1.2.3"), bad_token())
    assert_error(guess.get("events/"), 401, "not_authenticated")


def test_anonymous_calls_are_throttled(settings, anonymous):
    settings.AUTOMATE = {**settings.AUTOMATE, "API_AUTH_FAILURE_RATE": "3/minute"}
    statuses = [anonymous.get(path).status_code for path in ("events/", "connectors/", "runs/", "events/", "audit/")]
    assert statuses == [401, 401, 401, 429, 429]
    assert_error(anonymous.get("connectors/"), 429, "throttled")


def test_empty_bearer_tokens_count_as_failures(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "API_AUTH_FAILURE_RATE": "2/minute"}
    client = ApiClient(Client())
    statuses = [client.get("events/", Authorization="Bearer ").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_failed_authentication_is_not_throttled_when_throttling_is_off(settings, make_client, trace_id):
    settings.AUTOMATE = {**settings.AUTOMATE, "API_AUTH_FAILURE_RATE": None}
    assert {ApiClient(Client(), bad_token()).get("events/").status_code for _ in range(30)} == {401}
    assert kinds(make_client(*TRACE_PERMS).get(f"traces/{trace_id}/")) == ["event", "run"]


def test_successful_calls_do_not_count_as_failures(settings, make_user):
    settings.AUTOMATE = {**settings.AUTOMATE, "API_AUTH_FAILURE_RATE": "3/minute"}
    token = create_token(make_user("view_event")).plaintext
    client = ApiClient(Client(), token)
    # Authenticated calls are throttled by the view's own per-user rate, failures separately per client.
    assert [client.get("events/").status_code for _ in range(3)] == [200, 200, 200]
    assert ApiClient(Client(), bad_token()).get("events/").status_code == 401


def test_failed_authentication_is_throttled_by_default(settings):
    settings.AUTOMATE = {k: v for k, v in settings.AUTOMATE.items() if k != "API_AUTH_FAILURE_RATE"}
    client = ApiClient(Client(REMOTE_ADDR="10.9.9.9"), bad_token())
    statuses = [client.get("events/").status_code for _ in range(31)]
    assert statuses == [401] * 30 + [429]  # the default: 30 failures a minute per client address
