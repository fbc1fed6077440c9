"""Routing hands the run it creates to its own worker: no claim, no NOTIFY, same guarantees."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_automate
from django_automate import exceptions
from django_automate.models import ExecutionRun, JobKind, JobStatus, OutboxJob, RunStatus, StepRun
from django_automate.outbox.claim import claim_one, recover_expired
from django_automate.runs.routing import Handoff, route_event
from django_automate.worker.loop import Worker

pytestmark = pytest.mark.django_db(transaction=True)


def is_claim(sql: str) -> bool:
    """A claim picks the oldest ready job: SKIP LOCKED, ordered by availability (lease recovery is not)."""
    return "SKIP LOCKED" in sql and "available_at" in sql.split("ORDER BY")[-1]


def claim_route_job(worker_id: str = "router"):  # type: ignore[no-untyped-def]
    job = claim_one(worker_id=worker_id, queues=["default"])
    assert job is not None and job.kind == JobKind.ROUTE_EVENT
    return job


def test_the_routing_worker_executes_the_run_it_created_without_claiming_it(workflow_factory, rule_factory):
    rule_factory(workflow_factory())
    event = django_automate.emit("order.created", {"n": 1})
    worker = Worker(once=True, install_signal_handlers=False)
    with CaptureQueriesContext(connection) as queries:
        assert worker.run() == 2  # the routing job and the run's job
    run = ExecutionRun.objects.get(event=event)
    assert run.status == RunStatus.SUCCEEDED
    job = OutboxJob.objects.get(run=run)
    assert (job.status, job.attempts, job.leased_by) == (JobStatus.DONE, 1, worker.id)
    claims = [q["sql"] for q in queries.captured_queries if is_claim(q["sql"])]
    notifies = [q["sql"] for q in queries.captured_queries if "pg_notify" in q["sql"]]
    # One claim that finds the routing job (plus the one that finds nothing and ends ``once``), no NOTIFY.
    if connection.vendor != "sqlite":
        assert len(claims) == 2
    assert notifies == []


def test_only_the_first_run_is_handed_off_and_the_others_wait_for_any_worker(workflow_factory, rule_factory):
    rule_factory(workflow_factory(slug="first"), priority=10)
    rule_factory(workflow_factory(slug="second"), priority=5)
    event = django_automate.emit("order.created", {})
    handoff = Handoff("router")
    runs = route_event(claim_route_job(), handoff=handoff)
    assert len(runs) == 2
    assert handoff.job is not None and handoff.run is not None
    handed = OutboxJob.objects.get(id=handoff.job.id)
    assert (handed.status, handed.leased_by, handed.lease_token, handed.attempts) == (
        JobStatus.CLAIMED,
        "router",
        handoff.job.lease_token,
        1,
    )
    assert handed.lease_expires_at > timezone.now()
    other = OutboxJob.objects.exclude(id=handed.id).get(kind=JobKind.EXECUTE_RUN)
    assert other.status == JobStatus.READY and other.run_id != handoff.run.pk
    assert handoff.run.event_id == event.id
    assert handoff.run.workflow_version.definition["steps"][0]["id"] == "say"  # ready to execute, from memory


def test_a_handed_off_job_whose_worker_died_is_recovered_and_run_once(workflow_factory, rule_factory):
    rule_factory(workflow_factory())
    django_automate.emit("order.created", {})
    handoff = Handoff("router-that-dies")
    route_event(claim_route_job(), handoff=handoff)
    assert handoff.job is not None
    # The router dies before executing: nobody else may take the job while its lease runs …
    assert claim_one(worker_id="other", queues=["default"]) is None
    OutboxJob.objects.filter(id=handoff.job.id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    # … and once it has expired, any worker recovers and runs it.
    assert recover_expired() == 1
    assert Worker(once=True, install_signal_handlers=False).run() == 1
    run = ExecutionRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED
    assert StepRun.objects.filter(run=run).count() == 1
    assert OutboxJob.objects.get(id=handoff.job.id).attempts == 2


def test_routing_that_rolls_back_hands_nothing_off(workflow_factory, rule_factory):
    rule_factory(workflow_factory())
    django_automate.emit("order.created", {})
    job = claim_route_job()
    OutboxJob.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    handoff = Handoff("router")
    with pytest.raises(exceptions.LeaseLost):
        route_event(job, handoff=handoff)
    assert (handoff.job, handoff.run) == (None, None)
    assert not OutboxJob.objects.filter(kind=JobKind.EXECUTE_RUN).exists()


def test_a_worker_not_serving_the_run_queue_leaves_the_run_to_others(workflow_factory, rule_factory):
    rule_factory(workflow_factory())
    django_automate.emit("order.created", {})
    OutboxJob.objects.update(queue="routing")
    assert Worker(queues=["routing"], once=True, install_signal_handlers=False).run() == 1
    job = OutboxJob.objects.get(kind=JobKind.EXECUTE_RUN)
    assert (job.status, job.queue, job.attempts) == (JobStatus.READY, "default", 0)
    assert Worker(once=True, install_signal_handlers=False).run() == 1
    assert ExecutionRun.objects.get().status == RunStatus.SUCCEEDED


def test_a_handed_off_run_stopped_for_shutdown_is_released_for_another_worker(workflow_factory, rule_factory):
    from django_automate.worker.handlers import process

    rule_factory(workflow_factory())
    django_automate.emit("order.created", {})
    handoff = Handoff("router")
    route_event(claim_route_job(), handoff=handoff)
    assert handoff.job is not None
    stopping = threading.Event()
    stopping.set()
    process(handoff.job, stopping=stopping, run=handoff.run)
    job = OutboxJob.objects.get(id=handoff.job.id)
    assert (job.status, job.lease_token) == (JobStatus.READY, None)
    assert Worker(once=True, install_signal_handlers=False).run() == 1
    assert ExecutionRun.objects.get().status == RunStatus.SUCCEEDED
