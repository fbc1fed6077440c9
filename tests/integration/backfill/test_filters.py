"""The backfill filter: outside input validated field by field, and no oracle on redacted values."""

from __future__ import annotations

import pytest

from django_automate import exceptions
from django_automate.models import AuditEntry, Backfill
from django_automate.runs.backfill import services

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ([], "filter", "not_an_object"),
        ({"kind": "x"}, "kind", "unknown_field"),
        ({"type": ""}, "type", "invalid_string"),
        ({"type": 3}, "type", "invalid_string"),
        ({"status": "done"}, "status", "invalid_choice"),
        ({"received_from": "yesterday"}, "received_from", "invalid_datetime"),
        ({"received_until": "2026-01-01T00:00:00+23:00"}, "received_until", "invalid_datetime"),
        (
            {"received_from": "2026-02-01T00:00:00Z", "received_until": "2026-01-01T00:00:00Z"},
            "received_until",
            "empty_range",
        ),
        ({"where": {"no_such_operator": [1]}}, "where", "invalid_condition"),
    ],
)
def test_an_invalid_filter_is_refused_naming_the_field(data, field, reason):
    with pytest.raises(exceptions.ValidationError) as caught:
        services.preview(data, tenant="", actor="a", redacted=False)
    assert (caught.value.details["field"], caught.value.details["reason"]) == (field, reason)
    assert not Backfill.objects.exists()


NAMED = {"==": [{"var": "event.payload.customer.password"}, "hunter2"]}
# Reads a whole object that holds a sensitive key: refused only where the data has one.
ABOVE = {"in": ["hunter", {"cat": [{"var": "event.payload.customer"}]}]}


def test_a_condition_naming_a_sensitive_key_is_refused_without_the_raw_permission(history):
    for call in (services.preview, services.request):
        with pytest.raises(exceptions.PermissionDenied) as caught:
            call({"where": NAMED}, tenant="", actor="eve", redacted=True)
        assert caught.value.details["path"] == "event.payload.customer.password"
        assert caught.value.details["reason"] == "reads_sensitive_key"
    assert not Backfill.objects.exists()


def test_a_condition_reading_above_a_sensitive_key_is_refused_when_an_event_has_one(history):
    import django_automate

    _, report = services.preview({"where": ABOVE}, tenant="", actor="eve", redacted=True)
    assert report.matched == 0  # no stored customer has a password yet: nothing is revealed
    django_automate.emit("order.created", {"customer": {"password": "hunter2"}})
    with pytest.raises(exceptions.PermissionDenied) as caught:
        services.preview({"where": ABOVE}, tenant="", actor="eve", redacted=True)
    assert caught.value.details["path"] == "event.payload.customer.password"


def test_with_the_raw_permission_the_filter_may_read_sensitive_keys_and_is_audited(history):
    import django_automate

    django_automate.emit("order.created", {"customer": {"password": "hunter2"}})
    _, report = services.preview({"where": NAMED}, tenant="", actor="root", redacted=False)
    assert report.matched == 1
    entry = AuditEntry.objects.get(action="raw_payload.viewed")
    assert (entry.actor, entry.data["via"], entry.data["paths"]) == (
        "root",
        "backfill_dry_run",
        ["event.payload.customer.password"],
    )
    backfill = services.request({"where": NAMED}, tenant="", actor="root", redacted=False)
    assert services.needs_raw(backfill)
    assert AuditEntry.objects.filter(action="raw_payload.viewed", data__via="backfill").count() == 1


def test_a_backfill_of_a_redacted_caller_fails_on_an_event_it_may_not_read(history, run_worker):
    import django_automate

    backfill = services.request({"where": ABOVE}, tenant="", actor="eve", redacted=True)
    django_automate.emit("order.created", {"customer": {"password": "hunter2"}})
    Backfill.objects.filter(pk=backfill.pk).update(filter={"where": ABOVE})  # as if received before the request
    run_worker()
    backfill.refresh_from_db()
    assert backfill.status == "failed"
    assert backfill.error["reason"] == "reads_sensitive_key"
    assert AuditEntry.objects.filter(action="backfill.failed", object_id=str(backfill.pk)).exists()
