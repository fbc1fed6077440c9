"""A worker routes the routing jobs waiting behind the one it claims together: same outcome, fewer statements."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import django_automate
from django_automate.models import Event, EventStatus, ExecutionRun, JobKind, JobStatus, OutboxJob, RunStatus
from django_automate.outbox.claim import claim
from django_automate.runs.routing import Handoff
from django_automate.worker.handlers import process, route_together
from django_automate.worker.loop import Worker

pytestmark = pytest.mark.django_db(transaction=True)


def emit(count: int, event_type: str = "order.created") -> list[Event]:
    return [django_automate.emit(event_type, {"n": n}) for n in range(count)]


def test_a_routing_job_comes_with_the_routing_jobs_behind_it_up_to_the_batch():
    events = emit(5)
    jobs = claim(worker_id="w", queues=["default"], routing_batch=3)
    assert [job.event_id for job in jobs] == [event.id for event in events[:3]]
    assert len({job.lease_token for job in jobs}) == 1
    rows = OutboxJob.objects.filter(id__in=[job.id for job in jobs])
    assert {(row.status, row.leased_by, row.attempts) for row in rows} == {(JobStatus.CLAIMED, "w", 1)}
    # The rest is left to other workers.
    rest = claim(worker_id="other", queues=["default"], routing_batch=10)
    assert [job.event_id for job in rest] == [event.id for event in events[3:]]
    assert claim(worker_id="w", queues=["default"], routing_batch=10) == []


def test_a_run_job_is_claimed_alone_even_with_routing_jobs_behind_it(workflow_factory, rule_factory):
    rule_factory(workflow_factory())
    emit(1)
    [route] = claim(worker_id="w", queues=["default"], routing_batch=10)
    process(route)  # no hand-off: the run's job waits for any worker
    emit(3)
    first = claim(worker_id="w", queues=["default"], routing_batch=10)
    # The run job is older than the three new routing jobs: it comes first, and alone.
    assert [job.kind for job in first] == [JobKind.EXECUTE_RUN]
    assert OutboxJob.objects.filter(kind=JobKind.ROUTE_EVENT, status=JobStatus.READY).count() == 3


def route_batch(matched: int, unmatched: int, handoff: Handoff | None) -> int:
    """Emit and route one batch of events; the statements its routing took."""
    emit(matched, "order.created")
    emit(unmatched, "invoice.paid")  # matches no rule
    jobs = claim(worker_id="w", queues=["default"], routing_batch=100)
    assert len(jobs) == matched + unmatched
    with CaptureQueriesContext(connection) as queries:
        assert route_together(jobs, handoff=handoff) == []
    assert set(OutboxJob.objects.filter(id__in=[job.id for job in jobs]).values_list("status", flat=True)) == {
        JobStatus.DONE
    }
    # The run jobs are not this test's subject: out of the next claims' way.
    OutboxJob.objects.filter(kind=JobKind.EXECUTE_RUN, status=JobStatus.READY).update(status=JobStatus.DONE)
    return len(queries.captured_queries)


def test_a_batch_is_routed_with_the_same_outcome_in_a_constant_number_of_statements(workflow_factory, rule_factory):
    rule_factory(workflow_factory(slug="orders"), event_type="order.*")
    route_batch(1, 0, Handoff("w"))  # rules, workflow and version read once, then kept
    handoff = Handoff("w")
    small = route_batch(2, 2, handoff)
    statuses = dict(Event.objects.values_list("type", "status").distinct())
    assert statuses == {"order.created": EventStatus.ROUTED, "invoice.paid": EventStatus.UNMATCHED}
    assert ExecutionRun.objects.count() == 3 and {run.status for run in ExecutionRun.objects.all()} == {
        RunStatus.PENDING
    }
    # The first run of the batch is this worker's already; the other one waited for any worker.
    assert handoff.job is not None and handoff.run is not None
    assert OutboxJob.objects.get(id=handoff.job.id).status == JobStatus.CLAIMED
    assert handoff.run.workflow_version.definition["steps"][0]["id"] == "say"
    # Three times the events, not more statements (the run jobs go in with one INSERT where no save receiver listens).
    assert route_batch(6, 6, Handoff("w")) == small
    assert ExecutionRun.objects.count() == 9


def test_a_worker_routes_and_executes_a_backlog_with_each_event_routed_once(workflow_factory, rule_factory):
    rule_factory(workflow_factory())
    events = emit(25)
    worker = Worker(once=True, install_signal_handlers=False)
    assert worker.run() == 50
    assert set(Event.objects.values_list("status", flat=True)) == {EventStatus.ROUTED}
    assert ExecutionRun.objects.filter(status=RunStatus.SUCCEEDED).count() == 25
    assert sorted(ExecutionRun.objects.values_list("event_id", flat=True)) == sorted(event.id for event in events)
    assert set(OutboxJob.objects.values_list("status", flat=True)) == {JobStatus.DONE}


def test_a_batch_with_a_lost_lease_falls_back_to_one_at_a_time(workflow_factory, rule_factory, caplog):
    rule_factory(workflow_factory())
    first, taken, third = emit(3)
    jobs = claim(worker_id="w", queues=["default"], routing_batch=10)
    assert len(jobs) == 3
    # Another worker recovered the middle job (its lease expired) and holds it now.
    OutboxJob.objects.filter(event=taken).update(lease_token=None, leased_by="other")
    with caplog.at_level(logging.WARNING):
        left = route_together(jobs, handoff=None)
    assert "routing them one at a time" in caplog.text
    # Nothing of the batch was written: each job gets its own outcome.
    assert left == jobs
    assert not ExecutionRun.objects.exists()
    for job in left:
        process(job)
    assert sorted(ExecutionRun.objects.values_list("event_id", flat=True)) == sorted([first.id, third.id])
    assert Event.objects.get(id=taken.id).status == EventStatus.PENDING


def test_a_missing_event_is_left_to_routing_alone_and_the_rest_is_routed(workflow_factory, rule_factory):
    rule_factory(workflow_factory())
    kept, gone = emit(2)
    jobs = claim(worker_id="w", queues=["default"], routing_batch=10)
    OutboxJob.objects.filter(event=gone).update(event=None)
    jobs = [job if job.event_id == kept.id else dataclasses.replace(job, event_id=None) for job in jobs]
    left = route_together(jobs, handoff=None)
    assert [job.event_id for job in left] == [None]
    assert list(ExecutionRun.objects.values_list("event_id", flat=True)) == [kept.id]


def test_a_batch_size_of_one_routes_one_event_per_claim(workflow_factory, rule_factory, settings):
    settings.AUTOMATE = {**getattr(settings, "AUTOMATE", {}), "WORKER_BATCH_SIZE": 1}
    rule_factory(workflow_factory())
    emit(3)
    with CaptureQueriesContext(connection) as queries:
        assert Worker(once=True, install_signal_handlers=False).run() == 6
    assert not any('lease_token" IN' in q["sql"] for q in queries.captured_queries)
    assert ExecutionRun.objects.filter(status=RunStatus.SUCCEEDED).count() == 3
