"""What each resource does: idempotent event creation, redaction, operator actions, audited writes."""

from __future__ import annotations

import uuid

import pytest

from django_automate.audit import log as audit
from django_automate.ingestion.events import record_event
from django_automate.models import AuditEntry, Event, ExecutionRun, OutboxJob, RuleSpec, Secret, StepRun, Workflow

pytestmark = pytest.mark.django_db

DEFINITION = {"steps": [{"id": "say", "connector": "log", "action": "write", "with": {"message": "hi"}}]}


def actions(object_id) -> list[str]:
    return list(AuditEntry.objects.filter(object_id=str(object_id)).order_by("seq").values_list("action", flat=True))


# -- events -------------------------------------------------------------------------------


def test_creating_an_event_is_idempotent_per_key(admin_api):
    body = {"type": "order.paid", "payload": {"id": 7, "password": "hunter2"}}
    first = admin_api.post("events/", body, **{"Idempotency-Key": "order-7"})
    assert first.status_code == 201
    event = first.json()
    assert event["source"] == "api" and event["payload"] == {"id": 7, "password": "[REDACTED]"}
    assert first["Location"].endswith(f"/events/{event['id']}/")
    assert OutboxJob.objects.filter(event_id=event["id"], kind="route_event").count() == 1
    again = admin_api.post("events/", body, **{"Idempotency-Key": "order-7"})
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == event["id"] and Event.objects.count() == 1
    other = admin_api.post("events/", {**body, "payload": {"id": 8}}, **{"Idempotency-Key": "order-7"})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    retyped = admin_api.post("events/", {**body, "type": "order.refunded"}, **{"Idempotency-Key": "order-7"})
    assert retyped.status_code == 409
    assert admin_api.post("events/", body, **{"Idempotency-Key": "x" * 256}).status_code == 400
    assert admin_api.post("events/", body).status_code == 201  # no key: a new event each time
    assert admin_api.post("events/", body).status_code == 201


def test_events_carry_the_request_trace_id_and_tenant(make_client):
    client = make_client("add_event", "view_event", tenant="acme")
    trace_id = str(uuid.uuid4())
    created = client.post("events/", {"type": "a"}, **{"X-Trace-Id": trace_id}).json()
    assert created["trace_id"] == trace_id and created["tenant"] == "acme"
    assert Event.objects.get(id=created["id"]).tenant == "acme"


def test_raw_payloads_need_the_permission_and_are_audited(make_client):
    event = record_event(
        type="a", payload={"token": "s3cret"}, source="api", trace_id=str(uuid.uuid4()), headers={"cookie": "c"}
    ).event
    viewer = make_client("view_event")
    assert viewer.get(f"events/{event.id}/").json()["payload"] == {"token": "[REDACTED]"}
    assert viewer.get(f"events/{event.id}/?raw=true").status_code == 403
    assert viewer.get("events/?raw=true").status_code == 403
    assert viewer.get("events/?raw=maybe").status_code == 400
    assert "raw_payload.viewed" not in actions(event.id)
    raw_viewer = make_client("view_event", "view_raw_payload")
    raw = raw_viewer.get(f"events/{event.id}/?raw=true").json()
    assert raw["payload"] == {"token": "s3cret"} and raw["headers"] == {"cookie": "c"}
    entry = AuditEntry.objects.get(action="raw_payload.viewed", object_id=str(event.id))
    assert entry.actor.startswith(raw_viewer.user.username) and entry.data == {"events": [str(event.id)]}
    listed = raw_viewer.get("events/?raw=true").json()["results"]
    assert listed[0]["payload"] == {"token": "s3cret"}
    assert AuditEntry.objects.filter(action="raw_payload.viewed").count() == 2


def test_replaying_an_event_creates_new_runs(admin_api, workflow_factory, rule_factory):
    workflow = workflow_factory()
    rule_factory(workflow)
    event = record_event(type="order.created", payload={}, source="api", trace_id=str(uuid.uuid4())).event
    response = admin_api.post(f"events/{event.id}/replay/")
    assert response.status_code == 202
    runs = response.json()["runs"]
    assert [(r["workflow"], r["version"], r["status"]) for r in runs] == [("wf", 1, "pending")]
    assert ExecutionRun.objects.get(id=runs[0]["id"]).event_id == event.id
    assert "event.replayed" in actions(event.id)


