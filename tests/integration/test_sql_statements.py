"""The hot path's hand-built statements store exactly what the ORM stores, on every backend."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db.models.signals import post_save
from django.utils import timezone

import django_automate
from django_automate.internal import sql
from django_automate.models import ExecutionRun, JobKind, JobStatus, OutboxJob, StepRun

pytestmark = pytest.mark.django_db(transaction=True)

NESTED = {"a": [1, 2.5, None, True, "naïve ☃"], "b": {"c": {"d": "x" * 300}}, "quote": "'; --"}


@pytest.fixture
def run(workflow_factory, rule_factory) -> ExecutionRun:
    workflow = workflow_factory()
    event = django_automate.emit("order.created", {})
    return ExecutionRun.objects.create(
        event=event, workflow=workflow, workflow_version=workflow.current_version, tenant="", trace_id="t"
    )


def step(run: ExecutionRun, **values: object) -> StepRun:
    fields: dict[str, object] = {
        "tenant": "",
        "run": run,
        "step_id": "s",
        "step_index": 0,
        "connector": "log",
        "action": "write",
        "status": "running",
        "idempotency_key": f"{run.pk}:s",
        "trace_id": "t",
        "started_at": timezone.now(),
    }
    fields.update(values)
    return StepRun(**fields)


def test_an_inserted_row_reads_back_like_one_saved_by_the_orm(run):
    started = timezone.now()
    ours = step(run, input=NESTED, cost=Decimal("1.250000"), started_at=started)
    theirs = step(run, input=NESTED, cost=Decimal("1.25"), started_at=started)
    sql.insert(ours, "default")
    theirs.attempt = 2
    theirs.save(force_insert=True)
    mine, saved = StepRun.objects.get(pk=ours.pk), StepRun.objects.get(pk=theirs.pk)
    for name in ("input", "cost", "status", "started_at", "idempotency_key", "run_id"):
        assert getattr(mine, name) == getattr(saved, name), name
    assert mine.created_at is not None and not ours._state.adding


def test_an_auto_primary_key_is_read_back():
    first = OutboxJob(kind=JobKind.ROUTE_EVENT, available_at=timezone.now(), trace_id="t")
    second = OutboxJob(kind=JobKind.ROUTE_EVENT, available_at=timezone.now(), trace_id="t")
    sql.insert(first, "default")
    sql.insert(second, "default")
    assert isinstance(first.pk, int) and second.pk > first.pk
    assert set(OutboxJob.objects.values_list("pk", flat=True)) >= {first.pk, second.pk}


def test_update_matches_equality_in_and_greater_than_and_stores_json_uuid_and_datetimes():
    token = uuid.uuid4()
    later = timezone.now() + dt.timedelta(minutes=5)
    job = OutboxJob.objects.create(
        kind=JobKind.ROUTE_EVENT,
        available_at=timezone.now(),
        status=JobStatus.CLAIMED,
        lease_token=token,
        lease_expires_at=later,
        trace_id="t",
    )
    where = {"id": job.pk, "lease_token": token, "status__in": [JobStatus.CLAIMED, JobStatus.READY]}
    assert sql.update(OutboxJob, "default", {**where, "lease_expires_at__gt": later}, {"priority": 3}) == 0
    assert sql.update(OutboxJob, "default", {**where, "lease_token": uuid.uuid4()}, {"priority": 3}) == 0
    values = {"last_error": NESTED, "finished_at": later, "lease_token": None}
    assert sql.update(OutboxJob, "default", {**where, "lease_expires_at__gt": timezone.now()}, values) == 1
    stored = OutboxJob.objects.get(pk=job.pk)
    assert (stored.last_error, stored.finished_at, stored.lease_token) == (NESTED, later, None)


def test_update_counts_a_matched_row_even_when_nothing_changes():
    # A heartbeat that writes the values already there still proves the lease (MySQL counts matched rows).
    now = timezone.now()
    job = OutboxJob.objects.create(kind=JobKind.ROUTE_EVENT, available_at=now, trace_id="t", priority=1)
    assert sql.update(OutboxJob, "default", {"id": job.pk}, {"priority": 1}) == 1


def test_insert_falls_back_to_save_when_a_receiver_listens(run):
    seen: list[object] = []
    post_save.connect(
        lambda sender, instance, **kw: seen.append(instance), sender=StepRun, weak=False, dispatch_uid="t"
    )
    try:
        attempt = step(run)
        sql.insert(attempt, "default")
    finally:
        post_save.disconnect(sender=StepRun, dispatch_uid="t")
    assert seen == [attempt] and StepRun.objects.filter(pk=attempt.pk).exists()
