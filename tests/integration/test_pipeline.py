"""The thin path end to end in one process: event → rules → run → steps, with retries and failures."""

from __future__ import annotations

import json

import pytest

import django_automate
from django_automate.models import Event, ExecutionRun, JobStatus, OutboxJob, StepRun

pytestmark = pytest.mark.django_db(transaction=True)


def http_step(url: str, **extra):
    return {
        "id": "call",
        "connector": "http",
        "action": "request",
        "with": {"method": "POST", "url": url, "json": {"id": "{{ event.payload.id }}"}},
        **extra,
    }


def test_webhook_flows_to_a_succeeded_run_with_one_trace_id(
    client, endpoint_factory, workflow_factory, rule_factory, http_sink, run_worker
):
    endpoint_factory()
    workflow = workflow_factory(
        steps=[
            {"id": "note", "connector": "log", "action": "write", "with": {"message": "order {{ event.payload.id }}"}},
            http_step(f"{http_sink.url}/hook"),
        ]
    )
    rule_factory(workflow, condition={">": [{"var": "event.payload.total"}, 5]})
    response = client.post("/automate/hooks/orders/", {"id": 42, "total": 10}, content_type="application/json")
    trace_id = response.json()["trace_id"]

    run_worker()

    run = ExecutionRun.objects.get()
    assert run.status == "succeeded"
    assert run.workflow_version == workflow.current_version
    steps = list(run.steps.order_by("step_index"))
    assert [(s.step_id, s.status) for s in steps] == [("note", "succeeded"), ("call", "succeeded")]
    assert {run.trace_id, run.event.trace_id, *(s.trace_id for s in steps)} == {trace_id}
    assert OutboxJob.objects.exclude(status=JobStatus.DONE).count() == 0
    [request] = http_sink.requests
    assert json.loads(request["body"]) == {"id": 42}  # single placeholder keeps the JSON type
    assert request["headers"]["x-trace-id"] == trace_id
    assert request["headers"]["traceparent"].split("-")[1] == trace_id.replace("-", "")
    assert request["headers"]["idempotency-key"] == f"{run.id}:call"
    assert Event.objects.get().status == "routed"


def test_event_without_matching_rule_is_marked_unmatched(workflow_factory, rule_factory, run_worker):
    workflow = workflow_factory()
    rule_factory(workflow, event_type="invoice.*")
    rule_factory(workflow, name="too-small", condition={">": [{"var": "event.payload.total"}, 100]})
    event = django_automate.emit("order.created", {"total": 5})
    run_worker()
    event.refresh_from_db()
    assert event.status == "unmatched"
    assert ExecutionRun.objects.count() == 0


def test_glob_and_exact_rules_for_one_workflow_create_one_run(workflow_factory, rule_factory, run_worker):
    workflow = workflow_factory()
    rule_factory(workflow, name="glob", event_type="order.*", priority=1)
    rule_factory(workflow, name="exact", event_type="order.created", priority=5)
    django_automate.emit("order.created", {})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.rule.name == "exact"  # the highest priority rule is recorded


def test_rules_never_cross_tenants(workflow_factory, rule_factory, run_worker):
    workflow = workflow_factory(tenant="acme")
    rule_factory(workflow, tenant="acme")
    django_automate.emit("order.created", {}, tenant="other")
    run_worker()
    assert ExecutionRun.objects.count() == 0


def test_step_if_false_skips_the_step(workflow_factory, rule_factory, http_sink, run_worker):
    workflow = workflow_factory(steps=[http_step(http_sink.url, **{"if": {"==": [{"var": "event.payload.x"}, 1]}})])
    rule_factory(workflow)
    django_automate.emit("order.created", {"x": 2})
    run_worker()
    assert StepRun.objects.get().status == "skipped"
    assert ExecutionRun.objects.get().status == "succeeded"
    assert http_sink.requests == []


def test_retryable_failure_is_retried_with_the_same_idempotency_key(
    workflow_factory, rule_factory, http_sink, run_worker
):
    http_sink.responses = [(503, {}, b"{}"), (429, {"Retry-After": "0"}, b"{}")]
    retry = {"max_attempts": 3, "initial_seconds": 0, "max_seconds": 0}
    workflow = workflow_factory(steps=[http_step(http_sink.url, retry=retry)])
    rule_factory(workflow)
    django_automate.emit("order.created", {"id": 1})
    run_worker()
    attempts = list(StepRun.objects.order_by("attempt").values_list("attempt", "status"))
    assert attempts == [(1, "retrying"), (2, "retrying"), (3, "succeeded")]
    assert ExecutionRun.objects.get().status == "succeeded"
    assert len(set(http_sink.keys())) == 1