# -- runs ---------------------------------------------------------------------------------


@pytest.fixture
def run(workflow_factory):
    workflow = workflow_factory()
    event = record_event(type="order.created", payload={}, source="api", trace_id=str(uuid.uuid4())).event
    run = ExecutionRun.objects.create(
        event=event, workflow=workflow, workflow_version=workflow.current_version, status="failed", trace_id="t"
    )
    StepRun.objects.create(
        run=run,
        step_id="say",
        step_index=0,
        attempt=1,
        connector="log",
        action="write",
        status="failed",
        idempotency_key=f"{run.id}:say",
        input={"message": "hi", "api_key": "k"},
        error={"code": "permanent_error"},
        trace_id="t",
    )
    return run


def test_runs_show_their_steps_redacted_and_filter(admin_api, run):
    detail = admin_api.get(f"runs/{run.id}/").json()
    assert detail["workflow"] == "wf" and detail["version"] == 1 and detail["event"] == str(run.event_id)
    assert detail["steps"][0]["input"] == {"message": "hi", "api_key": "[REDACTED]"}
    assert [r["id"] for r in admin_api.get("runs/?status=failed&workflow=wf").json()["results"]] == [str(run.id)]
    assert admin_api.get("runs/?status=succeeded").json()["results"] == []
    assert admin_api.get(f"runs/?event={run.event_id}").json()["results"][0]["id"] == str(run.id)


def test_retry_and_cancel_follow_the_state_machine(admin_api, run):
    retried = admin_api.post(f"runs/{run.id}/retry/")
    assert retried.status_code == 202 and retried.json()["status"] == "running"
    again = admin_api.post(f"runs/{run.id}/retry/")
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert admin_api.post(f"runs/{run.id}/cancel/").json()["status"] == "cancelled"
    assert admin_api.post(f"runs/{run.id}/cancel/").status_code == 409
    assert actions(run.id) == ["run.retried", "run.cancelled"]


# -- control plane ------------------------------------------------------------------------


def test_endpoints_are_audited_and_take_secret_refs_only(admin_api):
    bad = admin_api.post("endpoints/", {"slug": "gh", "event_type": "x", "scheme": "github", "secrets": ["plain"]})
    assert bad.status_code == 400 and "secrets" in bad.json()["details"]["fields"]
    missing = admin_api.post("endpoints/", {"slug": "gh", "event_type": "x", "scheme": "github"})
    assert missing.status_code == 400
    body = {"slug": "gh", "event_type": "github.{{ headers.x-github-event }}", "scheme": "github"}
    created = admin_api.post("endpoints/", {**body, "secrets": ["$secret:GH_HOOK"]})
    assert created.status_code == 201, created.content
    endpoint = created.json()
    assert admin_api.post("endpoints/", {**body, "secrets": ["$secret:GH_HOOK"]}).status_code == 409
    assert admin_api.patch(f"endpoints/{endpoint['id']}/", {"enabled": False}).json()["enabled"] is False
    assert admin_api.post("endpoints/", {"slug": "x", "event_type": "{{ nope }}"}).status_code == 400
    assert admin_api.delete(f"endpoints/{endpoint['id']}/").status_code == 204
    assert actions(endpoint["id"]) == ["endpoint.created", "endpoint.updated", "endpoint.deleted"]


def test_rules_name_their_workflow_by_slug_and_bump_versions(admin_api, workflow_factory, make_client):
    workflow_factory()
    created = admin_api.post("rules/", {"name": "paid", "event_type": "order.*", "workflow": "wf"}).json()
    assert created["workflow"] == "wf" and created["condition"] is True and created["version"] == 1
    updated = admin_api.patch(f"rules/{created['id']}/", {"condition": {"==": [{"var": "event.type"}, "order.paid"]}})
    assert updated.json()["version"] == 2
    invalid = admin_api.patch(f"rules/{created['id']}/", {"condition": {"nope": []}})
    assert invalid.status_code == 400 and "condition" in invalid.json()["details"]["fields"]
    assert admin_api.post("rules/", {"name": "paid", "event_type": "x", "workflow": "wf"}).status_code == 409
    assert admin_api.post("rules/", {"name": "other", "event_type": "x", "workflow": "nope"}).status_code == 400
    assert actions(created["id"]) == ["rule.created", "rule.updated"]
    other_tenant = make_client("add_rulespec", tenant="acme")
    assert other_tenant.post("rules/", {"name": "x", "event_type": "x", "workflow": "wf"}).status_code == 400


