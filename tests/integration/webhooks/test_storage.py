"""What is stored with an accepted delivery: type, key, headers (redacted), and when it commits."""

from __future__ import annotations

import json

import pytest
from django.db import connections
from django.db.models.signals import post_save

from django_automate.models import Event

URL = "/automate/hooks/orders/"


def post(client, body: str, **meta):
    return client.generic("POST", URL, body.encode(), content_type="application/json", **meta)


def stored(response) -> Event:
    assert response.status_code in (200, 202), response.json()
    return Event.objects.get(id=response.json()["event_id"])


@pytest.mark.django_db
class TestEventType:
    def test_fixed_value(self, client, endpoint_factory):
        endpoint_factory(event_type="shop.order")
        assert stored(post(client, "{}")).type == "shop.order"

    def test_from_a_body_path(self, client, endpoint_factory):
        endpoint_factory(event_type="stripe.{{ body.type }}")
        assert stored(post(client, '{"type": "charge.succeeded"}')).type == "stripe.charge.succeeded"
        assert stored(post(client, '{"type": true}')).type == "stripe.true"

    def test_from_a_header(self, client, endpoint_factory):
        endpoint_factory(event_type="github.{{ headers.x-github-event }}")
        assert stored(post(client, "{}", HTTP_X_GITHUB_EVENT="push")).type == "github.push"

    def test_missing_or_structured_values_are_rejected(self, client, endpoint_factory):
        endpoint_factory(event_type="x.{{ body.kind }}")
        for body in ("{}", '{"kind": null}', '{"kind": {"a": 1}}', "[1]"):
            response = post(client, body)
            assert (response.status_code, response.json()["code"]) == (400, "validation_error"), body
        too_long = post(client, json.dumps({"kind": "k" * 300}))
        assert too_long.json()["code"] == "validation_error"


@pytest.mark.django_db
class TestIdempotencySources:
    def test_header_source(self, client, endpoint_factory):
        endpoint_factory(idempotency="header:X-Request-Id")
        first = stored(post(client, '{"n": 1}', HTTP_X_REQUEST_ID="r-1", HTTP_IDEMPOTENCY_KEY="ignored"))
        assert first.idempotency_key == "r-1"
        assert post(client, '{"n": 2}', HTTP_X_REQUEST_ID="r-1").json()["code"] == "idempotency_conflict"

    def test_body_path_source(self, client, endpoint_factory):
        endpoint_factory(idempotency="body:data.object.id")
        event = stored(post(client, '{"data": {"object": {"id": 42}}}'))
        assert event.idempotency_key == "42"

    def test_missing_configured_source_falls_back_to_the_body_hash(self, client, endpoint_factory):
        endpoint_factory(idempotency="body:data.id")
        event = stored(post(client, '{"other": 1}'))
        assert event.idempotency_key.startswith("sha256:")
        assert post(client, '{"other": 1}').status_code == 200

    def test_body_hash_source_ignores_keys_in_headers(self, client, endpoint_factory):
        endpoint_factory(idempotency="body_hash")
        first = post(client, '{"n": 1}', HTTP_IDEMPOTENCY_KEY="a")
        second = post(client, '{"n": 1}', HTTP_IDEMPOTENCY_KEY="b")
        assert (first.status_code, second.status_code) == (202, 200)

    def test_auto_prefers_the_idempotency_key_header(self, client, endpoint_factory):
        endpoint_factory()
        assert stored(post(client, "{}", HTTP_IDEMPOTENCY_KEY="k-9")).idempotency_key == "k-9"


@pytest.mark.django_db
class TestStoredHeaders:
    def test_all_but_credentials_by_default_and_sensitive_values_redacted(self, client, endpoint_factory):
        endpoint_factory()
        event = stored(
            post(
                client,
                "{}",
                HTTP_AUTHORIZATION="Bearer abc",
                HTTP_COOKIE="sid=1",
                HTTP_X_HUB_SIGNATURE_256="sha256=ab",
                HTTP_X_API_KEY="k",
                HTTP_X_GITHUB_EVENT="push",
            )
        )
        assert "authorization" not in event.headers and "cookie" not in event.headers
        assert event.headers["x-hub-signature-256"] == "[REDACTED]"
        assert event.headers["x-api-key"] == "[REDACTED]"
        assert event.headers["x-github-event"] == "push"
        assert event.headers["content-type"] == "application/json"

    def test_selected_headers_only_still_redacted(self, client, endpoint_factory):
        endpoint_factory(store_headers=["X-GitHub-Event", "authorization"])
        event = stored(
            post(client, "{}", HTTP_AUTHORIZATION="Bearer abc", HTTP_X_GITHUB_EVENT="push", HTTP_X_OTHER="1")
        )
        assert event.headers == {"x-github-event": "push", "authorization": "[REDACTED]"}

    def test_extra_redaction_keys_apply(self, client, endpoint_factory, settings):
        settings.AUTOMATE = {**settings.AUTOMATE, "REDACT_KEYS": ["shop-domain"]}
        endpoint_factory()
        event = stored(post(client, "{}", HTTP_X_SHOP_DOMAIN="example.myshop"))
        assert event.headers["x-shop-domain"] == "[REDACTED]"


@pytest.mark.django_db(transaction=True)
def test_event_commits_in_its_own_transaction_even_with_atomic_requests(client, endpoint_factory):
    """With ATOMIC_REQUESTS the view is not wrapped: the event's transaction is the outermost one."""
    endpoint_factory()
    depths: list[int] = []

    def record_depth(sender, instance, created, **kwargs):
        depths.append(len(connections["default"].atomic_blocks))

    settings_dict = connections["default"].settings_dict
    post_save.connect(record_depth, sender=Event)
    settings_dict["ATOMIC_REQUESTS"] = True
    try:
        response = post(client, '{"n": 1}')
    finally:
        settings_dict["ATOMIC_REQUESTS"] = False
        post_save.disconnect(record_depth, sender=Event)
    assert response.status_code == 202
    assert depths == [1]  # record_event's own block, not nested in a request transaction
    assert Event.objects.filter(id=response.json()["event_id"]).exists()
