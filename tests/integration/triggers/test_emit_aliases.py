"""emit() writes on the caller's database alias, inside that alias's transaction."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import override_settings

import django_automate
from django_automate.models import Event, OutboxJob

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


class EventsToOther:
    """A router that sends django-automate's writes to the "other" alias."""

    def db_for_write(self, model, **hints):
        return "other" if model._meta.app_label == "automate" else None


def test_emit_using_an_alias_joins_that_alias_transaction(other_alias):
    with transaction.atomic(using=other_alias):
        event = django_automate.emit("order.paid", {"id": 1}, using=other_alias)
        assert Event.objects.using(other_alias).filter(pk=event.pk).exists()
        assert not Event.objects.filter(pk=event.pk).exists()  # "default" cannot see it before the commit
    assert Event.objects.filter(pk=event.pk).exists()
    assert OutboxJob.objects.filter(event_id=event.pk).count() == 1


def test_emit_using_an_alias_rolls_back_with_that_alias_transaction(other_alias):
    with pytest.raises(Boom), transaction.atomic(using=other_alias):
        django_automate.emit("order.paid", {"id": 1}, using=other_alias)
        raise Boom
    assert Event.objects.count() == 0
    assert OutboxJob.objects.count() == 0


def test_without_using_the_router_picks_the_alias(other_alias):
    with override_settings(DATABASE_ROUTERS=[EventsToOther()]), transaction.atomic(using=other_alias):
        event = django_automate.emit("order.paid", {"id": 1})
        assert event._state.db == other_alias
        assert not Event.objects.using("default").filter(pk=event.pk).exists()
    assert Event.objects.using("default").filter(pk=event.pk).exists()
