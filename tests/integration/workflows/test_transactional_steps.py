"""``python`` steps with ``"transaction": true``: the function's writes commit exactly once, with the step's success."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from django.db import connection
from django.utils import timezone

import django_automate
from django_automate import exceptions
from django_automate.connectors.base import StepResult
from django_automate.models import ExecutionRun, JobKind, JobStatus, OutboxJob, StepRun
from django_automate.outbox.claim import ClaimedJob, claim_one, recover_expired
from django_automate.runs import transactional
from django_automate.worker.handlers import process
from django_automate.workflows.definition import definition_problems
from tests.testapp import actions
from tests.testapp.models import Counter, StepWrite

pytestmark = pytest.mark.django_db(transaction=True)

ACTIONS = {
    name: f"tests.testapp.actions.{name}" for name in ("insert_and_count", "insert_then_fail", "insert_then_stall")
}
NOW = {"max_attempts": 3, "initial_seconds": 0, "max_seconds": 0, "jitter": "none"}


@pytest.fixture(autouse=True)
def _actions(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "PYTHON_ACTIONS": ACTIONS}
    Counter.objects.create(name=actions.COUNTER)
    actions.CALLS.clear()
    actions.FAILURES["left"] = 0


def tx_step(step_id: str, action: str = "insert_and_count", **extra) -> dict:
    return {"id": step_id, "connector": "python", "action": action, "with": {}, "transaction": True, **extra}


def work() -> None:
    """Process every job due now, as a worker does (without its heartbeat thread)."""
    while (job := claim_one(worker_id="w", queues=["default"])) is not None:
        process(job)


def counter() -> int:
    return Counter.objects.get(name=actions.COUNTER).value


def attempts() -> list[tuple[str, str, str | None]]:
    rows = StepRun.objects.order_by("step_index", "attempt").values_list("step_id", "status", "error")
    return [(step_id, status, (error or {}).get("code")) for step_id, status, error in rows]


def test_the_writes_commit_with_the_steps_success(workflow_factory, rule_factory):
    # The last step's transaction also ends the run and completes its job.
    rule_factory(workflow_factory(steps=[tx_step("first"), tx_step("last")]))
    django_automate.emit("order.created", {})
    work()
    run = ExecutionRun.objects.get()
    assert run.status == "succeeded"
    assert attempts() == [("first", "succeeded", None), ("last", "succeeded", None)]
    assert sorted(StepWrite.objects.values_list("key", flat=True)) == [f"{run.id}:first", f"{run.id}:last"]
    assert counter() == 2
    assert StepRun.objects.get(step_id="first").output == {"wrote": f"{run.id}:first"}
    assert OutboxJob.objects.get(kind=JobKind.EXECUTE_RUN).status == JobStatus.DONE


def test_an_exception_rolls_the_writes_back_and_the_retry_sees_a_clean_state(workflow_factory, rule_factory):
    actions.FAILURES["left"] = 2
    rule_factory(workflow_factory(steps=[tx_step("pay", "insert_then_fail", retry=NOW)]))
    django_automate.emit("order.created", {})
    work()
    run = ExecutionRun.objects.get()
    assert run.status == "succeeded"
    assert attempts() == [
        ("pay", "retrying", "retryable_error"),
        ("pay", "retrying", "retryable_error"),
        ("pay", "succeeded", None),
    ]
    key = f"{run.id}:pay"
    # Each of the three calls wrote a row; each found none: the failed ones rolled back.
    assert actions.CALLS == [(key, 0), (key, 0), (key, 0)]
    assert list(StepWrite.objects.values_list("key", flat=True)) == [key]
    assert counter() == 1


def test_a_failed_step_keeps_none_of_its_writes(workflow_factory, rule_factory):
    actions.FAILURES["left"] = 5
    rule_factory(workflow_factory(steps=[tx_step("pay", "insert_then_fail", retry={**NOW, "max_attempts": 2})]))
    django_automate.emit("order.created", {})
    work()
    assert ExecutionRun.objects.get().status == "failed"
    assert [status for _, status, _ in attempts()] == ["retrying", "failed"]
    assert not StepWrite.objects.exists()
    assert counter() == 0


def test_a_call_past_its_timeout_fails_the_attempt_without_committing(workflow_factory, rule_factory):
    step = tx_step("slow", "insert_then_stall", timeout_seconds=1, retry=NOW)
    step["with"] = {"sleep_seconds": 1.5}
    rule_factory(workflow_factory(steps=[step]))
    django_automate.emit("order.created", {})
    work()
    assert attempts() == [("slow", "retrying", "step_timeout"), ("slow", "succeeded", None)]
    assert StepWrite.objects.count() == counter() == 1
    assert len(actions.CALLS) == 2


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgresql_cancels_a_statement_at_the_steps_deadline(workflow_factory, rule_factory):
    step = tx_step("slow", "insert_then_stall", timeout_seconds=0.5, retry={**NOW, "max_attempts": 1})
    step["with"] = {"sleep_seconds": 30, "in_sql": True}
    rule_factory(workflow_factory(steps=[step]))
    django_automate.emit("order.created", {})
    started = time.monotonic()
    work()
    assert time.monotonic() - started < 10  # not the 30 s of the statement
    assert attempts() == [("slow", "failed", "step_timeout")]
    assert not StepWrite.objects.exists()
    with connection.cursor() as cursor:  # the transaction-local timeout did not stay on the connection
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


def test_a_call_that_outlives_its_lease_rolls_back_and_runs_once_more(workflow_factory, rule_factory, settings):
    step = tx_step("pay", "insert_then_stall", timeout_seconds=30)
    step["with"] = {"sleep_seconds": 2.0}
    note = {"id": "note", "connector": "log", "action": "write", "with": {"message": "hi"}}
    rule_factory(workflow_factory(steps=[step, note]))
    django_automate.emit("order.created", {})
    routing = claim_one(worker_id="w", queues=["default"])
    assert routing is not None
    process(routing)  # with the usual lease
    # The run's lease expires during the call (no heartbeat thread here): LeaseLost rolls its writes back.
    settings.AUTOMATE = {**settings.AUTOMATE, "LEASE_SECONDS": 1}
    work()
    assert not StepWrite.objects.exists() and counter() == 0
    # The attempt is written with its success only (no write before the call): nothing is left of this one.
    assert attempts() == []
    assert OutboxJob.objects.get(kind=JobKind.EXECUTE_RUN).status == JobStatus.CLAIMED
    settings.AUTOMATE = {**settings.AUTOMATE, "LEASE_SECONDS": 30}
    assert recover_expired() == 1
    work()  # another claim calls the function again, which now returns at once
    run = ExecutionRun.objects.get()
    assert run.status == "succeeded"
    assert attempts() == [("pay", "succeeded", None), ("note", "succeeded", None)]
    assert list(StepWrite.objects.values_list("key", flat=True)) == [f"{run.id}:pay"]
    assert counter() == 1


def test_a_worker_with_a_stale_claim_never_calls_the_function(workflow_factory, rule_factory):
    rule_factory(workflow_factory(steps=[tx_step("pay")]))
    django_automate.emit("order.created", {})
    work()
    job = OutboxJob.objects.get(kind=JobKind.EXECUTE_RUN)
    # Another worker re-claimed the job: this claim's token no longer matches the row.
    OutboxJob.objects.filter(pk=job.pk).update(
        status=JobStatus.CLAIMED, lease_token=uuid.uuid4(), lease_expires_at=timezone.now() + dt.timedelta(seconds=60)
    )
    stale = ClaimedJob(job.pk, job.kind, uuid.uuid4(), 1, job.trace_id, job.tenant, None, job.run_id)
    called = []

    def invoke() -> StepResult:
        called.append(True)
        StepWrite.objects.create(key="stale")
        return StepResult()

    with pytest.raises(exceptions.LeaseLost):
        transactional.call_and_succeed("default", stale, invoke, timeout=5, succeed=lambda result: None)
    assert called == []
    assert list(StepWrite.objects.values_list("key", flat=True)) == [f"{job.run_id}:pay"]


def test_only_the_default_database_is_supported():
    with pytest.raises(exceptions.ImproperlyConfigured, match=r"'default' database.*uses 'replica'"):
        transactional.call_and_succeed(
            "replica",
            None,
            lambda: StepResult(),
            timeout=5,
            succeed=lambda result: None,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(
    ("step", "path", "message"),
    [
        (
            {"id": "call", "connector": "http", "action": "request", "with": {"url": "http://x"}, "transaction": True},
            "$.steps[0].transaction",
            "transaction is only for python steps.",
        ),
        (
            {"id": "note", "connector": "log", "action": "write", "with": {"message": "hi"}, "transaction": False},
            "$.steps[0].transaction",
            "transaction is only for python steps.",
        ),
        (
            {"id": "pay", "connector": "python", "action": "insert_and_count", "transaction": "yes"},
            "$.steps[0].transaction",
            "transaction must be of type boolean.",
        ),
        ({"id": "wait", "sleep": {"seconds": 1}, "transaction": True}, "$.steps[0].transaction", "A sleep step"),
    ],
)
def test_transaction_is_a_boolean_of_python_steps_only(step, path, message):
    problems = definition_problems({"steps": [step]})
    assert [p["path"] for p in problems] == [path]
    assert problems[0]["message"].startswith(message)


def test_a_python_step_may_be_transactional():
    assert definition_problems({"steps": [tx_step("pay")]}) == []
    assert definition_problems({"steps": [{**tx_step("pay"), "transaction": False}]}) == []