def test_exhausted_retries_fail_the_run_and_dead_letter_its_job(workflow_factory, rule_factory, http_sink, run_worker):
    http_sink.responses = [(500, {}, b"{}")] * 2
    workflow = workflow_factory(steps=[http_step(http_sink.url, retry={"max_attempts": 2, "initial_seconds": 0})])
    rule_factory(workflow)
    django_automate.emit("order.created", {"id": 1})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "failed"
    assert run.error["step_id"] == "call"
    assert OutboxJob.objects.get(run=run).status == JobStatus.DEAD


def test_permanent_error_fails_at_once_and_continue_lets_the_run_go_on(
    workflow_factory, rule_factory, http_sink, run_worker
):
    http_sink.responses = [(404, {}, b"{}")]
    workflow = workflow_factory(
        steps=[
            http_step(http_sink.url, on_failure="continue", retry={"max_attempts": 5}),
            {"id": "after", "connector": "log", "action": "write", "with": {"message": "{{ steps.call.status }}"}},
        ]
    )
    rule_factory(workflow)
    django_automate.emit("order.created", {"id": 1})
    run_worker()
    assert list(StepRun.objects.order_by("step_index").values_list("step_id", "status")) == [
        ("call", "failed"),
        ("after", "succeeded"),
    ]
    assert len(http_sink.requests) == 1
    assert ExecutionRun.objects.get().status == "succeeded"


def test_secrets_are_resolved_at_use_and_never_stored(workflow_factory, rule_factory, http_sink, run_worker, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "SECRETS": {"API_TOKEN": "tok-123-very-secret"}}
    step = http_step(http_sink.url)
    step["with"]["headers"] = {"X-Api": "Bearer $secret:API_TOKEN", "Authorization": "Bearer $secret:API_TOKEN"}
    http_sink.responses = [(200, {}, json.dumps({"echo": "tok-123-very-secret"}).encode())]
    workflow = workflow_factory(steps=[step])
    rule_factory(workflow)
    django_automate.emit("order.created", {"id": 1})
    run_worker()
    assert http_sink.requests[0]["headers"]["x-api"] == "Bearer tok-123-very-secret"
    stored = StepRun.objects.get()
    assert stored.status == "succeeded"
    dumped = json.dumps([stored.input, stored.output, stored.error])
    assert "tok-123" not in dumped
    assert stored.input["headers"]["X-Api"] == "Bearer $secret:API_TOKEN"
    assert stored.input["headers"]["Authorization"] == "[REDACTED]"


def test_missing_secret_fails_the_step_permanently(workflow_factory, rule_factory, http_sink, run_worker):
    step = http_step(http_sink.url)
    step["with"]["headers"] = {"X-Api": "$secret:NOPE_NOT_SET"}
    workflow = workflow_factory(steps=[step])
    rule_factory(workflow)
    django_automate.emit("order.created", {"id": 1})
    run_worker()
    step_run = StepRun.objects.get()
    assert step_run.status == "failed"
    assert step_run.error["code"] == "secret_not_found"
    assert http_sink.requests == []


def test_missing_template_path_fails_the_step(workflow_factory, rule_factory, run_worker):
    steps = [{"id": "say", "connector": "log", "action": "write", "with": {"message": "{{ event.payload.nope }}"}}]
    workflow = workflow_factory(steps=steps)
    rule_factory(workflow)
    django_automate.emit("order.created", {})
    run_worker()
    assert StepRun.objects.get().error["code"] == "validation_error"
    assert ExecutionRun.objects.get().status == "failed"


def test_runs_stay_pinned_to_their_version(workflow_factory, rule_factory, run_worker):
    from django_automate.workflows.publishing import publish

    workflow = workflow_factory()
    rule_factory(workflow)
    django_automate.emit("order.created", {})
    run_worker()
    v1 = workflow.current_version
    publish(workflow, {"steps": [{"id": "two", "connector": "log", "action": "write", "with": {"message": "2"}}]})
    django_automate.emit("order.created", {})
    run_worker()
    versions = sorted(ExecutionRun.objects.values_list("workflow_version__number", flat=True))
    assert versions == [1, 2]
    assert ExecutionRun.objects.filter(workflow_version=v1).count() == 1
