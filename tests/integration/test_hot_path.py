"""The short execution path keeps its guarantees: claims, merged transactions, fencing, budgets."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

import django_automate
from django_automate.connectors.log import LogConnector
from django_automate.models import Budget, BudgetUsage, ExecutionRun, JobKind, JobStatus, OutboxJob, StepRun
from django_automate.outbox.claim import claim_one, recover_expired
from django_automate.worker.handlers import process

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_claim_returns_the_highest_priority_job_of_the_queues_with_its_row_values():
    low = django_automate.emit("order.created", {"n": 1}, tenant="acme")
    high = django_automate.emit("order.created", {"n": 2}, tenant="acme")
    OutboxJob.objects.filter(event=low).update(queue="a")
    OutboxJob.objects.filter(event=high).update(queue="b", priority=5)
    first = claim_one(worker_id="w", queues=["a", "b"])
    second = claim_one(worker_id="w", queues=["a", "b"])
    assert first is not None and second is not None
    assert (first.event_id, second.event_id) == (high.id, low.id)
    row = OutboxJob.objects.get(id=first.id)
    assert (first.kind, first.tenant, first.trace_id, first.run_id) == (
        JobKind.ROUTE_EVENT,
        "acme",
        high.trace_id,
        None,
    )
    assert (row.status, row.lease_token, row.attempts, first.attempts) == (
        JobStatus.CLAIMED,
        first.lease_token,
        1,
        1,
    )
    assert claim_one(worker_id="w", queues=["a", "b"]) is None
    assert claim_one(worker_id="w", queues=[]) is None


def test_losing_the_lease_during_the_last_step_discards_its_success_and_the_run_finishes_later(
    workflow_factory, rule_factory, run_worker, monkeypatch
):
    rule_factory(workflow_factory())
    original = LogConnector.execute
    calls: list[str] = []

    def execute_then_lose_the_lease(self: LogConnector, action: str, params: Any, ctx: Any) -> Any:
        calls.append(ctx.idempotency_key)
        if len(calls) == 1:
            OutboxJob.objects.filter(status=JobStatus.CLAIMED).update(
                lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
            )
        return original(self, action, params, ctx)

    monkeypatch.setattr(LogConnector, "execute", execute_then_lose_the_lease)
    django_automate.emit("order.created", {})
    route = claim_one(worker_id="w", queues=["default"])
    assert route is not None
    process(route)
    job = claim_one(worker_id="w", queues=["default"])
    assert job is not None and job.run_id is not None
    process(job)
    # A log step is recorded once, after its call: the attempt, the run's start and end and the
    # job's completion were one write, discarded as a whole.
    run = ExecutionRun.objects.get(id=job.run_id)
    assert run.status == "pending"
    assert not StepRun.objects.exists()
    assert OutboxJob.objects.get(id=job.id).status == JobStatus.CLAIMED
    assert recover_expired() == 1
    run_worker()
    run.refresh_from_db()
    assert run.status == "succeeded"
    attempts = list(StepRun.objects.order_by("attempt").values_list("status", "error__code"))
    assert attempts == [("succeeded", None)]
    assert calls == [f"{run.id}:say", f"{run.id}:say"]  # called again: a log line may repeat after a crash
    assert OutboxJob.objects.get(id=job.id).status == JobStatus.DONE


def test_a_run_released_at_shutdown_before_its_first_step_is_charged_to_its_budget_once(
    workflow_factory, rule_factory, run_worker
):
    budget = Budget.objects.create(scope="global", metric="runs", limit=Decimal(1), period="day")
    rule_factory(workflow_factory())
    django_automate.emit("order.created", {})
    route = claim_one(worker_id="w", queues=["default"])
    assert route is not None
    process(route)
    job = claim_one(worker_id="w", queues=["default"])
    assert job is not None
    stopping = threading.Event()
    stopping.set()
    process(job, stopping=stopping)
    assert OutboxJob.objects.get(id=job.id).status == JobStatus.READY
    assert ExecutionRun.objects.get().status == "running"
    run_worker()
    assert ExecutionRun.objects.get().status == "succeeded"
    assert BudgetUsage.objects.get(budget=budget).used == 1
    assert StepRun.objects.get().status == "succeeded"


def _execute_next_run(tenant: str) -> tuple[ExecutionRun, int]:
    """Route the tenant's event, then execute its run; how many statements of the execution read budgets."""
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    route = claim_one(worker_id="w", queues=["default"])
    assert route is not None
    process(route)
    job = claim_one(worker_id="w", queues=["default"])
    assert job is not None and job.run_id is not None and job.tenant == tenant
    with CaptureQueriesContext(connection) as queries:
        process(job)
    reads = [q["sql"] for q in queries if re.search(r"FROM [`\"]automate_budget[`\"]", q["sql"])]
    return ExecutionRun.objects.get(id=job.run_id), len(reads)


def test_a_tenant_without_budgets_reads_none_and_a_tenant_with_budgets_reads_them_once_per_execution(
    workflow_factory, rule_factory
):
    say = {"connector": "log", "action": "write", "with": {"message": "hi"}}
    steps = [{"id": "one", **say}, {"id": "two", **say}, {"id": "three", **say}]
    for tenant in ("acme", "globex"):
        rule_factory(workflow_factory(steps=steps, slug=f"wf-{tenant}", tenant=tenant), tenant=tenant)
    runs = Budget.objects.create(tenant="globex", scope="tenant:globex", metric="runs", limit=Decimal(5), period="day")
    steps_budget = Budget.objects.create(
        tenant="globex", scope="tenant:globex", metric="steps", limit=Decimal(2), period="day"
    )
    django_automate.emit("order.created", {}, tenant="acme")
    run, reads = _execute_next_run("acme")
    # Only the EXISTS the run's own query carries: no budget query of its own, none per step.
    assert (run.status, run.steps.count(), reads) == ("succeeded", 3, 1)
    assert not BudgetUsage.objects.exists()

    django_automate.emit("order.created", {}, tenant="globex")
    run, reads = _execute_next_run("globex")
    # The run's EXISTS plus one load, reused by the run check and every step check, which still charge atomically.
    assert reads == 2
    assert (run.status, run.error["step_id"], run.error["code"]) == ("failed", "three", "budget_exceeded")
    assert BudgetUsage.objects.get(budget=runs).used == 1
    assert BudgetUsage.objects.get(budget=steps_budget).used == 2


def test_routing_that_collides_with_runs_created_meanwhile_creates_only_the_missing_ones(
    workflow_factory, rule_factory
):
    first, second = workflow_factory(slug="first"), workflow_factory(slug="second")
    rule_factory(first, name="to-first")
    rule_factory(second, name="to-second")
    event = django_automate.emit("order.created", {})
    route = claim_one(worker_id="w", queues=["default"])
    assert route is not None
    # Another router (fencing bypassed) already created the first workflow's run.
    earlier = ExecutionRun.objects.create(
        event=event, workflow=first, workflow_version_id=first.current_version_id, trace_id=event.trace_id
    )
    process(route)
    runs = {run.workflow_id: run for run in ExecutionRun.objects.filter(event=event)}
    assert set(runs) == {first.pk, second.pk} and runs[first.pk].pk == earlier.pk
    assert list(OutboxJob.objects.filter(kind=JobKind.EXECUTE_RUN).values_list("run_id", flat=True)) == [
        runs[second.pk].pk
    ]
    assert runs[second.pk].trace_id == event.trace_id and runs[second.pk].rule.name == "to-second"
    assert OutboxJob.objects.get(id=route.id).status == JobStatus.DONE
    event.refresh_from_db()
    assert event.status == "routed"