def test_rule_test_explains_stored_and_sample_events(admin_api, make_client, workflow_factory):
    workflow = workflow_factory()
    rule = RuleSpec.objects.create(
        name="big", event_type="order.*", workflow=workflow, condition={">": [{"var": "event.payload.total"}, 100]}
    )
    sample = {"event": {"type": "order.paid", "payload": {"total": 150}}}
    result = admin_api.post("rules/test/", {**sample, "rule_id": str(rule.id)}).json()
    assert result["matched"] is True and result["results"][0]["explanation"]["op"] == ">"
    draft = {"event_type": "order.*", "condition": {"<": [{"var": "event.payload.total"}, 100]}}
    result = admin_api.post("rules/test/", {**sample, "rule": draft}).json()
    assert result["matched"] is False and result["results"][0]["rule_id"] is None
    all_rules = admin_api.post("rules/test/", sample).json()
    assert [r["name"] for r in all_rules["results"]] == ["big"]
    event = record_event(
        type="order.paid", payload={"total": 150, "token": "t0p"}, source="api", trace_id=str(uuid.uuid4())
    ).event
    RuleSpec.objects.filter(pk=rule.pk).update(condition={"!!": [{"var": "event.payload.token"}]})
    viewer = make_client("view_rulespec", "view_event")
    refused = viewer.post("rules/test/", {"rule_id": str(rule.id), "event_id": str(event.id)})
    # reading a redacted key of a stored event needs view_raw_payload (the verdict alone would leak it)
    assert refused.status_code == 403 and refused.json()["details"]["path"] == "event.payload.token"
    assert "t0p" not in refused.content.decode()
    RuleSpec.objects.filter(pk=rule.pk).update(condition={">": [{"var": "event.payload.total"}, 100]})
    stored = viewer.post("rules/test/", {"rule_id": str(rule.id), "event_id": str(event.id)}).json()
    assert stored["matched"] is True and stored["redacted"] is True
    assert make_client("view_rulespec").post("rules/test/", {"event_id": str(event.id)}).status_code == 403
    assert admin_api.post("rules/test/", {"rule": draft}).status_code == 400
    assert admin_api.post("rules/test/", {**sample, "rule": {"condition": {"nope": 1}}}).status_code == 400


def test_workflows_are_created_published_and_versioned(admin_api):
    created = admin_api.post("workflows/", {"slug": "ship", "name": "Ship", "definition": DEFINITION})
    assert created.status_code == 201 and created.json()["version"] == 1
    assert admin_api.post("workflows/", {"slug": "ship", "name": "Ship", "definition": DEFINITION}).status_code == 409
    invalid = admin_api.post("workflows/ship/publish/", {"definition": {"steps": [{"id": "Bad"}]}})
    assert invalid.status_code == 400 and invalid.json()["details"]["errors"]
    second = {"steps": [{**DEFINITION["steps"][0], "with": {"message": "v2"}}]}
    published = admin_api.post("workflows/ship/publish/", {"definition": second})
    assert published.status_code == 201 and published.json()["number"] == 2
    assert [v["number"] for v in admin_api.get("workflows/ship/versions/").json()] == [2, 1]
    detail = admin_api.patch("workflows/ship/", {"description": "Ships orders", "enabled": False}).json()
    assert detail["definition"] == second and detail["enabled"] is False and detail["slug"] == "ship"
    assert admin_api.delete("workflows/ship/").status_code == 405
    workflow_id = str(Workflow.objects.get(slug="ship").id)
    assert actions(workflow_id) == ["workflow.published", "workflow.published", "workflow.updated"]


