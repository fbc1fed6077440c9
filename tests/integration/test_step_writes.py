"""A step attempt's fenced writes keep their guarantees however they are sent (one statement on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_automate
from django_automate import exceptions
from django_automate.connectors.log import LogConnector
from django_automate.models import Budget, ExecutionRun, JobStatus, OutboxJob, RunStatus, StepRun, StepStatus
from django_automate.outbox.claim import ClaimedJob, claim, claim_one
from django_automate.runs import single_statement
from django_automate.runs.loading import run_to_execute
from django_automate.worker.handlers import process
from django_automate.worker.loop import Worker
from django_automate.workflows.versions import get_version

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _log_recorded_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about attempts recorded before their call: ``log`` stands in for an external connector.

    (``log`` itself is recorded once, after its call: tests/integration/test_record_once.py.)
    """
    monkeypatch.setattr(LogConnector, "external", True)


@pytest.fixture
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement writes are PostgreSQL's: runs with AUTOMATE_TEST_DB=postgres")


def claimed_run_job(workflow_factory: Any, rule_factory: Any, tenant: str = "") -> ClaimedJob:
    """Route one event of ``tenant`` (its run queued for any worker) and claim the run's job."""
    rule_factory(workflow_factory(tenant=tenant), tenant=tenant)
    django_automate.emit("order.created", {"n": 1}, tenant=tenant)
    route = claim_one(worker_id="w", queues=["default"])
    assert route is not None
    process(route)
    job = claim_one(worker_id="w", queues=["default"])
    assert job is not None and job.run_id is not None
    return job


def during_the_call(monkeypatch: pytest.MonkeyPatch, action: Any) -> None:
    original = LogConnector.execute

    def execute(self: LogConnector, name: str, params: Any, ctx: Any) -> Any:
        action(ctx)
        return original(self, name, params, ctx)

    monkeypatch.setattr(LogConnector, "execute", execute)


def test_a_run_cancelled_during_its_last_step_stays_cancelled_and_its_job_completes(
    workflow_factory, rule_factory, monkeypatch
):
    job = claimed_run_job(workflow_factory, rule_factory)
    during_the_call(monkeypatch, lambda ctx: ExecutionRun.objects.filter(id=ctx.run_id).update(status="cancelled"))
    process(job)
    assert ExecutionRun.objects.get(id=job.run_id).status == RunStatus.CANCELLED
    assert OutboxJob.objects.get(id=job.id).status == JobStatus.DONE
    # The call happened: its attempt is on record as succeeded.
    assert list(StepRun.objects.values_list("status", flat=True)) == [StepStatus.SUCCEEDED]


def test_an_attempt_closed_by_someone_else_is_not_closed_again_and_the_job_is_not_completed(
    workflow_factory, rule_factory, monkeypatch
):
    job = claimed_run_job(workflow_factory, rule_factory)
    during_the_call(monkeypatch, lambda ctx: StepRun.objects.update(status=StepStatus.FAILED))
    process(job)
    # Nothing of the closing transaction was written; the job went back for another attempt.
    assert ExecutionRun.objects.get(id=job.run_id).status == RunStatus.RUNNING
    assert list(StepRun.objects.values_list("status", "success_guard")) == [(StepStatus.FAILED, None)]
    assert OutboxJob.objects.get(id=job.id).status == JobStatus.READY


def test_a_late_worker_whose_attempt_the_next_holder_closed_gets_lease_lost_and_writes_nothing(
    workflow_factory, rule_factory, monkeypatch, caplog
):
    job = claimed_run_job(workflow_factory, rule_factory)
    other = uuid.uuid4()

    def taken_over(ctx: Any) -> None:
        # The lease expired during the call; another worker recovered the job and closed the attempt.
        OutboxJob.objects.filter(id=job.id).update(lease_token=other, leased_by="next")
        StepRun.objects.update(status=StepStatus.RETRYING)

    during_the_call(monkeypatch, taken_over)
    with caplog.at_level(logging.WARNING):
        process(job)
    assert "Lost the lease" in caplog.text and "failed unexpectedly" not in caplog.text
    assert OutboxJob.objects.filter(id=job.id, status=JobStatus.CLAIMED, lease_token=other).exists()
    assert ExecutionRun.objects.get(id=job.run_id).status == RunStatus.RUNNING
    assert list(StepRun.objects.values_list("status", flat=True)) == [StepStatus.RETRYING]


