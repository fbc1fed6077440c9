"""The dry run's forecast is what the backfill starts; cancel and resume lose and repeat nothing."""

from __future__ import annotations

from collections import Counter

import pytest

from django_automate import exceptions
from django_automate.models import AuditEntry, Event, ExecutionRun, JobKind, OutboxJob
from django_automate.outbox.claim import claim_one
from django_automate.runs.backfill import batches, services
from tests.integration.backfill.conftest import runs_by_workflow

pytestmark = pytest.mark.django_db(transaction=True)

ORDERS = {"type": "order.created", "where": {"<": [{"var": "event.payload.amount"}, 200]}}


def test_dry_run_counts_events_and_runs_per_workflow_against_the_original_runs(history):
    spec, report = services.preview(ORDERS, tenant="", actor="alice", redacted=True)
    assert (report.scanned, report.matched) == (30, 20)  # amounts 0..190
    forecast = {w.workflow: (w.would_start, w.ran_originally, w.runs_so_far) for w in report.workflows}
    # now: all 20; big from 50 (5..19: 15); vip every 4th (0, 4, …, 16: 5); originally big over 100 (11..19: 9)
    assert forecast == {"all": (20, 20, 20), "big": (15, 9, 9), "vip": (5, 0, 0)}
    assert report.would_start == 40
    assert len(report.sample) == 10
    assert spec.received_until is not None  # the snapshot's end
    assert ExecutionRun.objects.count() == 30 + 19  # nothing written: the original runs only (big: 11..29)


def test_backfill_starts_exactly_what_the_dry_run_forecast(history, run_worker):
    _, report = services.preview(ORDERS, tenant="", actor="alice", redacted=True)
    before = runs_by_workflow()
    backfill = services.request(ORDERS, tenant="", actor="alice", redacted=True)
    run_worker()
    backfill.refresh_from_db()
    started = runs_by_workflow() - before
    assert backfill.status == "done"
    assert started == Counter({w.workflow: w.would_start for w in report.workflows})
    assert backfill.workflows == dict(started)
    assert (backfill.processed, backfill.matched, backfill.started) == (30, 20, 40)
    # replays of runs that existed, first runs where none did
    assert ExecutionRun.objects.filter(workflow__slug="all", replay_seq=1).count() == 20
    assert ExecutionRun.objects.filter(workflow__slug="vip", replay_seq=0).count() == 5
    assert ExecutionRun.objects.exclude(status="succeeded").count() == 0
    actions = list(AuditEntry.objects.filter(object_id=str(backfill.pk)).values_list("action", flat=True))
    assert sorted(actions) == ["backfill.finished", "backfill.requested"]


def test_cancel_then_resume_starts_nothing_twice_and_loses_nothing(history, run_worker):
    backfill = services.request(ORDERS, tenant="", actor="alice", redacted=True)
    batches.run_batch(_claim_backfill())
    backfill.refresh_from_db()
    assert (backfill.status, backfill.processed) == ("running", 7)
    services.cancel(backfill, actor="bob")
    run_worker()
    backfill.refresh_from_db()
    assert (backfill.status, backfill.processed) == ("cancelled", 7)
    with pytest.raises(exceptions.IllegalTransition):
        services.cancel(backfill, actor="bob")
    services.resume(backfill, actor="carol")
    run_worker()
    backfill.refresh_from_db()
    assert (backfill.status, backfill.processed, backfill.matched, backfill.started) == ("done", 30, 20, 40)
    # each selected event replayed once per workflow: one replay of "all" each, never two
    replays = Counter(ExecutionRun.objects.filter(workflow__slug="all").values_list("event_id", flat=True))
    assert sorted(Counter(replays.values()).items()) == [(1, 10), (2, 20)]
    actions = [e.action for e in AuditEntry.objects.filter(object_id=str(backfill.pk)).order_by("seq")]
    assert actions == ["backfill.requested", "backfill.cancelled", "backfill.resumed", "backfill.finished"]
    assert AuditEntry.objects.get(action="backfill.cancelled").actor == "bob"


