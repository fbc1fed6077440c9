"""Durable sleep steps: a sleeping run is a row and a due job, and goes on at its due time."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest
from django.utils import timezone

import django_automate
from django_automate import exceptions
from django_automate.api.serializers.runs import RunSerializer
from django_automate.models import ExecutionRun, JobKind, JobStatus, OutboxJob, StepRun
from django_automate.runs import operations
from django_automate.worker.loop import Worker
from django_automate.workflows.definition import definition_problems
from django_automate.workflows.schema import definition_schema

pytestmark = pytest.mark.django_db(transaction=True)


def call(url: str) -> dict:
    return {"id": "call", "connector": "http", "action": "request", "with": {"method": "POST", "url": url}}


def log(step_id: str = "first") -> dict:
    return {"id": step_id, "connector": "log", "action": "write", "with": {"message": "hi"}}


def run_job() -> OutboxJob:
    return OutboxJob.objects.get(kind=JobKind.EXECUTE_RUN)


def attempts(step_id: str) -> list[StepRun]:
    return list(StepRun.objects.filter(step_id=step_id).order_by("attempt"))


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not reached within {timeout}s"
        time.sleep(0.02)


def test_a_sleeping_run_holds_no_worker_and_goes_on_at_its_due_time(workflow_factory, rule_factory, http_sink):
    steps = [log(), {"id": "wait", "sleep": {"seconds": 1}}, call(http_sink.url)]
    rule_factory(workflow_factory(steps=steps))
    worker = Worker(concurrency=2, install_signal_handlers=False)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        django_automate.emit("order.created", {"id": 7})
        wait_for(lambda: ExecutionRun.objects.filter(status="waiting").exists())
        run, job, (sleeping,) = ExecutionRun.objects.get(), run_job(), attempts("wait")
        processed = worker.processed
        # While it sleeps: the job is ready for later and unclaimed, the attempt is open with its due time.
        assert job.status == JobStatus.READY and job.lease_token is None and job.leased_by == ""
        assert run.waiting_until is not None and job.available_at == run.waiting_until
        assert sleeping.status == "running" and sleeping.action == "sleep" and sleeping.connector == ""
        assert dt.datetime.fromisoformat(sleeping.input["until"]) == run.waiting_until
        assert 0.5 < (run.waiting_until - sleeping.started_at).total_seconds() <= 1.01
        assert not OutboxJob.objects.filter(status=JobStatus.CLAIMED).exists()
        assert not attempts("call") and http_sink.requests == []
        time.sleep(0.3)
        if timezone.now() < run.waiting_until:
            # No thread picked the run up meanwhile: nothing was claimed or processed.
            assert worker.processed == processed
            assert ExecutionRun.objects.get().status == "waiting"
        wait_for(lambda: ExecutionRun.objects.filter(status="succeeded").exists())
    finally:
        worker.stop()
        thread.join(10)
    run, (sleeping,), (called,) = ExecutionRun.objects.get(), attempts("wait"), attempts("call")
    assert run.waiting_until is None and run_job().status == JobStatus.DONE
    assert sleeping.status == "succeeded"
    assert sleeping.output == {"slept_until": sleeping.input["until"]}
    assert sleeping.finished_at >= dt.datetime.fromisoformat(sleeping.input["until"])
    assert called.status == "succeeded" and called.started_at >= sleeping.finished_at
    assert len(http_sink.requests) == 1
    assert [s.step_id for s in StepRun.objects.order_by("step_index", "attempt")] == ["first", "wait", "call"]


def test_a_claim_before_the_due_time_does_not_end_the_sleep(workflow_factory, rule_factory, http_sink, run_worker):
    rule_factory(workflow_factory(steps=[{"id": "wait", "sleep": {"seconds": 3600}}, call(http_sink.url)]))
    django_automate.emit("order.created", {})
    run_worker()
    due = ExecutionRun.objects.get().waiting_until
    assert ExecutionRun.objects.get().status == "waiting" and run_job().available_at == due
    # Hurried by hand (or claimed by a worker whose clock runs ahead): the job goes back until the due time.
    OutboxJob.objects.update(available_at=timezone.now())
    assert run_worker() == 1
    run, job = ExecutionRun.objects.get(), run_job()
    assert run.status == "waiting" and run.waiting_until == due
    assert job.status == JobStatus.READY and job.available_at == due and job.lease_token is None
    assert [a.status for a in attempts("wait")] == ["running"] and http_sink.requests == []
    # Once the due time has come (moved here instead of waiting an hour), the run goes on.
    past = timezone.now() - dt.timedelta(seconds=1)
    StepRun.objects.filter(step_id="wait").update(input={"until": past.isoformat()})
    OutboxJob.objects.update(available_at=past)
    run_worker()
    assert ExecutionRun.objects.get().status == "succeeded"
    assert attempts("wait")[0].output == {"slept_until": past.astimezone(dt.timezone.utc).isoformat()}
    assert len(http_sink.requests) == 1


def test_a_sleep_as_first_and_last_step_starts_and_ends_the_run(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=[{"id": "wait", "sleep": {"seconds": 0.4}}]))
    django_automate.emit("order.created", {})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "waiting" and run.started_at is not None
    time.sleep(max(0.0, (run.waiting_until - timezone.now()).total_seconds()) + 0.05)
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "succeeded" and run.waiting_until is None and run.finished_at >= run.started_at
    assert run_job().status == JobStatus.DONE and [a.status for a in attempts("wait")] == ["succeeded"]


@pytest.mark.parametrize("until", ["2020-01-01T00:00:00Z", "2020-01-01T01:00:00+01:00"])
def test_until_in_the_past_does_not_wait(workflow_factory, rule_factory, run_worker, until):
    steps = [{"id": "wait", "sleep": {"until": "{{ event.payload.due_at }}"}}, log("after")]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {"due_at": until})
    run_worker()
    assert ExecutionRun.objects.get().status == "succeeded"
    (sleeping,) = attempts("wait")
    assert sleeping.status == "succeeded" and sleeping.output == {"slept_until": "2020-01-01T00:00:00+00:00"}
    assert run_job().status == JobStatus.DONE and [a.status for a in attempts("after")] == ["succeeded"]


def test_zero_seconds_does_not_wait(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=[log(), {"id": "wait", "sleep": {"seconds": 0}}]))
    django_automate.emit("order.created", {})
    run_worker()
    assert ExecutionRun.objects.get().status == "succeeded"
    assert [a.status for a in attempts("wait")] == ["succeeded"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"due_at": "next tuesday"}, "sleep.until must be an ISO 8601 date and time with a UTC offset"),
        ({"due_at": "2030-01-01T00:00:00"}, "sleep.until must be an ISO 8601 date and time with a UTC offset"),
        ({"due_at": 1767225600}, "got a int"),
        ({}, "event.payload.due_at"),
    ],
)
def test_an_invalid_until_fails_the_step_naming_it(workflow_factory, rule_factory, run_worker, payload, message):
    steps = [{"id": "wait", "sleep": {"until": "{{ event.payload.due_at }}"}}, log("after")]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", payload)
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "failed" and run.waiting_until is None
    assert run.error["step_id"] == "wait" and run.error["code"] == "validation_error"
    (failed,) = attempts("wait")
    assert failed.status == "failed" and failed.error["code"] == "validation_error"
    assert failed.error["details"]["field"] == "sleep.until"
    assert message in failed.error["message"]
    assert not attempts("after") and run_job().status == JobStatus.DEAD


def test_a_waiting_run_is_cancelled_with_its_sleep(workflow_factory, rule_factory, http_sink, run_worker):
    rule_factory(workflow_factory(steps=[{"id": "wait", "sleep": {"seconds": 3600}}, call(http_sink.url)]))
    django_automate.emit("order.created", {})
    run_worker()
    run = operations.cancel_run(ExecutionRun.objects.get(), actor="alice")
    assert run.status == "cancelled"
    run = ExecutionRun.objects.get()
    assert run.status == "cancelled" and run.waiting_until is None and run.finished_at is not None
    assert run_job().status == JobStatus.CANCELLED
    (sleeping,) = attempts("wait")
    assert sleeping.status == "failed" and sleeping.error["code"] == "run_cancelled"
    OutboxJob.objects.update(available_at=timezone.now() - dt.timedelta(hours=2))
    assert run_worker() == 0
    assert http_sink.requests == []
    with pytest.raises(exceptions.IllegalTransition):
        operations.cancel_run(run, actor="alice")


def test_a_run_cancelled_while_its_job_is_held_closes_the_sleep_when_due(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=[log(), {"id": "wait", "sleep": {"seconds": 3600}}, log("after")]))
    django_automate.emit("order.created", {})
    run_worker()
    # The cancel comes while a worker holds the job (here: the job marked claimed): that worker closes the sleep.
    OutboxJob.objects.update(status=JobStatus.CLAIMED)
    operations.cancel_run(ExecutionRun.objects.get(), actor="alice")
    assert [a.status for a in attempts("wait")] == ["running"]
    past = timezone.now() - dt.timedelta(seconds=1)
    OutboxJob.objects.update(status=JobStatus.READY, available_at=past)
    run_worker()
    assert ExecutionRun.objects.get().status == "cancelled" and run_job().status == JobStatus.DONE
    assert [a.status for a in attempts("wait")] == ["failed"] and not attempts("after")


def test_a_failed_run_after_a_sleep_is_retried_without_sleeping_again(
    workflow_factory, rule_factory, http_sink, run_worker
):
    http_sink.responses = [(400, {}, b"{}")]
    steps = [{"id": "wait", "sleep": {"until": "{{ event.payload.due_at }}"}}, call(http_sink.url)]
    rule_factory(workflow_factory(steps=steps))
    due = timezone.now() + dt.timedelta(seconds=0.4)
    django_automate.emit("order.created", {"due_at": due.isoformat()})
    run_worker()
    assert ExecutionRun.objects.get().status == "waiting"
    time.sleep(max(0.0, (due - timezone.now()).total_seconds()) + 0.05)
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "failed" and run.error["step_id"] == "call"
    operations.retry_run(run, actor="alice")
    run_worker()
    assert ExecutionRun.objects.get().status == "succeeded"
    assert [a.status for a in attempts("wait")] == ["succeeded"] and len(http_sink.requests) == 2
    # A replay is a new run that sleeps again from the start.
    (replay,) = operations.replay_event(run.event, actor="alice")
    run_worker()
    replay.refresh_from_db()
    assert replay.status == "succeeded"  # its due time has passed by now
    assert StepRun.objects.filter(run=replay, step_id="wait").get().output == {"slept_until": due.isoformat()}


def test_the_api_and_the_admin_show_a_waiting_run_and_its_due_time(
    workflow_factory, rule_factory, run_worker, admin_client
):
    rule_factory(workflow_factory(steps=[{"id": "wait", "sleep": {"seconds": 3600}}]))
    django_automate.emit("order.created", {})
    run_worker()
    run = ExecutionRun.objects.get()
    data = RunSerializer(run).data
    assert data["status"] == "waiting" and data["waiting_until"] is not None
    assert dt.datetime.fromisoformat(data["waiting_until"].replace("Z", "+00:00")) == run.waiting_until
    page = admin_client.get("/admin/automate/executionrun/")
    assert page.status_code == 200 and "Waiting" in page.content.decode()
    assert admin_client.get(f"/admin/automate/executionrun/{run.pk}/change/").status_code == 200
    assert admin_client.get("/admin/automate/executionrun/?status__exact=waiting").status_code == 200


@pytest.mark.parametrize(
    ("step", "errors"),
    [
        ({"id": "w", "sleep": {}}, [("$.steps[0].sleep", "sleep takes exactly one of seconds or until.")]),
        (
            {"id": "w", "sleep": {"seconds": 1, "until": "2030-01-01T00:00:00Z"}},
            [("$.steps[0].sleep", "sleep takes exactly one of seconds or until.")],
        ),
        ({"id": "w", "sleep": {"seconds": -1}}, [("$.steps[0].sleep.seconds", "seconds must be at least 0.")]),
        (
            {"id": "w", "sleep": {"seconds": 366 * 86400 + 1}},
            [("$.steps[0].sleep.seconds", "seconds must be at most 31622400.")],
        ),
        ({"id": "w", "sleep": {"seconds": "5"}}, [("$.steps[0].sleep.seconds", "seconds must be of type number.")]),
        (
            {"id": "w", "sleep": {"minutes": 5}},
            [("$.steps[0].sleep", "sleep takes exactly one of"), ("$.steps[0].sleep.minutes", "Unknown key.")],
        ),
        ({"id": "w", "sleep": 5}, [("$.steps[0].sleep", "sleep must be of type object.")]),
        (
            {"id": "w", "sleep": {"until": "tomorrow"}},
            [("$.steps[0].sleep.until", "sleep.until must be an ISO 8601 date and time with a UTC offset")],
        ),
        (
            {"id": "w", "sleep": {"until": "{{ steps.w.output }}"}},
            [("$.steps[0].sleep.until", "cannot read its own output")],
        ),
        (
            {"id": "w", "sleep": {"seconds": 1}, "connector": "log", "action": "write", "with": {}, "retry": {}},
            [
                ("$.steps[0].action", "A sleep step has no action."),
                ("$.steps[0].connector", "A sleep step has no connector."),
                ("$.steps[0].retry", "A sleep step has no retry."),
                ("$.steps[0].with", "A sleep step has no with."),
            ],
        ),
        (
            {"id": "w", "sleep": {"seconds": 1}, "timeout_seconds": 5},
            [("$.steps[0].timeout_seconds", "A sleep step has no timeout_seconds.")],
        ),
    ],
)
def test_sleep_steps_are_validated_with_json_paths(step, errors):
    problems = definition_problems({"steps": [step]})
    found = [(p["path"], p["message"]) for p in problems]
    assert [path for path, _ in found] == [path for path, _ in errors], found
    for (_, message), (_, expected) in zip(found, errors, strict=True):
        assert expected in message


def test_valid_sleep_steps_and_the_published_schema():
    definition = {
        "steps": [
            {"id": "first", "connector": "log", "action": "write", "with": {"message": "hi"}},
            {"id": "wait_3d", "sleep": {"seconds": 259200}},
            {"id": "due", "sleep": {"until": "{{ event.payload.due_at }}"}, "if": {"var": "event.payload.due_at"}},
            {"id": "fixed", "sleep": {"until": "2030-01-01T09:00:00+01:00"}, "on_failure": "continue"},
            {"id": "reads", "sleep": {"until": '{{ steps.first.output.at | default("2030-01-01T00:00:00Z") }}'}},
        ]
    }
    assert definition_problems(definition) == []
    schema = definition_schema()
    assert schema["$defs"]["step"]["properties"]["sleep"] == {"$ref": "#/$defs/sleep"}
    assert set(schema["$defs"]["sleep"]["properties"]) == {"seconds", "until"}
    # A step without sleep still needs its connector and action, as before.
    problems = definition_problems({"steps": [{"id": "x"}]})
    assert [(p["path"], p["message"]) for p in problems] == [
        ("$.steps[0].action", "action is required."),
        ("$.steps[0].connector", "connector is required."),
    ]


def test_the_cookbook_reminder_is_a_valid_definition():
    reminder = {
        "steps": [
            {"id": "wait_3d", "sleep": {"seconds": 259200}},
            {
                "id": "remind",
                "connector": "email",
                "action": "send",
                "with": {
                    "to": "{{ event.payload.email }}",
                    "subject": "Your cart is waiting",
                    "text": "Order {{ event.payload.id }} is still in your cart.",
                },
            },
        ]
    }
    assert definition_problems(reminder) == []


def test_a_sleep_whose_condition_is_false_is_skipped(workflow_factory, rule_factory, run_worker):
    steps = [{"id": "wait", "sleep": {"seconds": 3600}, "if": {"var": "event.payload.later"}}, log("after")]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {"later": False})
    run_worker()
    assert ExecutionRun.objects.get().status == "succeeded"
    assert [a.status for a in attempts("wait")] == ["skipped"]
    assert [a.status for a in attempts("after")] == ["succeeded"]
