"""Endpoints served from memory: fewer queries per delivery, and changes seen when they must be."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_automate.checks import check_webhook_settings
from django_automate.models import Event, WebhookEndpoint

URL = "/automate/hooks/orders/"


def post(client, body: str = "{}", url: str = URL):
    return client.generic("POST", url, body.encode(), content_type="application/json")


def endpoint_reads(client, body: str = "{}") -> int:
    """Status-checked delivery; how many statements read the endpoint table."""
    with CaptureQueriesContext(connection) as queries:
        response = post(client, body)
    assert response.status_code == 202, response.json()
    return sum("automate_webhookendpoint" in query["sql"].split("FROM", 1)[-1] for query in queries)


@pytest.mark.django_db(transaction=True)
class TestEndpointCache:
    def test_a_second_delivery_does_not_read_the_endpoint(self, client, endpoint_factory):
        endpoint_factory()
        assert endpoint_reads(client, '{"n": 1}') == 1
        assert endpoint_reads(client, '{"n": 2}') == 0
        assert Event.objects.count() == 2

    def test_zero_seconds_reads_it_every_time(self, client, endpoint_factory, settings):
        settings.AUTOMATE = {**settings.AUTOMATE, "WEBHOOK_ENDPOINT_CACHE_SECONDS": 0}
        endpoint_factory()
        assert [endpoint_reads(client, f'{{"n": {n}}}') for n in range(3)] == [1, 1, 1]

    def test_disabling_with_save_takes_effect_at_once(self, client, endpoint_factory):
        endpoint = endpoint_factory()
        assert post(client).status_code == 202
        endpoint.enabled = False
        endpoint.save()
        assert post(client, '{"n": 2}').json()["code"] == "resource_not_found"

    def test_deleting_takes_effect_at_once(self, client, endpoint_factory):
        endpoint = endpoint_factory()
        assert post(client).status_code == 202
        Event.objects.all().delete()
        endpoint.delete()
        assert post(client, '{"n": 2}').status_code == 404

    def test_a_renamed_slug_stops_answering(self, client, endpoint_factory):
        endpoint = endpoint_factory()
        assert post(client).status_code == 202
        endpoint.slug = "orders-v2"
        endpoint.save()
        assert post(client, '{"n": 2}').status_code == 404
        assert post(client, '{"n": 3}', url="/automate/hooks/orders-v2/").status_code == 202

    def test_a_new_endpoint_on_a_slug_replaces_the_cached_one(self, client, endpoint_factory):
        first = endpoint_factory(event_type="first.type")
        assert Event.objects.get(id=post(client).json()["event_id"]).type == "first.type"
        # Gone without a signal (a raw delete, as a rolled-back test leaves it), then a new row takes the slug.
        Event.objects.all().delete()
        WebhookEndpoint.objects.filter(pk=first.pk)._raw_delete(using="default")
        endpoint_factory(event_type="second.type")
        assert Event.objects.get(id=post(client, '{"n": 2}').json()["event_id"]).type == "second.type"

    def test_an_update_without_signals_takes_effect_when_the_entry_expires(self, client, endpoint_factory, settings):
        settings.AUTOMATE = {**settings.AUTOMATE, "WEBHOOK_ENDPOINT_CACHE_SECONDS": 0.2}
        endpoint = endpoint_factory()
        assert post(client).status_code == 202
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
        assert post(client, '{"n": 2}').status_code == 202  # still fresh in this process
        time.sleep(0.25)
        assert post(client, '{"n": 3}').status_code == 404

    def test_unknown_and_disabled_slugs_are_not_cached(self, client, endpoint_factory):
        assert post(client).status_code == 404
        endpoint = endpoint_factory(enabled=False)
        assert post(client).status_code == 404
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=True)  # no signal, and yet:
        assert post(client, '{"n": 2}').status_code == 202


@pytest.mark.parametrize("value", [-1, "1", True, 3601, float("nan"), None])
def test_the_setting_is_checked(settings, value):
    settings.AUTOMATE = {**settings.AUTOMATE, "WEBHOOK_ENDPOINT_CACHE_SECONDS": value}
    assert [message.id for message in check_webhook_settings()] == ["automate.E021"]


@pytest.mark.parametrize("value", [0, 0.5, 60])
def test_valid_settings_pass(settings, value):
    settings.AUTOMATE = {**settings.AUTOMATE, "WEBHOOK_ENDPOINT_CACHE_SECONDS": value}
    assert check_webhook_settings() == []
