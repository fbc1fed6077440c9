"""Raw payloads: only with ``automate.view_raw_payload``, and every raw view leaves an audit entry."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Permission, User

import django_automate
from django_automate.audit.chain import verify
from django_automate.models import AuditEntry
from django_automate.policy.raw import can_view_raw, record_raw_view
from django_automate.policy.redaction import present

pytestmark = pytest.mark.django_db


def user(name: str, *, permitted: bool = False, **values: object) -> User:
    account = User.objects.create_user(name, **values)
    if permitted:
        account.user_permissions.add(Permission.objects.get(codename="view_raw_payload"))
        account = User.objects.get(pk=account.pk)  # fresh permission cache
    return account


def test_only_holders_of_the_permission_may_view_raw_payloads():
    assert can_view_raw(user("auditor", permitted=True))
    assert can_view_raw(user("root", is_superuser=True))
    assert not can_view_raw(user("viewer"))
    assert not can_view_raw(user("former", permitted=True, is_active=False))
    assert not can_view_raw(AnonymousUser())
    assert not can_view_raw(None)


def test_each_raw_view_is_audited_with_actor_object_and_trace():
    event = django_automate.emit("order.paid", {"card": {"token": "tok_123"}}, tenant="acme")
    auditor = user("auditor", permitted=True)
    shown = present(event.payload, raw=can_view_raw(auditor))
    record_raw_view(auditor, event, trace_id=event.trace_id)
    assert shown == {"card": {"token": "tok_123"}}
    entry = AuditEntry.objects.get(action="raw_payload.viewed")
    assert (entry.actor, entry.object_type, entry.object_id, entry.tenant, entry.trace_id) == (
        "auditor",
        "event",
        str(event.pk),
        "acme",
        event.trace_id,
    )
    assert "tok_123" not in str(entry.data)
    assert verify().ok


def test_without_the_permission_payloads_are_shown_redacted():
    event = django_automate.emit("order.paid", {"card": {"token": "tok_123", "last4": "4242"}})
    assert present(event.payload, raw=can_view_raw(user("viewer"))) == {
        "card": {"token": "[REDACTED]", "last4": "4242"}
    }
