"""Budgets: checked and consumed atomically before runs and steps, also under concurrent workers."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections
from django.utils import timezone

import django_automate
from django_automate import exceptions
from django_automate.audit.chain import verify
from django_automate.models import AuditEntry, Budget, BudgetUsage, ExecutionRun, JobStatus, OutboxJob, StepRun
from django_automate.policy import budgets
from django_automate.worker.loop import Worker

pytestmark = pytest.mark.django_db(transaction=True)

SQLITE = connection.vendor == "sqlite"
STEP = {"id": "call", "connector": "http", "action": "request"}


def http_step(url: str, **extra: Any) -> dict[str, Any]:
    return {"id": "call", "connector": "http", "action": "request", "with": {"url": url}, **extra}


def make_budget(**values: Any) -> Budget:
    defaults: dict[str, Any] = {"scope": "global", "metric": "steps", "limit": 10, "period": "day"}
    return Budget.objects.create(**{**defaults, **values})


@pytest.fixture
def run_factory(workflow_factory, rule_factory, run_worker) -> Callable[..., ExecutionRun]:
    """A pending run of a one-step workflow (routing done, its execute job not yet processed)."""

    def make(slug: str = "wf", tenant: str = "") -> ExecutionRun:
        workflow = workflow_factory(steps=[http_step("http://127.0.0.1:9/")], slug=slug, tenant=tenant)
        rule_factory(workflow, event_type=f"{slug}.*", tenant=tenant)
        event = django_automate.emit(f"{slug}.created", {}, tenant=tenant)
        Worker(once=True, install_signal_handlers=False, queues=["default"]).run()  # routes; the run fails later
        return ExecutionRun.objects.select_related("workflow").get(event=event)

    return make


def hammer(run: ExecutionRun, *, rounds: int, attempts: int, threads: int, limit: int) -> list[int]:
    """Per round: a fresh budget, then ``attempts`` step charges from ``threads`` threads released at once.

    Returns how many charges got through in each round. The threads (and their database
    connections) live for all rounds; barriers separate the rounds.
    """
    go, done = threading.Barrier(threads + 1), threading.Barrier(threads + 1)
    granted = [[0] * threads for _ in range(rounds)]
    shares = [attempts // threads + (1 if i < attempts % threads else 0) for i in range(threads)]

    def charge(index: int) -> None:
        try:
            for round_ in range(rounds):
                go.wait()
                for _ in range(shares[index]):
                    try:
                        budgets.check_and_consume_step(run, STEP, "http")
                        granted[round_][index] += 1
                    except exceptions.BudgetExceeded:
                        pass
                done.wait()
        finally:
            connections.close_all()

    pool = [threading.Thread(target=charge, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for _ in range(rounds):
        Budget.objects.update(enabled=False)
        make_budget(limit=limit)
        go.wait()
        done.wait()
    for thread in pool:
        thread.join()
    return [sum(counts) for counts in granted]


def test_concurrent_charges_never_exceed_the_limit(run_factory):
    run = run_factory()
    rounds, attempts, threads, limit = (5, 12, 4, 3) if SQLITE else (20, 50, 16, 10)
    assert hammer(run, rounds=rounds, attempts=attempts, threads=threads, limit=limit) == [limit] * rounds
    assert [budgets.usage(b)["used"] for b in Budget.objects.all()] == [limit] * rounds
    exceeded = AuditEntry.objects.filter(action="budget.exceeded").count()
    assert exceeded == rounds * (attempts - limit)
    assert verify().ok


def drain(concurrency: int = 1 if SQLITE else 8, deadline_seconds: float = 60) -> None:
    deadline = time.monotonic() + deadline_seconds
    while OutboxJob.objects.filter(status=JobStatus.READY, available_at__lte=timezone.now()).exists():
        assert time.monotonic() < deadline
        Worker(once=True, concurrency=concurrency, install_signal_handlers=False).run()


def test_concurrent_runs_execute_exactly_as_many_steps_as_the_budget_allows(
    fast_commits, workflow_factory, rule_factory, http_sink
):
    runs, limit = (15, 5) if SQLITE else (50, 10)
    budget = make_budget(limit=limit)
    rule_factory(workflow_factory(steps=[http_step(f"{http_sink.url}/hook")]))
    for i in range(runs):
        django_automate.emit("order.created", {"i": i})
    drain()
    assert len(http_sink.requests) == limit
    statuses = list(ExecutionRun.objects.values_list("status", flat=True))
    assert sorted(statuses) == ["failed"] * (runs - limit) + ["succeeded"] * limit
    failed = ExecutionRun.objects.filter(status="failed")
    assert {run.error["code"] for run in failed} == {"budget_exceeded"}
    assert StepRun.objects.filter(error__code="budget_exceeded").count() == runs - limit
    entry = AuditEntry.objects.filter(action="budget.exceeded").first()
    assert entry is not None and entry.object_id == str(budget.pk) and entry.data["scope"] == "global"
    assert AuditEntry.objects.filter(action="budget.exceeded").count() == runs - limit


def test_a_deferring_budget_reschedules_the_job_to_the_next_window(workflow_factory, rule_factory, http_sink):
    make_budget(limit=1, period="hour", on_exceed="defer")
    rule_factory(workflow_factory(steps=[http_step(http_sink.url)]))
    django_automate.emit("order.created", {"i": 1})
    django_automate.emit("order.created", {"i": 2})
    drain()
    assert len(http_sink.requests) == 1
    waiting = ExecutionRun.objects.exclude(status="succeeded").get()
    assert waiting.status == "running" and not waiting.steps.exists()
    job = OutboxJob.objects.get(run=waiting)
    _, window_end = budgets.window("hour", timezone.now())
    assert (job.status, job.available_at, job.last_error["code"]) == ("ready", window_end, "budget_exceeded")
    assert AuditEntry.objects.get(action="budget.exceeded").data["on_exceed"] == "defer"


def test_a_runs_budget_fails_the_run_before_any_step(workflow_factory, rule_factory, http_sink):
    make_budget(metric="runs", limit=1)
    rule_factory(workflow_factory(steps=[http_step(http_sink.url)]))
    django_automate.emit("order.created", {"i": 1})
    django_automate.emit("order.created", {"i": 2})
    drain()
    assert len(http_sink.requests) == 1
    failed = ExecutionRun.objects.get(status="failed")
    assert failed.error["code"] == "budget_exceeded" and not failed.steps.exists()
    assert OutboxJob.objects.get(run=failed).status == JobStatus.DEAD


def test_only_budgets_whose_scope_and_tenant_cover_the_work_apply(run_factory):
    run = run_factory(slug="orders", tenant="acme")
    for scope, tenant in [
        ("connector:slack", ""),
        ("workflow:other", "acme"),
        ("workflow:orders", "globex"),
        ("tenant:globex", ""),
        ("global", "globex"),
    ]:
        make_budget(scope=scope, tenant=tenant, limit=0)
    make_budget(scope="global", limit=0, enabled=False)
    budgets.check_and_consume_step(run, STEP, "http")  # none of them applies
    for scope, tenant in [("connector:http", ""), ("workflow:orders", "acme"), ("tenant:acme", ""), ("global", "")]:
        budget = make_budget(scope=scope, tenant=tenant, limit=1)
        budgets.check_and_consume_step(run, STEP, "http")
        with pytest.raises(exceptions.BudgetExceeded) as info:
            budgets.check_and_consume_step(run, STEP, "http")
        assert info.value.details["budget_id"] == str(budget.pk)
        budget.enabled = False
        budget.save()


def test_when_one_budget_is_spent_the_others_are_not_charged(run_factory):
    run = run_factory()
    roomy = make_budget(scope="global", limit=100)
    make_budget(scope="connector:http", limit=0)
    with pytest.raises(exceptions.BudgetExceeded):
        budgets.check_and_consume_step(run, STEP, "http")
    assert budgets.usage(roomy)["used"] == 0


def test_cost_budgets_add_reported_costs_and_block_once_spent(settings, workflow_factory, rule_factory):
    settings.AUTOMATE = {**django_settings.AUTOMATE, "PYTHON_ACTIONS": {"priced": f"{__name__}.priced_action"}}
    budget = make_budget(metric="cost", limit=Decimal("5"))
    step = {"id": "pay", "connector": "python", "action": "priced", "with": {}}
    rule_factory(workflow_factory(steps=[step]))
    for i in range(4):
        django_automate.emit("order.created", {"i": i})
    drain(concurrency=1)  # a cost is known only after its step: concurrent steps may overshoot (documented)
    statuses = sorted(ExecutionRun.objects.values_list("status", flat=True))
    assert statuses == ["failed", "failed", "succeeded", "succeeded"]  # 2.5 + 2.5 reaches the limit
    usage = budgets.usage(budget)
    assert (usage["used"], usage["remaining"], usage["exhausted"]) == (Decimal(5), Decimal(0), True)


def priced_action(params: dict[str, Any], ctx: Any) -> Any:
    from django_automate.connectors.base import StepResult

    return StepResult(output={"paid": True}, cost=2.5)


def test_usage_reports_the_current_window(run_factory):
    run = run_factory()
    budget = make_budget(period="month", limit=3)
    budgets.check_and_consume_step(run, STEP, "http")
    now = timezone.now()
    usage = budgets.usage(budget, now=now)
    start, end = budgets.window("month", now)
    assert usage == {
        "window_start": start,
        "window_end": end,
        "used": Decimal(1),
        "limit": Decimal(3),
        "remaining": Decimal(2),
        "exhausted": False,
    }
    next_month = budgets.usage(budget, now=end + dt.timedelta(seconds=1))
    assert next_month["used"] == 0 and BudgetUsage.objects.count() == 1
