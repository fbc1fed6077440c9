"""The permission matrix of docs/api.md: each operation x (anonymous, no-perm, viewer, editor, other tenant)."""

from __future__ import annotations

import uuid

import pytest

from django_automate.audit import log as audit
from django_automate.ingestion.events import record_event
from django_automate.models import Budget, ExecutionRun, Schedule
from django_automate.secrets import store

pytestmark = pytest.mark.django_db

MODELS = ("event", "webhookendpoint", "rulespec", "workflow", "executionrun", "schedule", "secret", "budget")
VIEWER = (*(f"view_{m}" for m in MODELS), "view_auditentry")
EDITOR = (
    *VIEWER,
    *(f"{verb}_{m}" for verb in ("add", "change", "delete") for m in MODELS),
    "replay_event",
    "view_raw_payload",
    "manage_secrets",
)
ROLES = ("anonymous", "noperm", "viewer", "editor", "other")
DEFINITION = {"steps": [{"id": "say", "connector": "log", "action": "write", "with": {"message": "hi"}}]}


def row(anonymous: int, noperm: int, viewer: int, editor: int, other: int) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, noperm, viewer, editor, other), strict=True))


# (operation, method, path, body, expected statuses). Deletes come last: they remove the seeded rows.
OPERATIONS = [
    ("events list", "GET", "events/", None, row(401, 403, 200, 200, 200)),
    ("events retrieve", "GET", "events/{event}/", None, row(401, 403, 200, 200, 404)),
    ("events retrieve raw", "GET", "events/{event}/?raw=true", None, row(401, 403, 403, 200, 404)),
    ("events create", "POST", "events/", {"type": "order.created", "payload": {"id": 2}}, row(401, 403, 403, 201, 201)),
    ("events replay", "POST", "events/{event}/replay/", None, row(401, 403, 403, 202, 404)),
    ("endpoints list", "GET", "endpoints/", None, row(401, 403, 200, 200, 200)),
    ("endpoints retrieve", "GET", "endpoints/{endpoint}/", None, row(401, 403, 200, 200, 404)),
    ("endpoints create", "POST", "endpoints/", {"slug": "new-hook", "event_type": "x"}, row(401, 403, 403, 201, 201)),
    ("endpoints update", "PATCH", "endpoints/{endpoint}/", {"name": "Renamed"}, row(401, 403, 403, 200, 404)),
    ("rules list", "GET", "rules/", None, row(401, 403, 200, 200, 200)),
    ("rules retrieve", "GET", "rules/{rule}/", None, row(401, 403, 200, 200, 404)),
    (
        "rules create",
        "POST",
        "rules/",
        {"name": "new", "event_type": "order.*", "workflow": "wf"},
        row(401, 403, 403, 201, 400),  # other tenant: no workflow "wf" in its tenant
    ),
    ("rules update", "PATCH", "rules/{rule}/", {"priority": 5}, row(401, 403, 403, 200, 404)),
    ("rules test", "POST", "rules/test/", {"rule_id": "{rule}", "event_id": "{event}"}, row(401, 403, 200, 200, 404)),
    ("workflows list", "GET", "workflows/", None, row(401, 403, 200, 200, 200)),
    ("workflows retrieve", "GET", "workflows/wf/", None, row(401, 403, 200, 200, 404)),
    (
        "workflows create",
        "POST",
        "workflows/",
        {"slug": "new-wf", "name": "New", "definition": DEFINITION},
        row(401, 403, 403, 201, 201),
    ),
    ("workflows update", "PATCH", "workflows/wf/", {"name": "Renamed"}, row(401, 403, 403, 200, 404)),
    ("workflows publish", "POST", "workflows/wf/publish/", {"definition": DEFINITION}, row(401, 403, 403, 201, 404)),
    ("workflows versions", "GET", "workflows/wf/versions/", None, row(401, 403, 200, 200, 404)),
    ("runs list", "GET", "runs/", None, row(401, 403, 200, 200, 200)),
    ("runs retrieve", "GET", "runs/{failed_run}/", None, row(401, 403, 200, 200, 404)),
    ("runs retry", "POST", "runs/{failed_run}/retry/", None, row(401, 403, 403, 202, 404)),
    ("runs cancel", "POST", "runs/{pending_run}/cancel/", None, row(401, 403, 403, 200, 404)),
    ("schedules list", "GET", "schedules/", None, row(401, 403, 200, 200, 200)),
    ("schedules retrieve", "GET", "schedules/{schedule}/", None, row(401, 403, 200, 200, 404)),
    (
        "schedules create",
        "POST",
        "schedules/",
        {"name": "hourly", "interval_seconds": 3600},
        row(401, 403, 403, 201, 201),
    ),
    ("schedules update", "PATCH", "schedules/{schedule}/", {"enabled": False}, row(401, 403, 403, 200, 404)),
    ("secrets list", "GET", "secrets/", None, row(401, 403, 200, 200, 200)),
    ("secrets retrieve", "GET", "secrets/{secret}/", None, row(401, 403, 200, 200, 404)),
    ("secrets create", "POST", "secrets/", {"name": "NEW", "value": "s3cret"}, row(401, 403, 403, 201, 201)),
    ("secrets update", "PATCH", "secrets/{secret}/", {"value": "rotated"}, row(401, 403, 403, 200, 404)),
    ("budgets list", "GET", "budgets/", None, row(401, 403, 200, 200, 200)),
    ("budgets retrieve", "GET", "budgets/{budget}/", None, row(401, 403, 200, 200, 404)),
    ("budgets usage", "GET", "budgets/{budget}/usage/", None, row(401, 403, 200, 200, 404)),
    (
        "budgets create",
        "POST",
        "budgets/",
        {"scope": "global", "metric": "runs", "limit": "5", "period": "day"},
        row(401, 403, 403, 201, 201),
    ),
    ("budgets update", "PATCH", "budgets/{budget}/", {"limit": "20"}, row(401, 403, 403, 200, 404)),
    ("audit list", "GET", "audit/", None, row(401, 403, 200, 200, 200)),
    ("audit retrieve", "GET", "audit/{audit}/", None, row(401, 403, 200, 200, 404)),
    ("traces retrieve", "GET", "traces/{trace}/", None, row(401, 403, 200, 200, 404)),
    ("connectors list", "GET", "connectors/", None, row(401, 200, 200, 200, 200)),
    ("connectors retrieve", "GET", "connectors/log/", None, row(401, 200, 200, 200, 200)),
    ("endpoints delete", "DELETE", "endpoints/{endpoint}/", None, row(401, 403, 403, 204, 404)),
    ("rules delete", "DELETE", "rules/{rule}/", None, row(401, 403, 403, 204, 404)),
    ("schedules delete", "DELETE", "schedules/{schedule}/", None, row(401, 403, 403, 204, 404)),
    ("secrets delete", "DELETE", "secrets/{secret}/", None, row(401, 403, 403, 204, 404)),
    ("budgets delete", "DELETE", "budgets/{budget}/", None, row(401, 403, 403, 204, 404)),
]