def test_a_worker_whose_lease_expired_before_its_first_attempt_records_nothing_and_calls_nothing(
    workflow_factory, rule_factory, monkeypatch
):
    job = claimed_run_job(workflow_factory, rule_factory)
    calls: list[str] = []
    during_the_call(monkeypatch, lambda ctx: calls.append(ctx.run_id))
    OutboxJob.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    process(job)
    assert calls == []
    assert not StepRun.objects.exists()
    assert ExecutionRun.objects.get(id=job.run_id).status == RunStatus.PENDING


@pytest.mark.usefixtures("_postgres_only")
def test_a_one_step_execution_writes_in_one_statement_per_transaction(workflow_factory, rule_factory):
    job = claimed_run_job(workflow_factory, rule_factory)
    get_version(ExecutionRun.objects.get(id=job.run_id).workflow_version_id)  # immutable: read once per process
    with CaptureQueriesContext(connection) as queries:
        process(job)
    statements = [q["sql"] for q in queries.captured_queries]
    # The run's load, the attempt recorded (fence, run started, attempt inserted) and closed with the
    # run's end and the job's completion: no BEGIN, no COMMIT, no other write.
    assert len(statements) == 3, [text[:60] for text in statements]
    assert "WITH fence AS (UPDATE" in statements[1] and "INSERT INTO" in statements[1]
    assert "WITH held AS (SELECT" in statements[2]
    assert ExecutionRun.objects.get(id=job.run_id).status == RunStatus.SUCCEEDED
    assert OutboxJob.objects.get(id=job.id).status == JobStatus.DONE


@pytest.mark.usefixtures("_postgres_only")
def test_an_attempt_recorded_in_one_statement_reads_back_like_one_saved_by_the_orm(workflow_factory, rule_factory):
    job = claimed_run_job(workflow_factory, rule_factory)
    run = run_to_execute(job.run_id)
    values: dict[str, Any] = {
        "tenant": "",
        "run": run,
        "step_id": "say",
        "step_index": 0,
        "connector": "log",
        "action": "write",
        "status": StepStatus.RUNNING,
        "idempotency_key": "k",
        "trace_id": run.trace_id,
        "started_at": timezone.now(),
        "input": {"a": [1, 2.5, None, True, "naïve ☃"], "quote": "'; --"},
        "cost": Decimal("1.25"),
    }
    ours = StepRun(**values)
    single_statement.record(job, run, ours, using="default")
    theirs = StepRun(**{**values, "attempt": 2})
    theirs.save(force_insert=True)
    mine, saved = StepRun.objects.get(pk=ours.pk), StepRun.objects.get(pk=theirs.pk)
    for name in ("input", "cost", "status", "started_at", "idempotency_key", "run_id", "success_guard", "tenant"):
        assert getattr(mine, name) == getattr(saved, name), name
    assert mine.created_at is not None
    assert ExecutionRun.objects.get(id=run.pk).status == RunStatus.RUNNING == run.status
    # The same statement with a lost lease writes nothing and says so.
    OutboxJob.objects.filter(id=job.id).update(lease_token=None)
    with pytest.raises(exceptions.LeaseLost):
        single_statement.record(job, run, StepRun(**{**values, "attempt": 3}), using="default")
    assert StepRun.objects.count() == 2


