"""What senders and operators rely on at the edges: tenant secrets, unusable secrets, sender
retries with a refreshed body, event types that cannot be routed, and truncated bodies."""

from __future__ import annotations

import json
import logging
import time
import uuid

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.test import override_settings
from rest_framework.exceptions import ValidationError

from django_automate.ingestion.webhooks import keys
from django_automate.models import Event, OutboxJob
from django_automate.secrets.store import put_secret
from tests.integration.webhooks.senders import plain_secret, sign_github, sign_slack, sign_stripe, whsec
from tests.integration.webhooks.server import raw_request, running_server

URL = "/automate/hooks/orders/"
VIEW_LOGGER = "django_automate.ingestion.webhooks.views"


def post(client, body: bytes | str, headers: dict[str, str] | None = None):
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in (headers or {}).items()}
    return client.generic("POST", URL, body, content_type="application/json", **meta)


def encryption_key():
    """The test settings plus a new encryption key (a later one cannot read what this one wrote)."""
    return override_settings(AUTOMATE={**settings.AUTOMATE, "ENCRYPTION_KEYS": [Fernet.generate_key().decode()]})


def stripe_event(pending_webhooks: int) -> bytes:
    """A Stripe event as Stripe sends it; only ``pending_webhooks`` changes between retries."""
    return json.dumps(
        {
            "id": "evt_1PzQ2aLkdIwHu7ix0abcDEF1",
            "object": "event",
            "api_version": "2024-06-20",
            "created": 1726000000,
            "data": {"object": {"id": "pi_3PzQ", "object": "payment_intent", "amount": 2000}},
            "livemode": False,
            "pending_webhooks": pending_webhooks,
            "request": {"id": None, "idempotency_key": None},
            "type": "payment_intent.succeeded",
        }
    ).encode()


@pytest.mark.django_db
class TestTenantSecrets:
    def test_tenant_endpoint_verifies_with_the_tenants_own_secret(self, client, endpoint_factory):
        tenant_value, operator_value = whsec(), whsec()
        with encryption_key():
            put_secret(name="STRIPE_HOOK", value=operator_value)
            put_secret(name="STRIPE_HOOK", value=tenant_value, tenant="acme")
            endpoint_factory(
                scheme="stripe", tenant="acme", event_type="stripe.{{ body.type }}", secrets=["$secret:STRIPE_HOOK"]
            )
            body = stripe_event(1)
            by_operator = post(client, body, sign_stripe(body, operator_value, int(time.time())))
            by_tenant = post(client, body, sign_stripe(body, tenant_value, int(time.time())))
        assert (by_operator.status_code, by_operator.json()["code"]) == (401, "invalid_signature")
        assert by_tenant.status_code == 202, by_tenant.json()
        event = Event.objects.get(id=by_tenant.json()["event_id"])
        assert (event.tenant, event.type) == ("acme", "stripe.payment_intent.succeeded")

    def test_operator_endpoint_keeps_the_operators_secret(self, client, endpoint_factory):
        tenant_value, operator_value = whsec(), whsec()
        with encryption_key():
            put_secret(name="STRIPE_HOOK", value=operator_value)
            put_secret(name="STRIPE_HOOK", value=tenant_value, tenant="acme")
            endpoint_factory(scheme="stripe", secrets=["$secret:STRIPE_HOOK"])
            body = stripe_event(1)
            by_tenant = post(client, body, sign_stripe(body, tenant_value, int(time.time())))
            by_operator = post(client, body, sign_stripe(body, operator_value, int(time.time())))
        assert by_tenant.status_code == 401
        assert by_operator.status_code == 202


