"""Connectors inside real runs: python actions and cost, 410 and Retry-After, email Message-ID, input validation."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest

import django_automate
from django_automate import exceptions
from django_automate.models import ExecutionRun, OutboxJob, StepRun
from django_automate.testing import local_smtp_server
from tests.integration.connectors import actions

pytestmark = pytest.mark.django_db(transaction=True)

ACTIONS = {
    "enrich": "tests.integration.connectors.actions.enrich",
    "plain": "tests.integration.connectors.actions.plain",
    "flaky": "tests.integration.connectors.actions.flaky",
    "not_json": "tests.integration.connectors.actions.not_json",
}


@pytest.fixture(autouse=True)
def _python_actions(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "PYTHON_ACTIONS": ACTIONS}
    actions.CALLS.clear()


def test_a_python_action_output_and_cost_are_recorded_and_templated(workflow_factory, rule_factory, run_worker):
    steps = [
        {"id": "enrich", "connector": "python", "action": "enrich", "with": {"order_id": "{{ event.payload.id }}"}},
        {
            "id": "note",
            "connector": "log",
            "action": "write",
            "with": {"message": "customer {{ steps.enrich.output.customer }}"},
        },
    ]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {"id": 42})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "succeeded"
    enrich, note = run.steps.order_by("step_index")
    assert enrich.output == {"customer": "c-42", "step": f"{run.id}:enrich"}
    assert enrich.cost == Decimal("0.25")
    assert note.output["logged"] == "customer c-42"
    assert actions.CALLS == [{"params": {"order_id": 42}, "key": f"{run.id}:enrich", "trace_id": run.trace_id}]


def test_python_actions_that_fail(workflow_factory, rule_factory, run_worker):
    steps = [
        {
            "id": "flaky",
            "connector": "python",
            "action": "flaky",
            "with": {},
            "retry": {"initial_seconds": 0.001, "max_seconds": 0.001},
        },
        {"id": "bad", "connector": "python", "action": "not_json", "with": {}, "on_failure": "continue"},
        {"id": "wrong", "connector": "python", "action": "enrich", "with": {"order_id": "{{ event.payload.id }}"}},
    ]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {"id": "not-a-number"})
    run_worker()
    rows = list(StepRun.objects.order_by("step_index", "attempt").values_list("step_id", "status", "error"))
    assert [(s, st) for s, st, _ in rows] == [
        ("flaky", "retrying"),
        ("flaky", "succeeded"),
        ("bad", "failed"),
        ("wrong", "failed"),
    ]
    assert rows[2][2]["code"] == "invalid_output"
    assert rows[3][2]["code"] == "validation_error"  # the rendered value is checked against the schema
    assert rows[3][2]["details"]["errors"] == [{"path": "$.order_id", "message": "must be of type integer."}]
    assert ExecutionRun.objects.get().status == "failed"


def test_410_fails_the_step_at_once_despite_retries_left(workflow_factory, rule_factory, http_sink, run_worker):
    http_sink.responses = [(410, {}, b'{"error": "gone"}')]
    step = {"id": "call", "connector": "http", "action": "request", "with": {"url": http_sink.url}}
    rule_factory(workflow_factory(steps=[{**step, "retry": {"max_attempts": 5, "initial_seconds": 0.001}}]))
    django_automate.emit("order.created", {})
    run_worker()
    [attempt] = StepRun.objects.all()
    assert (attempt.status, attempt.error["code"]) == ("failed", "http_gone")
    assert ExecutionRun.objects.get().status == "failed"
    assert len(http_sink.requests) == 1


def test_retry_after_delays_the_next_attempt(workflow_factory, rule_factory, http_sink, run_worker):
    http_sink.responses = [(429, {"Retry-After": "120"}, b"{}")]
    retry = {"max_attempts": 3, "initial_seconds": 0.001, "max_seconds": 600}
    step = {"id": "call", "connector": "http", "action": "request", "with": {"url": http_sink.url}, "retry": retry}
    rule_factory(workflow_factory(steps=[step]))
    django_automate.emit("order.created", {})
    before = dt.datetime.now(dt.timezone.utc)
    run_worker()
    attempt = StepRun.objects.get()
    assert attempt.status == "retrying" and attempt.error["details"]["retry_after"] == 120
    job = OutboxJob.objects.get(run__isnull=False)
    assert job.available_at >= before + dt.timedelta(seconds=119)


def test_an_email_step_uses_the_run_and_step_as_message_id(workflow_factory, rule_factory, run_worker, settings):
    with local_smtp_server() as smtp:
        settings.EMAIL_HOST, settings.EMAIL_PORT = smtp.host, smtp.port
        settings.AUTOMATE = {**settings.AUTOMATE, "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend"}
        step = {
            "id": "mail",
            "connector": "email",
            "action": "send",
            "with": {"to": "{{ event.payload.email }}", "from": "shop@example.com", "subject": "Hi", "text": "x"},
        }
        rule_factory(workflow_factory(steps=[step]))
        django_automate.emit("order.created", {"email": "ann@example.org"})
        run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "succeeded"
    [message] = smtp.messages
    digest = hashlib.sha256(f"{run.id}:mail".encode()).hexdigest()[:32]
    assert message["Message-ID"] == f"<{digest}@example.com>"
    assert message["To"] == "ann@example.org"


def test_publishing_checks_step_input_against_the_action_schema(workflow_factory):
    steps = [
        {"id": "a", "connector": "http", "action": "request", "with": {"method": "BREW", "timeout_seconds": 0}},
        {"id": "b", "connector": "python", "action": "enrich", "with": {"order_id": "x", "extra": 1}},
        {"id": "c", "connector": "slack", "action": "post_message", "with": {"token": "$secret:SLACK", "text": "x"}},
        {"id": "d", "connector": "python", "action": "nope", "with": {}},
    ]
    with pytest.raises(exceptions.ValidationError) as caught:
        workflow_factory(steps=steps)
    assert caught.value.details["errors"] == [
        {
            "path": "$.steps[0].with.method",
            "message": 'must be one of "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS".',
        },
        {"path": "$.steps[0].with.timeout_seconds", "message": "must be greater than 0."},
        {"path": "$.steps[0].with.url", "message": "url is required."},
        {"path": "$.steps[1].with.extra", "message": "Unknown key."},
        {"path": "$.steps[1].with.order_id", "message": "must be of type integer."},
        {"path": "$.steps[2].with.channel", "message": "channel is required."},
        {"path": "$.steps[3].action", "message": "Unknown action 'nope' for the python connector."},
    ]


def test_templates_logic_and_secrets_are_validated_when_the_step_runs(workflow_factory):
    steps = [
        {
            "id": "a",
            "connector": "http",
            "action": "request",
            "with": {
                "method": "{{ event.payload.method }}",
                "url": "$secret:HOOK_URL",
                "timeout_seconds": {"$logic": {"+": [1, 2]}},
                "headers": {"X-Id": "{{ event.payload.id }}"},
            },
        },
        {"id": "b", "connector": "python", "action": "enrich", "with": {"order_id": "{{ event.payload.id }}"}},
    ]
    workflow = workflow_factory(steps=steps)
    assert workflow.current_version.number == 1