def test_a_batch_that_fails_rolls_back_whole_and_is_done_again(history, run_worker, monkeypatch):
    backfill = services.request(ORDERS, tenant="", actor="alice", redacted=True)
    real = batches.start_runs

    def crash(runs, **kwargs):
        real(runs, **kwargs)
        raise RuntimeError("killed mid-batch")

    monkeypatch.setattr(batches, "start_runs", crash)
    job = _claim_backfill()
    with pytest.raises(RuntimeError):
        batches.run_batch(job)
    backfill.refresh_from_db()
    assert (backfill.processed, backfill.cursor_event_id) == (0, None)
    assert ExecutionRun.objects.count() == 49  # the batch's runs went with it
    monkeypatch.setattr(batches, "start_runs", real)
    batches.run_batch(job)
    run_worker()
    backfill.refresh_from_db()
    assert (backfill.status, backfill.started) == ("done", 40)


def _claim_backfill():
    job = claim_one(worker_id="w", queues=["default"])
    while job is not None and job.kind != JobKind.BACKFILL:
        from django_automate.worker.handlers import process

        process(job)
        job = claim_one(worker_id="w", queues=["default"])
    assert job is not None
    return job


def test_the_filter_selects_by_endpoint_status_and_time(history, endpoint_factory):
    events = history["events"]
    _, report = services.preview(
        {"received_from": events[5].received_at.isoformat(), "received_until": events[9].received_at.isoformat()},
        tenant="",
        actor="a",
        redacted=True,
    )
    assert report.scanned == 4
    _, report = services.preview({"status": "unmatched"}, tenant="", actor="a", redacted=True)
    assert [event.type for event in report.sample] == ["order.paid"]
    shop = endpoint_factory(slug="shop")
    Event.objects.filter(pk__in=[events[1].pk, events[2].pk]).update(endpoint=shop)
    _, report = services.preview({"endpoint": "shop"}, tenant="", actor="a", redacted=True)
    assert {event.pk for event in report.sample} == {events[1].pk, events[2].pk}
    with pytest.raises(exceptions.ValidationError) as caught:
        services.preview({"endpoint": "shop"}, tenant="acme", actor="a", redacted=True)
    assert caught.value.details["reason"] == "unknown_endpoint"
    _, report = services.preview({}, tenant="other", actor="a", redacted=True)
    assert report.scanned == 0
    assert OutboxJob.objects.filter(kind=JobKind.BACKFILL).count() == 0


def test_a_batch_that_keeps_crashing_fails_the_backfill_which_then_resumes(history, run_worker, monkeypatch, settings):
    from django_automate.worker.handlers import process

    settings.AUTOMATE = {**settings.AUTOMATE, "MAX_JOB_CRASHES": 1}
    backfill = services.request(ORDERS, tenant="", actor="alice", redacted=True)

    def crash(runs, **kwargs):
        raise RuntimeError("the database said no")

    monkeypatch.setattr(batches, "start_runs", crash)
    process(_claim_backfill())
    backfill.refresh_from_db()
    assert (backfill.status, backfill.processed, backfill.job_id) == ("failed", 0, None)
    assert "the database said no" in backfill.error["message"]
    assert AuditEntry.objects.filter(action="backfill.failed", object_id=str(backfill.pk)).exists()
    monkeypatch.undo()
    services.resume(backfill, actor="alice")
    run_worker()
    backfill.refresh_from_db()
    assert (backfill.status, backfill.started) == ("done", 40)


def test_batches_are_spaced_to_keep_the_rate(history, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "BACKFILL_EVENTS_PER_SECOND": 14}  # batches of 7: 0.5 s apart
    backfill = services.request(ORDERS, tenant="", actor="alice", redacted=True)
    job = _claim_backfill()
    before = OutboxJob.objects.get(pk=job.id).updated_at
    batches.run_batch(job)
    backfill.refresh_from_db()
    due = OutboxJob.objects.get(pk=backfill.job_id).available_at
    assert 0.5 <= (due - before).total_seconds() <= 0.8  # the batch began just after the claim


def test_a_backfill_keeps_the_request_trace_or_gets_its_own(history):
    from django_automate.tracing import context

    with context.bind(trace_id="4bf92f35-77b3-4da6-a3ce-929d0e0e4736"):
        assert services.request({}, tenant="", actor="a", redacted=True).trace_id == context.current_trace_id()
    own = services.request({}, tenant="", actor="a", redacted=True)
    assert own.trace_id and OutboxJob.objects.get(pk=own.job_id).trace_id == own.trace_id