@pytest.mark.django_db
class TestUnusableSecrets:
    def test_undecryptable_secret_is_an_invalid_signature_and_logged_with_its_name(
        self, client, endpoint_factory, caplog
    ):
        value = plain_secret()
        with encryption_key():
            put_secret(name="GH_HOOK_9f2", value=value)
        endpoint_factory(scheme="github", secrets=["$secret:GH_HOOK_9f2"])
        body = b'{"zen": "Keep it logically awesome."}'
        with (
            encryption_key(),
            caplog.at_level(logging.ERROR, logger=VIEW_LOGGER),
        ):
            response = post(client, body, sign_github(body, value, 0))
        assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
        assert "GH_HOOK_9f2" not in response.content.decode()
        assert "secret" not in json.dumps(response.json()["details"]).lower()
        record = next(r for r in caplog.records if getattr(r, "action", "") == "webhook_secret_unavailable")
        assert record.levelno == logging.ERROR
        assert "GH_HOOK_9f2" in record.getMessage() and record.code == "secret_decryption_failed"
        assert Event.objects.count() == 0

    def test_missing_secret_is_an_invalid_signature_and_logged_as_not_found(self, client, endpoint_factory, caplog):
        endpoint_factory(scheme="github", secrets=["$secret:GH_HOOK_GONE"])
        body = b"{}"
        with caplog.at_level(logging.ERROR, logger=VIEW_LOGGER):
            response = post(client, body, sign_github(body, "anything", 0))
        assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
        assert response.json()["message"] == "The request signature is missing or does not match."
        assert "GH_HOOK_GONE" not in response.content.decode()
        record = next(r for r in caplog.records if getattr(r, "action", "") == "webhook_secret_unavailable")
        assert "GH_HOOK_GONE" in record.getMessage() and record.code == "secret_not_found"

    def test_a_missing_old_secret_does_not_stop_the_current_one(self, client, endpoint_factory, settings):
        value = plain_secret()
        settings.AUTOMATE = {**settings.AUTOMATE, "SECRETS": {"GH_NEW": value}}
        endpoint_factory(scheme="github", secrets=["$secret:GH_NEW", "$secret:GH_OLD_DELETED"])
        body = b'{"zen": "ok"}'
        assert post(client, body, sign_github(body, value, 0)).status_code == 202


@pytest.mark.django_db
class TestSenderRetries:
    @pytest.fixture
    def stripe_secret(self, settings, endpoint_factory) -> str:
        value = whsec()
        settings.AUTOMATE = {**settings.AUTOMATE, "SECRETS": {"STRIPE_HOOK": value}}
        endpoint_factory(scheme="stripe", event_type="stripe.{{ body.type }}", secrets=["$secret:STRIPE_HOOK"])
        return value

    def test_stripe_retry_with_a_new_pending_webhooks_count_returns_the_original_event(
        self, client, stripe_secret, caplog
    ):
        first_body, retry_body = stripe_event(2), stripe_event(1)
        first = post(client, first_body, sign_stripe(first_body, stripe_secret, int(time.time())))
        with caplog.at_level(logging.WARNING, logger=VIEW_LOGGER):
            retry = post(client, retry_body, sign_stripe(retry_body, stripe_secret, int(time.time()) + 60))
        assert first.status_code == 202
        assert retry.status_code == 200, retry.json()
        assert retry.json() == {**first.json(), "duplicate": True}
        event = Event.objects.get()
        assert event.payload["pending_webhooks"] == 2  # the first body stays the event
        assert OutboxJob.objects.filter(event=event).count() == 1
        record = next(r for r in caplog.records if getattr(r, "action", "") == "webhook_retry_body_changed")
        assert record.levelno == logging.WARNING
        assert record.event_id == str(event.id) and record.delivery_id == "evt_1PzQ2aLkdIwHu7ix0abcDEF1"
        assert "pending_webhooks" not in record.getMessage() and "payment_intent" not in record.getMessage()

    def test_github_redelivery_with_another_body_is_a_duplicate(self, client, settings, endpoint_factory):
        value = plain_secret()
        settings.AUTOMATE = {**settings.AUTOMATE, "SECRETS": {"GH": value}}
        endpoint_factory(scheme="github", event_type="github.{{ headers.x-github-event }}", secrets=["$secret:GH"])
        delivery = str(uuid.uuid4())
        bodies = [b'{"action": "opened", "number": 1}', b'{"action": "opened", "number": 1, "extra": true}']
        answers = [
            post(client, body, {**sign_github(body, value, 0), "x-github-delivery": delivery, "x-github-event": "pr"})
            for body in bodies
        ]
        assert [a.status_code for a in answers] == [202, 200]
        assert answers[1].json()["event_id"] == answers[0].json()["event_id"]

    def test_client_chosen_idempotency_key_reused_for_another_body_is_still_a_conflict(self, client, stripe_secret):
        bodies = [stripe_event(2), stripe_event(1)]
        answers = [
            post(client, body, {**sign_stripe(body, stripe_secret, int(time.time())), "idempotency-key": "order-7"})
            for body in bodies
        ]
        assert [a.status_code for a in answers] == [202, 409]
        assert answers[1].json()["code"] == "idempotency_conflict"