def test_schedules_take_exactly_one_of_cron_and_interval(admin_api):
    assert (
        admin_api.post("schedules/", {"name": "both", "cron": "* * * * *", "interval_seconds": 60}).status_code == 400
    )
    assert admin_api.post("schedules/", {"name": "neither"}).status_code == 400
    assert (
        admin_api.post("schedules/", {"name": "tz", "cron": "0 3 * * *", "timezone": "Mars/Olympus"}).status_code == 400
    )
    created = admin_api.post("schedules/", {"name": "nightly", "cron": "0 3 * * *", "timezone": "Europe/Paris"})
    assert created.status_code == 201 and created.json()["next_tick_at"] is None
    assert admin_api.post("schedules/", {"name": "nightly", "interval_seconds": 5}).status_code == 409


# -- governance ---------------------------------------------------------------------------


def test_secret_values_are_write_only(admin_api):
    created = admin_api.post("secrets/", {"name": "STRIPE_KEY", "value": "sk_live_123", "description": "Stripe"})
    assert created.status_code == 201 and "value" not in created.json()
    secret = Secret.objects.get(name="STRIPE_KEY")
    assert "sk_live_123" not in secret.ciphertext
    listed = admin_api.get("secrets/").content.decode()
    assert "sk_live_123" not in listed and "STRIPE_KEY" in listed
    assert admin_api.patch(f"secrets/{secret.id}/", {"description": "x"}).status_code == 400
    assert admin_api.patch(f"secrets/{secret.id}/", {"value": "sk_live_456"}).status_code == 200
    assert admin_api.post("secrets/", {"name": "STRIPE_KEY", "value": "v"}).status_code == 409
    assert "sk_live" not in str(list(AuditEntry.objects.values_list("data", flat=True)))
    assert admin_api.delete(f"secrets/{secret.id}/").status_code == 204


def test_budgets_report_their_current_usage(admin_api):
    created = admin_api.post("budgets/", {"scope": "workflow:wf", "metric": "runs", "limit": "3", "period": "day"})
    assert created.status_code == 201
    usage = admin_api.get(f"budgets/{created.json()['id']}/usage/").json()
    assert usage["used"] == "0.000000" and usage["exhausted"] is False and usage["limit"] == "3.000000"
    assert (
        admin_api.post("budgets/", {"scope": "planet:x", "metric": "runs", "limit": "1", "period": "day"}).status_code
        == 400
    )


def test_audit_is_read_only_and_filterable(admin_api):
    entry = audit.record("test.thing", tenant="", object_type="thing", object_id="42")
    assert admin_api.get(f"audit/{entry.id}/").json()["action"] == "test.thing"
    assert [e["object_id"] for e in admin_api.get("audit/?object_type=thing").json()["results"]] == ["42"]
    assert admin_api.post("audit/", {}).status_code == 405
    assert admin_api.delete(f"audit/{entry.id}/").status_code == 405


def test_traces_show_only_the_callers_tenant(admin_api, make_client, run):
    trace_id = str(uuid.uuid4())
    mine = record_event(type="a", payload={}, source="api", trace_id=trace_id).event
    theirs = record_event(type="b", payload={}, source="api", trace_id=trace_id, tenant="acme").event
    timeline = admin_api.get(f"traces/{trace_id}/").json()
    assert [e["data"]["id"] for e in timeline["entries"] if e["kind"] == "event"] == [str(mine.id)]
    acme = make_client("view_event", "view_executionrun", tenant="acme")
    assert [e["data"]["id"] for e in acme.get(f"traces/{trace_id}/").json()["entries"]] == [str(theirs.id)]
    assert acme.get(f"traces/{uuid.uuid4()}/").status_code == 404


def test_connectors_describe_actions_and_input_schemas(make_client):
    client = make_client()
    listed = {c["type"]: c for c in client.get("connectors/").json()}
    assert {"http", "log"} <= set(listed)
    write = next(a for a in listed["log"]["actions"] if a["name"] == "write")
    assert write["input_schema"]["required"] == ["message"]
    assert client.get("connectors/http/").json()["type"] == "http"
    assert client.get("connectors/nope/").status_code == 404
