"""emit(): events from application code live and die with the caller's transaction."""

from __future__ import annotations

import pytest
from django.db import transaction

import django_automate
from django_automate import exceptions
from django_automate.models import Event, JobKind, OutboxJob
from django_automate.tracing import context

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


def test_emit_in_rolled_back_transaction_leaves_no_event_and_no_job():
    with pytest.raises(Boom), transaction.atomic():
        django_automate.emit("order.paid", {"id": 1})
        assert Event.objects.count() == 1  # visible inside the transaction
        raise Boom
    assert Event.objects.count() == 0
    assert OutboxJob.objects.count() == 0


def test_emit_in_committed_transaction_writes_event_and_routing_job():
    with transaction.atomic():
        event = django_automate.emit("order.paid", {"id": 1}, tenant="acme")
    job = OutboxJob.objects.get()
    assert job.event_id == event.id
    assert job.kind == JobKind.ROUTE_EVENT
    assert (event.source, event.tenant, job.tenant) == ("app", "acme", "acme")
    assert job.trace_id == event.trace_id


def test_emit_reuses_the_current_trace_id():
    with context.bind(trace_id="5b8aa5a2-d2a4-4ba4-9c11-3d2e4a1e0f00"):
        event = django_automate.emit("order.paid", {})
    assert event.trace_id == "5b8aa5a2-d2a4-4ba4-9c11-3d2e4a1e0f00"


def test_every_emit_without_key_is_a_new_event():
    first = django_automate.emit("order.paid", {"id": 1})
    second = django_automate.emit("order.paid", {"id": 1})
    assert first.id != second.id


def test_emit_with_a_known_key_returns_the_original_event():
    first = django_automate.emit("order.paid", {"id": 1}, idempotency_key="order-1-paid")
    again = django_automate.emit("order.paid", {"id": 1}, idempotency_key="order-1-paid")
    assert again.id == first.id
    assert Event.objects.count() == 1


def test_emit_duplicate_inside_an_outer_transaction_keeps_the_transaction_usable():
    with transaction.atomic():
        first = django_automate.emit("order.paid", {"id": 1}, idempotency_key="k")
        again = django_automate.emit("order.paid", {"id": 1}, idempotency_key="k")
        later = django_automate.emit("order.shipped", {"id": 1})
    assert again.id == first.id
    assert Event.objects.filter(id=later.id).exists()


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [(None, "cannot be null"), ({"at": object()}, "not JSON serializable"), ({"ratio": float("nan")}, "JSON")],
)
def test_emit_rejects_a_payload_that_is_not_json_and_keeps_the_transaction_usable(payload, fragment):
    with transaction.atomic():
        with pytest.raises(exceptions.ValidationError, match=fragment) as caught:
            django_automate.emit("order.paid", payload)
        assert caught.value.code == "validation_error"
        django_automate.emit("order.paid", {"ok": True})
    assert list(Event.objects.values_list("payload", flat=True)) == [{"ok": True}]
