"""Storing an event with its routing job: one statement on PostgreSQL, the same rows and rules everywhere."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from django_automate import exceptions
from django_automate.ingestion.events import record_event
from django_automate.models import Event, JobKind, JobStatus, OutboxJob

pytestmark = pytest.mark.django_db(transaction=True)


def record(key: str, payload: object) -> object:
    return record_event(
        type="order.created", payload=payload, source="api", trace_id="t" * 32, tenant="acme", idempotency_key=key
    )


def test_an_event_and_its_routing_job_are_stored_by_one_statement_on_postgresql():
    with CaptureQueriesContext(connection) as queries:
        recorded = record("k1", {"total": 5, "items": [1, 2], "note": "naïve"})
    event = Event.objects.get()
    assert recorded.event.pk == event.pk and not recorded.duplicate
    assert (event.tenant, event.type, event.payload, event.trace_id) == (
        "acme",
        "order.created",
        {"total": 5, "items": [1, 2], "note": "naïve"},
        "t" * 32,
    )
    assert event.received_at is not None
    job = OutboxJob.objects.get()
    assert (job.kind, job.event_id, job.status, job.tenant, job.trace_id) == (
        JobKind.ROUTE_EVENT,
        event.pk,
        JobStatus.READY,
        "acme",
        "t" * 32,
    )
    writes = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SAVEPOINT")]
    if connection.vendor == "postgresql":
        assert len(writes) == 1 and "pg_notify" in writes[0]
    else:
        assert len(writes) >= 2


def test_a_duplicate_key_returns_the_stored_event_and_writes_nothing_more():
    first = record("dup", {"a": 1})
    again = record("dup", {"a": 1})
    assert again.duplicate and again.event.pk == first.event.pk
    with pytest.raises(exceptions.IdempotencyConflict):
        record("dup", {"a": 2})
    assert (Event.objects.count(), OutboxJob.objects.count()) == (1, 1)


def test_a_duplicate_inside_the_callers_transaction_leaves_it_usable_and_its_rollback_removes_both_rows():
    record("outer", {"a": 1})
    with transaction.atomic():
        assert record("outer", {"a": 1}).duplicate
        record("inner", {"b": 1})
        assert Event.objects.count() == 2  # the transaction still works after the duplicate
        transaction.set_rollback(True)
    assert list(Event.objects.values_list("idempotency_key", flat=True)) == ["outer"]
    assert OutboxJob.objects.count() == 1


def test_save_signal_receivers_of_events_are_still_called():
    seen: list[tuple[str, bool]] = []

    def receiver(sender: type, instance: object, created: bool, **kwargs: object) -> None:
        seen.append((type(instance).__name__, created))

    post_save.connect(receiver, sender=Event, weak=False, dispatch_uid="test-event-insert")
    try:
        record("signalled", {"a": 1})
    finally:
        post_save.disconnect(sender=Event, dispatch_uid="test-event-insert")
    assert seen == [("Event", True)]
    assert OutboxJob.objects.get().event_id == Event.objects.get().pk
