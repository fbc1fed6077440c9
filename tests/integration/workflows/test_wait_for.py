"""``wait_for`` steps: a waiting run is resumed by the first matching event, found by index, or times out."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_automate
from django_automate.models import Event, ExecutionRun, JobStatus, OutboxJob, RunWait, StepRun, WaitRoute
from django_automate.runs import operations
from django_automate.workflows.definition import definition_problems

pytestmark = pytest.mark.django_db(transaction=True)


def paid(**extra: object) -> dict:
    spec = {
        "event_type": "invoice.paid",
        "correlate": {"path": "payload.customer", "value": "{{ event.payload.customer }}"},
        "timeout_seconds": 3600,
        **extra,
    }
    return {"id": "paid", "wait_for": spec}


def log(step_id: str = "after", message: str = "hi") -> dict:
    return {"id": step_id, "connector": "log", "action": "write", "with": {"message": message}}


def attempts(step_id: str, run: ExecutionRun | None = None) -> list[StepRun]:
    rows = StepRun.objects.filter(step_id=step_id)
    return list((rows.filter(run=run) if run is not None else rows).order_by("attempt"))


def statuses() -> list[str]:
    return sorted(ExecutionRun.objects.values_list("status", flat=True))


def test_the_matching_event_resumes_the_run_with_its_output(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=[paid(), log()]))
    django_automate.emit("order.created", {"customer": "c1"})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "waiting" and run.waiting_until is not None
    (wait,) = RunWait.objects.all()
    assert (wait.kind, wait.event_type, wait.step_id, wait.event_id) == ("event", "invoice.paid", "paid", None)
    assert OutboxJob.objects.get(run=run).available_at == run.waiting_until == wait.timeout_at
    (waiting,) = attempts("paid")
    assert waiting.status == "running" and waiting.action == "wait_for"
    assert waiting.input["value"] == "c1" and waiting.input["path"] == "payload.customer"
    # Another customer's payment, and the awaited type's look-alike, do not resume it.
    django_automate.emit("invoice.paid", {"customer": "c2"})
    django_automate.emit("invoice.failed", {"customer": "c1"})
    run_worker()
    assert ExecutionRun.objects.get().status == "waiting" and not attempts("after")
    event = django_automate.emit("invoice.paid", {"customer": "c1", "amount": 5, "password": "hunter2"})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "succeeded" and run.waiting_until is None
    (resumed,) = attempts("paid")
    assert resumed.status == "succeeded"
    assert resumed.output == {
        "event_id": str(event.id),
        "type": "invoice.paid",
        "payload": {"customer": "c1", "amount": 5, "password": "[REDACTED]"},
        "timed_out": False,
    }
    assert RunWait.objects.get().event_id == event.id and RunWait.objects.get().resolved_at is not None
    assert [a.status for a in attempts("after")] == ["succeeded"]


def test_an_event_received_before_the_run_was_created_does_not_resume_it(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=[paid(), log()]))
    django_automate.emit("invoice.paid", {"customer": "c1"})
    run_worker()
    django_automate.emit("order.created", {"customer": "c1"})
    run_worker()
    assert statuses() == ["waiting"]


def test_an_event_stored_before_the_wait_was_set_up_resumes_it_at_once(workflow_factory, rule_factory, run_worker):
    # The reminder pattern: the payment arrives (and is routed) while the run still sleeps.
    rule_factory(workflow_factory(steps=[{"id": "nap", "sleep": {"seconds": 2}}, paid(), log()]))
    django_automate.emit("order.created", {"customer": "c1"})
    run_worker()
    assert statuses() == ["waiting"] and not RunWait.objects.exists()
    event = django_automate.emit("invoice.paid", {"customer": "c1"})
    run_worker()
    assert Event.objects.get(pk=event.pk).status == "unmatched"
    time.sleep(max(0.0, (ExecutionRun.objects.get().waiting_until - timezone.now()).total_seconds()) + 0.05)
    run_worker()
    assert statuses() == ["succeeded"]
    assert attempts("paid")[0].output["event_id"] == str(event.id)


def test_a_timeout_resumes_the_run_with_timed_out(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=[paid(timeout_seconds=60), log()]))
    django_automate.emit("order.created", {"customer": "c1"})
    run_worker()
    # A claim before the timeout (a job hurried by hand) waits on.
    OutboxJob.objects.filter(run__isnull=False).update(available_at=timezone.now())
    run_worker()
    assert statuses() == ["waiting"] and attempts("paid")[0].status == "running"
    # The timeout passes (moved into the past rather than waited for: a loaded machine cannot delay it).
    RunWait.objects.update(timeout_at=timezone.now() - dt.timedelta(seconds=1))
    OutboxJob.objects.filter(run__isnull=False, status="ready").update(available_at=timezone.now())
    run_worker()
    assert statuses() == ["succeeded"]
    assert attempts("paid")[0].output == {"timed_out": True}
    # A late matching event changes nothing.
    django_automate.emit("invoice.paid", {"customer": "c1"})
    run_worker()
    assert RunWait.objects.get().event_id is None and len(attempts("paid")) == 1


def test_one_event_resumes_every_run_waiting_for_it(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=[paid(), log()]))
    for number in range(3):
        django_automate.emit("order.created", {"customer": "c1", "n": number})
    django_automate.emit("order.created", {"customer": "c9"})
    run_worker()
    assert statuses() == ["waiting"] * 4
    event = django_automate.emit("invoice.paid", {"customer": "c1"})
    run_worker()
    assert statuses() == ["succeeded"] * 3 + ["waiting"]
    assert {a.output["event_id"] for a in attempts("paid") if a.output} == {str(event.id)}


def test_an_event_of_another_tenant_does_not_resume_the_run(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=[paid(), log()], tenant="acme"), tenant="acme")
    django_automate.emit("order.created", {"customer": "c1"}, tenant="acme")
    run_worker()
    django_automate.emit("invoice.paid", {"customer": "c1"}, tenant="other")
    django_automate.emit("invoice.paid", {"customer": "c1"})
    run_worker()
    assert statuses() == ["waiting"]
    django_automate.emit("invoice.paid", {"customer": "c1"}, tenant="acme")
    run_worker()
    assert statuses() == ["succeeded"]


def test_the_condition_and_the_value_type_decide_too(workflow_factory, rule_factory, run_worker):
    steps = [paid(**{"if": {">": [{"var": "event.payload.amount"}, 10]}}), log()]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {"customer": 42})
    run_worker()
    django_automate.emit("invoice.paid", {"customer": 42, "amount": 5})
    django_automate.emit("invoice.paid", {"customer": "42", "amount": 50})  # a string is not the number 42
    run_worker()
    assert statuses() == ["waiting"]
    event = django_automate.emit("invoice.paid", {"customer": 42, "amount": 50})
    run_worker()
    assert statuses() == ["succeeded"] and attempts("paid")[0].output["event_id"] == str(event.id)


def test_matching_an_event_is_an_index_lookup(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=[paid(), log()]))
    django_automate.emit("order.created", {"customer": "c1"})
    run_worker()
    assert list(WaitRoute.objects.values_list("event_type", "path")) == [("invoice.paid", "payload.customer")]
    django_automate.emit("invoice.paid", {"customer": "c1"})
    with CaptureQueriesContext(connection) as queries:
        run_worker()
    sqls = [q["sql"] for q in queries.captured_queries]
    reads = [sql for sql in sqls if sql.startswith("SELECT") and "automate_runwait" in sql]
    lookup = next(sql for sql in reads if "correlation" in sql.split("WHERE", 1)[-1])
    where = lookup.split("WHERE", 1)[1].replace("`", '"')
    # The leading columns of automate_runwait_match_idx, all by equality (the key by IN).
    for column in ("tenant", "event_type"):
        assert f'"automate_runwait"."{column}" =' in where, lookup
    assert '"automate_runwait"."correlation" IN' in where, lookup
    assert statuses() == ["succeeded"]
    index = RunWait._meta.indexes[0]
    assert index.name == "automate_runwait_match_idx" and index.fields == ["tenant", "event_type", "correlation"]


def test_a_cancelled_waiting_run_is_not_resumed(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=[paid(), log()]))
    django_automate.emit("order.created", {"customer": "c1"})
    run_worker()
    operations.cancel_run(ExecutionRun.objects.get(), actor="alice")
    django_automate.emit("invoice.paid", {"customer": "c1"})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "cancelled" and OutboxJob.objects.get(run=run).status == JobStatus.CANCELLED
    assert [a.status for a in attempts("paid")] == ["failed"] and not attempts("after")
    assert RunWait.objects.get().event_id is None


def test_retry_does_not_wait_again_and_a_replay_waits_anew(workflow_factory, rule_factory, run_worker, http_sink):
    http_sink.responses = [(400, {}, b"{}")]
    call = {"id": "call", "connector": "http", "action": "request", "with": {"method": "POST", "url": http_sink.url}}
    rule_factory(workflow_factory(steps=[paid(), call]))
    django_automate.emit("order.created", {"customer": "c1"})
    run_worker()
    django_automate.emit("invoice.paid", {"customer": "c1"})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "failed" and run.error["step_id"] == "call"
    operations.retry_run(run, actor="alice")
    run_worker()
    assert ExecutionRun.objects.get(pk=run.pk).status == "succeeded"
    assert [a.status for a in attempts("paid", run)] == ["succeeded"] and len(http_sink.requests) == 2
    (replay,) = operations.replay_event(run.event, actor="alice")
    run_worker()
    replay.refresh_from_db()
    assert replay.status == "waiting"  # the payment came before the replay was created
    event = django_automate.emit("invoice.paid", {"customer": "c1"})
    run_worker()
    replay.refresh_from_db()
    assert replay.status == "succeeded" and attempts("paid", replay)[0].output["event_id"] == str(event.id)


def test_a_correlation_value_that_cannot_be_rendered_fails_the_step(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=[paid(), log()]))
    django_automate.emit("order.created", {})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "failed" and run.error["step_id"] == "paid" and run.error["code"] == "validation_error"
    assert not RunWait.objects.exists()


@pytest.mark.parametrize(
    ("wait_for", "errors"),
    [
        ({}, [("$.steps[0].wait_for.correlate", "is required"), ("$.steps[0].wait_for.event_type", "is required")]),
        (
            {"event_type": "x", "correlate": {"path": "payload.c"}},
            [("$.steps[0].wait_for.correlate.value", "value is required.")],
        ),
        (
            {"event_type": "x", "correlate": {"path": "body.c", "value": 1}},
            [("$.steps[0].wait_for.correlate.path", "path must match")],
        ),
        (
            {"event_type": "x", "correlate": {"path": "payload.c", "value": 1}, "timeout_seconds": -5},
            [("$.steps[0].wait_for.timeout_seconds", "timeout_seconds must be greater than 0.")],
        ),
        (
            {"event_type": "x", "correlate": {"path": "payload.c", "value": 1}, "timeout_seconds": "1"},
            [("$.steps[0].wait_for.timeout_seconds", "must be of type number.")],
        ),
        (
            {"event_type": "x", "correlate": {"path": "payload.c", "value": 1}, "every": 1},
            [("$.steps[0].wait_for.every", "Unknown key.")],
        ),
        (
            {"event_type": "x", "correlate": {"path": "payload.c", "value": "{{ steps.w.output }}"}},
            [("$.steps[0].wait_for.correlate.value", "cannot read its own output")],
        ),
        (
            {"event_type": "x", "correlate": {"path": "payload.c", "value": 1}, "if": {"var": "steps.a.output"}},
            [("$.steps[0].wait_for.if.var", "There is no step 'a'.")],
        ),
        ("x", [("$.steps[0].wait_for", "wait_for must be of type object.")]),
    ],
)
@pytest.mark.django_db
def test_wait_for_steps_are_validated_with_json_paths(wait_for, errors):
    problems = definition_problems({"steps": [{"id": "w", "wait_for": wait_for}]})
    found = [(p["path"], p["message"]) for p in problems]
    assert [path for path, _ in found] == [path for path, _ in errors], found
    for (_, message), (_, expected) in zip(found, errors, strict=True):
        assert expected in message


@pytest.mark.django_db
def test_a_wait_for_step_calls_no_connector_and_is_one_kind_of_wait():
    step = paid()
    step.update({"connector": "log", "sleep": {"seconds": 1}})
    found = [(p["path"], p["message"]) for p in definition_problems({"steps": [step]})]
    assert ("$.steps[0].connector", "A wait_for step has no connector.") in found
    assert ("$.steps[0].sleep", "A wait_for step has no sleep.") in found


@pytest.mark.django_db
def test_the_cookbook_reminder_with_cancel_on_payment_is_valid():
    reminder = {
        "steps": [
            {"id": "wait_3d", "sleep": {"seconds": 259200}},
            {
                "id": "paid",
                "wait_for": {
                    "event_type": "stripe.invoice.paid",
                    "correlate": {"path": "payload.customer", "value": "{{ event.payload.customer }}"},
                    "timeout_seconds": 1,
                },
            },
            {
                "id": "remind",
                "if": {"var": "steps.paid.output.timed_out"},
                "connector": "email",
                "action": "send",
                "with": {"to": "{{ event.payload.email }}", "subject": "Your invoice is due", "text": "Please pay."},
            },
        ]
    }
    assert definition_problems(reminder) == []
