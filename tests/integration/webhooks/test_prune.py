"""``manage.py automate prune-events``: old, finished events go; anything still in flight stays."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

import django_automate
from django_automate.models import AuditEntry, Event, ExecutionRun, JobKind, JobStatus, OutboxJob, StepRun

pytestmark = pytest.mark.django_db

OLD = timezone.now() - dt.timedelta(hours=73)  # past the default 72 h retention


def event(name: str, *, job: str = JobStatus.DONE, old: bool = True) -> Event:
    created = django_automate.emit("order.created", {"name": name}, idempotency_key=name)
    OutboxJob.objects.filter(event=created).update(status=job)
    if old:
        Event.objects.filter(id=created.id).update(received_at=OLD)
    return created


def run(workflow, of: Event, status: str, *, job: str | None = None, replay_of=None, seq: int = 0) -> ExecutionRun:
    made = ExecutionRun.objects.create(
        event=of,
        workflow=workflow,
        workflow_version=workflow.current_version,
        status=status,
        trace_id=of.trace_id,
        replay_of=replay_of,
        replay_seq=seq,
    )
    StepRun.objects.create(
        run=made, step_id="say", step_index=0, connector="log", action="write", idempotency_key="k", trace_id="t"
    )
    if job is not None:
        OutboxJob.objects.create(
            kind=JobKind.EXECUTE_RUN, run=made, status=job, available_at=timezone.now(), trace_id=of.trace_id
        )
    return made


def prune(*args: str) -> str:
    out = StringIO()
    call_command("automate", "prune-events", *args, stdout=out)
    return out.getvalue()


def remaining() -> set[str]:
    return set(Event.objects.values_list("payload__name", flat=True))


def test_only_old_finished_events_are_pruned(workflow_factory):
    workflow = workflow_factory()
    event("no-runs")
    event("routing-dead", job=JobStatus.DEAD)
    event("routing-ready", job=JobStatus.READY)
    event("routing-claimed", job=JobStatus.CLAIMED)
    event("young", old=False)
    run(workflow, event("finished-runs"), "succeeded", job=JobStatus.DONE)
    run(workflow, event("failed-run"), "failed", job=JobStatus.DEAD)
    run(workflow, event("running-run"), "running", job=JobStatus.CLAIMED)
    run(workflow, event("pending-run"), "pending")
    run(workflow, event("retry-queued"), "failed", job=JobStatus.READY)
    mixed = event("one-run-unfinished")
    run(workflow, mixed, "succeeded")
    run(workflow_factory(slug="wf2"), mixed, "running")

    assert "would prune 4 events" in prune("--dry-run")
    assert Event.objects.count() == 11

    assert "pruned 4 events" in prune()
    assert remaining() == {
        "routing-ready",
        "routing-claimed",
        "young",
        "running-run",
        "pending-run",
        "retry-queued",
        "one-run-unfinished",
    }
    assert set(ExecutionRun.objects.values_list("event__payload__name", flat=True)) == {
        "running-run",
        "pending-run",
        "retry-queued",
        "one-run-unfinished",
    }
    assert StepRun.objects.count() == ExecutionRun.objects.count()
    assert not OutboxJob.objects.filter(event__isnull=True, run__isnull=True).exists()
    entry = AuditEntry.objects.get(action="events.pruned")
    assert entry.data["count"] == 4


def test_replay_chains_are_pruned_whole(workflow_factory):
    workflow = workflow_factory()
    replayed = event("replayed")
    first = run(workflow, replayed, "failed", job=JobStatus.DEAD)
    second = run(workflow, replayed, "failed", job=JobStatus.DONE, replay_of=first, seq=1)
    run(workflow, replayed, "succeeded", job=JobStatus.DONE, replay_of=second, seq=2)
    run(workflow, replayed, "cancelled", replay_of=first, seq=3)
    assert "pruned 1 events" in prune()
    assert ExecutionRun.objects.count() == 0 and StepRun.objects.count() == 0 and OutboxJob.objects.count() == 0


def test_pruning_in_small_batches_gets_everything(workflow_factory):
    workflow = workflow_factory()
    for n in range(7):
        run(workflow, event(f"e{n}"), "succeeded", job=JobStatus.DONE)
    assert "pruned 7 events" in prune("--batch-size", "2")
    assert Event.objects.count() == 0


def test_a_pruned_key_can_be_used_again():
    event("order-1")
    prune()
    again = django_automate.emit("order.created", {"name": "order-1"}, idempotency_key="order-1")
    assert Event.objects.get().id == again.id


def test_retention_cannot_be_shortened_from_the_command_line(settings):
    event("e")
    with pytest.raises(CommandError, match="at least"):
        prune("--older-than-hours", "24")
    settings.AUTOMATE = {**settings.AUTOMATE, "IDEMPOTENCY_RETENTION_HOURS": 24}
    assert "pruned 1 events" in prune("--older-than-hours", "24")


def test_a_longer_age_keeps_more(settings):
    event("e")
    assert "pruned 0 events" in prune("--older-than-hours", "100")
    assert Event.objects.count() == 1
    assert not AuditEntry.objects.filter(action="events.pruned").exists()
