"""POST /automate/hooks/<slug>/: order of checks, idempotency, error shape and trace ids."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import pytest

from django_automate.models import Event, JobKind, OutboxJob

pytestmark = pytest.mark.django_db

URL = "/automate/hooks/orders/"


def post(client, body: bytes | str, **headers):
    raw = body.encode() if isinstance(body, str) else body
    return client.generic("POST", URL, raw, content_type=headers.pop("content_type", "application/json"), **headers)


def test_accepted_webhook_stores_event_and_routing_job_with_one_trace_id(client, endpoint_factory):
    endpoint_factory()
    response = post(client, json.dumps({"id": 7, "total": 10}))
    assert response.status_code == 202
    data = response.json()
    assert data["duplicate"] is False
    event = Event.objects.get(id=data["event_id"])
    assert event.payload == {"id": 7, "total": 10}
    assert event.type == "order.created"
    assert event.source == "webhook:orders"
    job = OutboxJob.objects.get(event=event)
    assert job.kind == JobKind.ROUTE_EVENT
    assert event.trace_id == job.trace_id == data["trace_id"] == response["X-Trace-Id"]


def test_traceparent_header_sets_the_trace_id(client, endpoint_factory):
    endpoint_factory()
    trace_hex = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = post(client, "{}", HTTP_TRACEPARENT=f"00-{trace_hex}-00f067aa0ba902b7-01")
    assert response.json()["trace_id"] == str(uuid.UUID(trace_hex))


def test_invalid_traceparent_falls_back_to_x_trace_id(client, endpoint_factory):
    endpoint_factory()
    given = str(uuid.uuid4())
    response = post(client, "{}", HTTP_TRACEPARENT="garbage", HTTP_X_TRACE_ID=given)
    assert response.json()["trace_id"] == given


def test_duplicate_webhook_returns_original_event(client, endpoint_factory):
    endpoint_factory()
    first = post(client, '{"id": 1}', HTTP_IDEMPOTENCY_KEY="k-1")
    second = post(client, '{"id": 1}', HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {**first.json(), "duplicate": True}
    assert Event.objects.count() == 1
    assert OutboxJob.objects.count() == 1


def test_same_body_without_key_is_deduplicated_by_body_hash(client, endpoint_factory):
    endpoint_factory()
    assert post(client, '{"id": 1}').status_code == 202
    assert post(client, '{"id": 1}').status_code == 200
    assert post(client, '{"id": 2}').status_code == 202
    assert Event.objects.count() == 2


def test_same_key_with_different_body_is_an_idempotency_conflict(client, endpoint_factory):
    endpoint_factory()
    post(client, '{"id": 1}', HTTP_IDEMPOTENCY_KEY="k-1")
    response = post(client, '{"id": 2}', HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert Event.objects.count() == 1


def test_idempotency_key_over_255_characters_is_rejected(client, endpoint_factory):
    endpoint_factory()
    response = post(client, "{}", HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert Event.objects.count() == 0


def test_get_is_method_not_allowed_in_the_error_shape(client, endpoint_factory):
    endpoint_factory()
    response = client.get(URL)
    assert response.status_code == 405
    body = response.json()
    assert body["code"] == "method_not_allowed"
    assert body["trace_id"] == response["X-Trace-Id"]
    assert set(body) == {"code", "message", "details", "trace_id"}


def test_unknown_or_disabled_endpoint_is_not_found(client, endpoint_factory):
    endpoint_factory(enabled=False)
    response = post(client, "{}")
    assert response.status_code == 404
    assert response.json()["code"] == "resource_not_found"


def test_body_over_the_cap_is_rejected_before_parsing(client, endpoint_factory):
    endpoint_factory(max_body_bytes=100)
    response = post(client, json.dumps({"x": "a" * 200}))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_malformed_and_too_deep_json_are_rejected(client, endpoint_factory):
    endpoint_factory()
    assert post(client, "{not json").json()["code"] == "malformed_payload"
    deep = "[" * 65 + "]" * 65
    response = post(client, deep)
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_payload"
    assert post(client, "[" * 64 + "]" * 64).status_code == 202
    assert post(client, '"[[[[" ').status_code == 202  # brackets inside strings do not count


def test_non_json_content_type_is_unsupported(client, endpoint_factory):
    endpoint_factory()
    response = post(client, "a=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_event_type_is_rendered_from_body_and_headers(client, endpoint_factory):
    endpoint_factory(event_type="gh.{{ headers.x-github-event }}.{{ body.action }}")
    response = post(client, '{"action": "opened"}', HTTP_X_GITHUB_EVENT="issues")
    assert Event.objects.get(id=response.json()["event_id"]).type == "gh.issues.opened"
    missing = post(client, '{"other": 1}', HTTP_X_GITHUB_EVENT="issues")
    assert missing.status_code == 400
    assert missing.json()["code"] == "validation_error"


@pytest.mark.parametrize("encoding", ["hex", "hex-prefixed", "base64"])
def test_hmac_sha256_signature_is_verified_on_raw_bytes(client, endpoint_factory, settings, encoding):
    import base64

    settings.AUTOMATE = {**settings.AUTOMATE, "SECRETS": {"HOOK": "s3cret"}}
    endpoint_factory(scheme="hmac_sha256", secrets=["$secret:HOOK"])
    body = b'{"id": 1}'
    digest = hmac.new(b"s3cret", body, hashlib.sha256).digest()
    signature = {
        "hex": digest.hex(),
        "hex-prefixed": "sha256=" + digest.hex(),
        "base64": base64.b64encode(digest).decode(),
    }[encoding]
    assert post(client, body, HTTP_X_SIGNATURE_256=signature).status_code == 202


def test_hmac_rejects_tampering_wrong_secret_and_missing_header(client, endpoint_factory, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "SECRETS": {"HOOK": "s3cret", "OLD": "old"}}
    endpoint_factory(scheme="hmac_sha256", secrets=["$secret:HOOK", "$secret:OLD"])
    body = b'{"id": 1}'
    good = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    rotated = hmac.new(b"old", body, hashlib.sha256).hexdigest()
    wrong = hmac.new(b"nope", body, hashlib.sha256).hexdigest()
    assert post(client, b'{"id": 2}', HTTP_X_SIGNATURE_256=good).json()["code"] == "invalid_signature"
    assert post(client, body, HTTP_X_SIGNATURE_256=wrong).status_code == 401
    assert post(client, body).json()["code"] == "invalid_signature"
    assert post(client, body, HTTP_X_SIGNATURE_256=rotated).status_code == 202
    assert Event.objects.count() == 1


def test_signature_is_checked_before_parsing(client, endpoint_factory, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "SECRETS": {"HOOK": "s3cret"}}
    endpoint_factory(scheme="hmac_sha256", secrets=["$secret:HOOK"])
    response = post(client, b"{broken", HTTP_X_SIGNATURE_256="00")
    assert response.json()["code"] == "invalid_signature"


def test_undefined_endpoint_secret_fails_closed(client, endpoint_factory):
    endpoint_factory(scheme="hmac_sha256", secrets=["$secret:NOT_DEFINED_ANYWHERE"])
    response = post(client, b"{}", HTTP_X_SIGNATURE_256="00")
    assert response.status_code == 401
    assert "NOT_DEFINED" not in json.dumps(response.json())


def test_credentials_headers_are_not_stored(client, endpoint_factory):
    endpoint_factory()
    response = post(client, "{}", HTTP_AUTHORIZATION="Bearer abc", HTTP_X_CUSTOM="yes")
    headers = Event.objects.get(id=response.json()["event_id"]).headers
    assert "authorization" not in headers
    assert headers["x-custom"] == "yes"
