"""Steps recorded once, after their call (``log``, transactional ``python``): one write, same guarantees."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_automate
from django_automate.connectors.base import PermanentError, RetryableError
from django_automate.connectors.log import LogConnector
from django_automate.models import ExecutionRun, JobStatus, OutboxJob, RunStatus, StepRun, StepStatus
from django_automate.outbox.claim import ClaimedJob, claim_one, recover_expired
from django_automate.runs import operations
from django_automate.runs.steps import records_once
from django_automate.worker.handlers import process
from django_automate.workflows.versions import get_version

pytestmark = pytest.mark.django_db(transaction=True)

LOG = {"id": "say", "connector": "log", "action": "write", "with": {"message": "hello {{ event.payload.n }}"}}


def claimed_run_job(workflow_factory: Any, rule_factory: Any, steps: list[dict[str, Any]]) -> ClaimedJob:
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {"n": 1, "password": "hunter2"})
    route = claim_one(worker_id="w", queues=["default"])
    assert route is not None
    process(route)
    job = claim_one(worker_id="w", queues=["default"])
    assert job is not None and job.run_id is not None
    return job


def during_the_call(monkeypatch: pytest.MonkeyPatch, action: Any) -> list[str]:
    original, calls = LogConnector.execute, []

    def execute(self: LogConnector, name: str, params: Any, ctx: Any) -> Any:
        calls.append(ctx.idempotency_key)
        action()
        return original(self, name, params, ctx)

    monkeypatch.setattr(LogConnector, "execute", execute)
    return calls


def test_which_steps_are_recorded_once():
    assert records_once(LOG)
    assert records_once({"id": "p", "connector": "python", "action": "f", "transaction": True})
    assert not records_once({"id": "p", "connector": "python", "action": "f"})
    assert not records_once({"id": "h", "connector": "http", "action": "request"})
    assert not records_once({"id": "x", "connector": "no-such-connector", "action": "a"})


def test_a_one_step_log_run_is_recorded_like_any_other(workflow_factory, rule_factory):
    job = claimed_run_job(workflow_factory, rule_factory, [LOG])
    process(job)
    run = ExecutionRun.objects.get(id=job.run_id)
    assert run.status == RunStatus.SUCCEEDED and run.started_at and run.finished_at
    assert run.started_at <= run.finished_at
    attempt = StepRun.objects.get()
    assert (attempt.status, attempt.attempt, attempt.idempotency_key) == ("succeeded", 1, f"{run.id}:say")
    assert attempt.input == {"message": "hello 1"} and attempt.output["logged"] == "hello 1"
    assert attempt.started_at <= attempt.finished_at and attempt.duration_ms is not None
    assert attempt.success_guard is True and attempt.trace_id == run.trace_id
    assert OutboxJob.objects.get(id=job.id).status == JobStatus.DONE


def test_a_one_step_log_execution_is_one_write_on_postgresql(workflow_factory, rule_factory):
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement writes are PostgreSQL's: runs with AUTOMATE_TEST_DB=postgres")
    job = claimed_run_job(workflow_factory, rule_factory, [LOG])
    get_version(ExecutionRun.objects.get(id=job.run_id).workflow_version_id)  # immutable: read once per process
    with CaptureQueriesContext(connection) as queries:
        process(job)
    statements = [q["sql"] for q in queries.captured_queries]
    # The run's load, then one statement: job completed, run started and ended, attempt inserted.
    assert len(statements) == 2, [text[:60] for text in statements]
    assert "WITH fence AS (UPDATE" in statements[1] and "INSERT INTO" in statements[1]
    assert ExecutionRun.objects.get(id=job.run_id).status == RunStatus.SUCCEEDED


def test_losing_the_lease_during_the_call_writes_nothing_and_the_next_claim_calls_again(
    workflow_factory, rule_factory, run_worker, monkeypatch
):
    job = claimed_run_job(workflow_factory, rule_factory, [LOG, {**LOG, "id": "again"}])
    first = OutboxJob.objects.filter(id=job.id, lease_token=job.lease_token)
    calls = during_the_call(monkeypatch, lambda: first.update(lease_expires_at=timezone.now() - dt.timedelta(1)))
    process(job)
    assert calls == [f"{job.run_id}:say"]
    assert ExecutionRun.objects.get(id=job.run_id).status == RunStatus.PENDING
    assert not StepRun.objects.exists()
    assert recover_expired() == 1
    run_worker()
    assert ExecutionRun.objects.get(id=job.run_id).status == RunStatus.SUCCEEDED
    assert list(StepRun.objects.order_by("step_index").values_list("step_id", "status", "attempt")) == [
        ("say", "succeeded", 1),
        ("again", "succeeded", 1),
    ]


def test_a_run_cancelled_during_its_last_step_stays_cancelled(workflow_factory, rule_factory, monkeypatch):
    job = claimed_run_job(workflow_factory, rule_factory, [LOG])

    def cancel() -> None:
        operations.cancel_run(ExecutionRun.objects.get(id=job.run_id), actor="ops")

    during_the_call(monkeypatch, cancel)
    process(job)
    assert ExecutionRun.objects.get(id=job.run_id).status == RunStatus.CANCELLED
    assert OutboxJob.objects.get(id=job.id).status == JobStatus.DONE
    # The call happened: its attempt is on record, as for a step recorded before its call.
    assert list(StepRun.objects.values_list("status", flat=True)) == [StepStatus.SUCCEEDED]


def test_failing_steps_recorded_once_retry_then_fail_their_run_which_retries_from_them(
    workflow_factory, rule_factory, run_worker, http_sink, monkeypatch
):
    failures: list[Exception] = [RetryableError("busy"), PermanentError("refused")]

    def fail() -> None:
        if failures:
            raise failures.pop(0)

    call = {"id": "call", "connector": "http", "action": "request", "with": {"method": "POST", "url": http_sink.url}}
    say = {**LOG, "retry": {"max_attempts": 3, "initial_seconds": 0.01, "max_seconds": 0.01}}
    job = claimed_run_job(workflow_factory, rule_factory, [say, call])
    during_the_call(monkeypatch, fail)
    process(job)  # the retryable failure: the attempt written closed, the run started with it
    run = ExecutionRun.objects.get(id=job.run_id)
    assert run.status == RunStatus.RUNNING and run.started_at is not None
    assert list(StepRun.objects.values_list("status", "error__code")) == [("retrying", "retryable_error")]
    time.sleep(0.1)  # the retry is due 10 ms after the failure
    run_worker()  # the permanent failure
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and http_sink.requests == []
    attempts = list(StepRun.objects.order_by("attempt").values_list("attempt", "status", "error__code"))
    assert attempts == [(1, "retrying", "retryable_error"), (2, "failed", "permanent_error")]
    operations.retry_run(run, actor="ops")
    run_worker()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and len(http_sink.requests) == 1
    assert StepRun.objects.filter(step_id="say").latest("attempt").status == StepStatus.SUCCEEDED


def test_a_log_step_before_an_external_one_starts_the_run_with_its_own_write(
    workflow_factory, rule_factory, run_worker, http_sink
):
    call = {"id": "call", "connector": "http", "action": "request", "with": {"method": "POST", "url": http_sink.url}}
    job = claimed_run_job(workflow_factory, rule_factory, [LOG, call])
    process(job)
    run = ExecutionRun.objects.get(id=job.run_id)
    assert run.status == RunStatus.SUCCEEDED and len(http_sink.requests) == 1
    rows = list(StepRun.objects.order_by("step_index").values_list("step_id", "status"))
    assert rows == [("say", "succeeded"), ("call", "succeeded")]
    assert http_sink.requests[0]["headers"]["idempotency-key"] == f"{run.id}:call"