def test_a_run_loaded_for_execution_equals_the_orms_with_its_event_and_workflow(workflow_factory, rule_factory):
    job = claimed_run_job(workflow_factory, rule_factory, tenant="acme")
    loaded = run_to_execute(job.run_id)
    orm = ExecutionRun.objects.select_related("event", "workflow").get(id=job.run_id)
    for obj, expected in ((loaded, orm), (loaded.event, orm.event), (loaded.workflow, orm.workflow)):
        for field in type(expected)._meta.concrete_fields:
            assert getattr(obj, field.attname) == getattr(expected, field.attname), field.name
    assert loaded.event.payload == {"n": 1} and loaded.workflow_version.pk == orm.workflow_version_id
    with pytest.raises(ExecutionRun.DoesNotExist):
        run_to_execute(orm.event.pk)


@pytest.mark.parametrize(
    ("budget", "applies"),
    [
        (None, False),
        ({"tenant": "acme"}, True),
        ({"tenant": ""}, True),  # every tenant's
        ({"tenant": "globex"}, False),
        ({"tenant": "acme", "enabled": False}, False),
    ],
)
def test_a_run_loaded_for_execution_knows_whether_a_budget_may_apply(workflow_factory, rule_factory, budget, applies):
    if budget is not None:
        Budget.objects.create(scope="global", metric="runs", limit=Decimal(5), period="day", **budget)
    job = claimed_run_job(workflow_factory, rule_factory, tenant="acme")
    assert run_to_execute(job.run_id).automate_has_budgets is applies  # type: ignore[attr-defined]


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.usefixtures("_postgres_only")
@pytest.mark.parametrize("threshold", [None, 0])
def test_the_hot_statements_are_prepared_only_where_the_project_allows_prepared_statements(
    workflow_factory, rule_factory, threshold
):
    options = connection.settings_dict.setdefault("OPTIONS", {})
    saved = options.get("prepare_threshold")
    connection.ensure_connection()
    options["prepare_threshold"] = connection.connection.prepare_threshold = threshold
    try:
        rule_factory(workflow_factory())
        for n in range(3):
            django_automate.emit("order.created", {"n": n})
        assert Worker(once=True, install_signal_handlers=False).run() == 6
        prepared = prepared_statements()
    finally:
        options["prepare_threshold"] = connection.connection.prepare_threshold = saved
    assert ExecutionRun.objects.filter(status=RunStatus.SUCCEEDED).count() == 3
    hot = [text for text in prepared if "WITH fence AS" in text or "WITH held AS" in text]
    # Django leaves prepared statements off (connection poolers); where a project turns them on, so do we.
    assert len(hot) == (0 if threshold is None else 2)


@pytest.mark.usefixtures("_postgres_only")
def test_a_worker_reads_a_claimed_runs_run_with_the_claim_itself(workflow_factory, rule_factory):
    job = claimed_run_job(workflow_factory, rule_factory)
    OutboxJob.objects.filter(id=job.id).update(status=JobStatus.READY, lease_token=None)  # back in the queue
    django_automate.emit("order.created", {"n": 2})  # a routing job behind it
    [claimed] = claim(worker_id="w", queues=["default"], routing_batch=10, with_runs=True)
    assert claimed.id == job.id and claimed.run is not None
    orm = ExecutionRun.objects.select_related("event", "workflow").get(id=job.run_id)
    for obj, expected in ((claimed.run, orm), (claimed.run.event, orm.event), (claimed.run.workflow, orm.workflow)):
        for field in type(expected)._meta.concrete_fields:
            assert getattr(obj, field.attname) == getattr(expected, field.attname), field.name
    assert claimed.run.automate_has_budgets is False  # type: ignore[attr-defined]
    [route] = claim(worker_id="w", queues=["default"], routing_batch=10, with_runs=True)
    assert route.kind == "route_event" and route.run is None
    OutboxJob.objects.filter(id__in=[claimed.id, route.id]).update(status=JobStatus.READY, lease_token=None)
    with CaptureQueriesContext(connection) as queries:
        assert Worker(once=True, install_signal_handlers=False).run() == 3
    # No read of a run of its own: the claims brought the queued run, the hand-off the other.
    assert not [q["sql"] for q in queries.captured_queries if re.match(r"(QUERY = ')?SELECT r\.", q["sql"])]
    assert ExecutionRun.objects.filter(status=RunStatus.SUCCEEDED).count() == 2