@pytest.mark.django_db
class TestEventTypes:
    TEMPLATE = "github.{{ headers.x-github-event }}"

    def test_empty_header_is_rejected_naming_the_template(self, client, endpoint_factory):
        endpoint_factory(event_type=self.TEMPLATE)
        response = post(client, "{}", {"x-github-event": ""})
        assert (response.status_code, response.json()["code"]) == (400, "validation_error")
        assert response.json()["details"] == {"event_type": self.TEMPLATE, "path": "headers.x-github-event"}
        assert Event.objects.count() == 0

    @pytest.mark.parametrize(
        "kind",
        ["push\nX-Injected: 1", "push\r", "pu\x07sh", "push\u2028", "\u200bpush", " push", "push.", "a..b", "k" * 300],
        ids=[
            "newline",
            "carriage-return",
            "bell",
            "line-separator",
            "zero-width",
            "space",
            "dot",
            "empty-part",
            "long",
        ],
    )
    def test_malformed_rendered_types_are_rejected(self, client, endpoint_factory, kind):
        endpoint_factory(event_type="x.{{ body.kind }}")
        response = post(client, json.dumps({"kind": kind}))
        assert (response.status_code, response.json()["code"]) == (400, "validation_error"), kind
        assert response.json()["details"]["event_type"] == "x.{{ body.kind }}"
        assert Event.objects.count() == 0

    def test_usual_types_are_accepted(self, client, endpoint_factory):
        endpoint_factory(event_type="x.{{ body.kind }}")
        for kind in ("pull_request", "charge.succeeded", "customer.subscription.trial_will_end", "Invoice Paid"):
            response = post(client, json.dumps({"kind": kind}))
            assert response.status_code == 202, (kind, response.json())


SLACK_TEMPLATE = 'slack.{{ body.type }}.{{ body.event.type | default("none") }}'


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"token": "t", "challenge": "c", "type": "url_verification"}, "slack.url_verification.none"),
        (
            {"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention", "text": "hi"}},
            "slack.event_callback.app_mention",
        ),
        ({"type": "app_rate_limited", "minute_rate_limited": 1518467820}, "slack.app_rate_limited.none"),
    ],
)
def test_documented_slack_template_renders_every_events_api_callback(payload, expected):
    assert keys.render_event_type(SLACK_TEMPLATE, payload, {}) == expected


@pytest.mark.django_db
def test_documented_slack_template_routes_a_signed_event_callback(client, settings, endpoint_factory):
    value = plain_secret()
    settings.AUTOMATE = {**settings.AUTOMATE, "SECRETS": {"SLACK": value}}
    endpoint_factory(scheme="slack", event_type=SLACK_TEMPLATE, secrets=["$secret:SLACK"])
    body = json.dumps({"type": "event_callback", "event_id": "Ev9", "event": {"type": "message", "text": "x"}}).encode()
    response = post(client, body, sign_slack(body, value, int(time.time())))
    assert response.status_code == 202, response.json()
    assert Event.objects.get().type == "slack.event_callback.message"
    challenge = json.dumps({"token": "t", "challenge": "ch4", "type": "url_verification"}).encode()
    answer = post(client, challenge, sign_slack(challenge, value, int(time.time())))
    assert answer.json() == {"challenge": "ch4"} and Event.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_body_shorter_than_its_content_length_is_rejected(endpoint_factory):
    endpoint_factory()
    document = b'{"id": 1}'
    head = (
        f"POST {URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(document) + 50}\r\n\r\n"
    ).encode()
    with running_server(threads=1) as served:
        response = raw_request(served.url, head, [document])  # then the client closes its side
    body = json.loads(response.body)
    assert (response.status, body["code"]) == (400, "malformed_payload")
    assert body["details"] == {"content_length": len(document) + 50, "received": len(document)}
    assert Event.objects.count() == 0


@pytest.mark.django_db
def test_documented_slack_template_is_accepted_by_the_endpoint_api_validation():
    from django_automate.api.serializers.endpoints import EndpointSerializer

    field = EndpointSerializer().fields["event_type"]
    assert field.run_validation(SLACK_TEMPLATE) == SLACK_TEMPLATE
    assert EndpointSerializer().validate_event_type(SLACK_TEMPLATE) == SLACK_TEMPLATE
    with pytest.raises(ValidationError):
        EndpointSerializer().validate_event_type("x.{{ body.kind | default(none) }}")
