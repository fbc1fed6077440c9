"""A definition's ``priority``: its runs' jobs (and their steps' and retries') are claimed first (SPEC §14)."""

from __future__ import annotations

import pytest

import django_automate
from django_automate.models import ExecutionRun, JobKind, OutboxJob, StepRun
from django_automate.outbox.claim import claim_by_id
from django_automate.runs import operations
from django_automate.worker.handlers import process
from django_automate.workflows.definition import definition_problems

pytestmark = pytest.mark.django_db(transaction=True)


def log(step_id: str = "say", **extra: object) -> dict:
    return {"id": step_id, "connector": "log", "action": "write", "with": {"message": "hi"}, **extra}


def route_only() -> None:
    """Process the routing jobs (by id: a run job of higher priority would be claimed first), not the runs."""
    for job_id in OutboxJob.objects.filter(kind=JobKind.ROUTE_EVENT).values_list("id", flat=True):
        job = claim_by_id(job_id, worker_id="router")
        assert job is not None
        process(job)


@pytest.mark.parametrize("value", [1001, -1001, 1.5, "high", True])
def test_priority_is_an_integer_within_bounds(value):
    problems = definition_problems({"steps": [log()], "priority": value})
    assert [p["path"] for p in problems] == ["$.priority"]


def test_higher_priority_runs_are_claimed_first(workflow_factory, rule_factory, run_worker):
    low = workflow_factory(steps=[log()], slug="low", definition={"steps": [log()], "priority": -5})
    high = workflow_factory(steps=[log()], slug="high", definition={"steps": [log()], "priority": 10})
    rule_factory(low, name="low", event_type="order.low")
    rule_factory(high, name="high", event_type="order.high")
    for _ in range(3):
        django_automate.emit("order.low", {})
    for _ in range(3):
        django_automate.emit("order.high", {})
    route_only()
    ranks = dict(OutboxJob.objects.filter(kind=JobKind.EXECUTE_RUN).values_list("run__workflow__slug", "priority"))
    assert ranks == {"low": -5, "high": 10}
    run_worker()
    started = StepRun.objects.order_by("started_at", "id").values_list("run__workflow__slug", flat=True)
    assert list(started) == ["high"] * 3 + ["low"] * 3


def test_step_jobs_and_retries_carry_their_runs_priority(workflow_factory, rule_factory, run_worker, http_sink):
    http_sink.responses.append((400, {}, b"{}"))
    call = {"id": "call", "connector": "http", "action": "request", "with": {"method": "POST", "url": http_sink.url}}
    definition = {"steps": [log("a"), {**call, "needs": ["a"]}], "priority": 7}
    rule_factory(workflow_factory(definition=definition))
    django_automate.emit("order.created", {})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "failed"
    assert set(OutboxJob.objects.filter(kind=JobKind.EXECUTE_STEP).values_list("priority", flat=True)) == {7}
    operations.retry_run(run, actor="test")
    assert OutboxJob.objects.filter(kind=JobKind.EXECUTE_RUN, status="ready").get().priority == 7
    run_worker()
    run.refresh_from_db()
    assert run.status == "succeeded"