@pytest.fixture
def world(workflow_factory, rule_factory, endpoint_factory) -> dict[str, str]:
    """One of everything in the default tenant ""."""
    workflow = workflow_factory()
    rule = rule_factory(workflow)
    endpoint = endpoint_factory()
    event = record_event(type="order.created", payload={"id": 1}, source="api", trace_id=str(uuid.uuid4())).event
    runs = {
        name: ExecutionRun.objects.create(
            event=event,
            workflow=workflow,
            workflow_version=workflow.current_version,
            status=status,
            replay_seq=seq,
            trace_id=event.trace_id,
        )
        for seq, (name, status) in enumerate((("failed_run", "failed"), ("pending_run", "pending")))
    }
    audit_entry = audit.record("test.seeded", tenant="", trace_id=event.trace_id)
    return {
        "event": str(event.id),
        "trace": event.trace_id,
        "rule": str(rule.id),
        "endpoint": str(endpoint.id),
        "schedule": str(Schedule.objects.create(name="nightly", cron="0 3 * * *").id),
        "secret": str(store.put_secret(name="TOKEN", value="v", actor="test").id),
        "budget": str(Budget.objects.create(scope="global", metric="runs", limit=10, period="day").id),
        "audit": str(audit_entry.id),
        **{name: str(run.id) for name, run in runs.items()},
    }


def client_for(role, make_client, anonymous):
    if role == "anonymous":
        return anonymous
    perms = {"noperm": (), "viewer": VIEWER, "editor": EDITOR, "other": EDITOR}[role]
    return make_client(*perms, tenant="other" if role == "other" else "")


def fill(value, world):
    if isinstance(value, str):
        return value.format(**world)
    if isinstance(value, dict):
        return {k: fill(v, world) for k, v in value.items()}
    return value


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(role, world, make_client, anonymous):
    client = client_for(role, make_client, anonymous)
    mismatches = []
    for name, method, path, body, expected in OPERATIONS:
        response = client.request(method, fill(path, world), fill(body, world) if body is not None else None)
        if response.status_code != expected[role]:
            mismatches.append((name, expected[role], response.status_code, response.content[:200]))
        if role == "other" and method == "GET" and name.endswith(" list") and response.status_code == 200:
            data = response.json()
            rows = data["results"] if isinstance(data, dict) else data
            assert not {str(r.get("id")) for r in rows} & set(world.values()), f"{name} leaks another tenant's rows"
    assert mismatches == []


def test_anonymous_gets_401_with_bearer_challenge_and_others_403(anonymous, make_client, world):
    response = anonymous.get("events/")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    response = make_client().get("events/")
    assert response.status_code == 403
    assert response.json()["details"] == {"required": ["automate.view_event"]}
    assert not response.has_header("WWW-Authenticate")
