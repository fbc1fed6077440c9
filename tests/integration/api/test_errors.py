"""One error shape (NormalizedError) and X-Trace-Id on every response under /automate/."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.core.cache import cache
from django.test import Client

from django_automate.api.serializers.common import ERROR_CODES

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "details", "trace_id"}
    assert body["code"] == code and body["code"] in ERROR_CODES
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    assert body["trace_id"] == response["X-Trace-Id"]
    uuid.UUID(body["trace_id"])
    assert "Traceback" not in response.content.decode()
    return body


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_unknown_paths_under_the_prefix_answer_resource_not_found(admin_api, method):
    for path in ("/automate/nope", "/automate/api/v1/nope/", "/automate/api/v2/events/", "/automate/hooks/"):
        response = getattr(Client(), method)(path)  # no CSRF token: still 404, not 403
        body = assert_error(response, 404, "resource_not_found")
        assert body["details"]["path"] == path


def test_missing_trailing_slash_answers_404_with_a_hint(admin_api):
    body = assert_error(admin_api.get("/automate/api/v1/events"), 404, "resource_not_found")
    assert "/automate/api/v1/events/" in body["details"]["hint"]


def test_unknown_ids_answer_resource_not_found(admin_api):
    missing = uuid.uuid4()
    body = assert_error(admin_api.get(f"events/{missing}/"), 404, "resource_not_found")
    assert body["details"] == {"pk": str(missing)}
    assert_error(admin_api.get("events/not-a-uuid/"), 404, "resource_not_found")
    assert_error(admin_api.get("workflows/nope/"), 404, "resource_not_found")


def test_unsupported_methods_answer_method_not_allowed_with_allow(admin_api):
    response = admin_api.delete("events/")
    body = assert_error(response, 405, "method_not_allowed")
    assert set(response["Allow"].split(", ")) == {"GET", "POST", "HEAD"} == set(body["details"]["allowed"])
    assert_error(admin_api.request("OPTIONS", "events/"), 405, "method_not_allowed")
    assert_error(admin_api.get("/automate/hooks/orders/"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "raw",
    [b"{bad", b'{"type": "a", "payload": NaN}', b"[" * 100 + b"]" * 100, b"\xff\xfe", b'"unterminated'],
)
def test_malformed_bodies_answer_malformed_payload(admin_api, raw):
    assert_error(admin_api.request("POST", "events/", raw), 400, "malformed_payload")


@pytest.mark.parametrize(
    "raw", [b'{"type": "a", "payload": "nul \\u0000"}', b'{"type": "a", "payload": 1e400}', b'{"type": "\\ud800"}']
)
def test_unstorable_values_answer_validation_error(admin_api, raw):
    assert_error(admin_api.request("POST", "events/", raw), 400, "validation_error")


def test_non_json_bodies_answer_unsupported_media_type(admin_api):
    response = admin_api.request("POST", "events/", b"type=a", content_type="application/x-www-form-urlencoded")
    body = assert_error(response, 415, "unsupported_media_type")
    assert body["details"]["content_type"] == "application/x-www-form-urlencoded"


def test_oversized_bodies_answer_payload_too_large(admin_api, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "API_MAX_BODY_BYTES": 100}
    body = assert_error(admin_api.post("events/", {"type": "a", "payload": "x" * 200}), 413, "payload_too_large")
    assert body["details"] == {"max_bytes": 100}


def test_validation_errors_list_field_errors_in_details(admin_api):
    body = assert_error(admin_api.post("events/", {"payload": {}}), 400, "validation_error")
    assert body["details"]["fields"] == {"type": ["This field is required."]}
    body = assert_error(admin_api.post("schedules/", {"name": "bad name!", "cron": "nope"}), 400, "validation_error")
    assert set(body["details"]["fields"]) == {"name", "cron"}
    body = assert_error(admin_api.get("events/?limit=0&status=nope"), 400, "validation_error")
    assert "limit" in body["details"]["fields"] or "status" in body["details"]["fields"]


def test_throttling_answers_throttled_with_retry_after(admin_api, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "API_THROTTLE_RATE": "2/minute"}
    cache.clear()
    try:
        assert admin_api.get("connectors/").status_code == 200
        assert admin_api.get("connectors/").status_code == 200
        response = admin_api.get("connectors/")
        assert_error(response, 429, "throttled")
        assert 1 <= int(response["Retry-After"]) <= 60
    finally:
        cache.clear()


def test_unexpected_exceptions_answer_internal_error_and_are_logged(admin_api, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr("django_automate.api.views.catalog.trace_timeline", broken)
    with caplog.at_level(logging.ERROR, logger="django_automate"):
        response = admin_api.get(f"traces/{uuid.uuid4()}/")
    body = assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.content.decode()
    record = next(r for r in caplog.records if getattr(r, "action", "") == "api_internal_error")
    assert record.trace_id == body["trace_id"] and record.exc_info is not None


def test_unexpected_webhook_exceptions_answer_internal_error(endpoint_factory, monkeypatch):
    endpoint_factory()

    def broken(**kwargs):
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr("django_automate.ingestion.webhooks.views.record_event", broken)
    response = Client().post("/automate/hooks/orders/", b"{}", content_type="application/json")
    assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.content.decode()


def test_every_response_carries_the_callers_trace_id(admin_api, anonymous):
    trace_id = str(uuid.uuid4())
    for client, path in ((admin_api, "events/"), (anonymous, "events/"), (admin_api, "/automate/x"), (admin_api, "")):
        assert client.get(path, **{"X-Trace-Id": trace_id})["X-Trace-Id"] == trace_id
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert admin_api.get("events/", traceparent=traceparent)["X-Trace-Id"] == "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"
    uuid.UUID(admin_api.get("schema/")["X-Trace-Id"])


def test_unknown_accept_types_get_json(admin_api):
    response = admin_api.get("connectors/", HTTP_ACCEPT="application/x-nope")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")


def test_paths_with_control_characters_answer_resource_not_found(admin_api):
    for path in ("/automate/api/v1/workflows/a%0Ab/publish/", "/automate/%0A", "/automate/api/v1/events/%00/"):
        assert_error(admin_api.post(path, {}), 404, "resource_not_found")


def test_subsystem_codes_are_answered_with_the_documented_code_of_their_status(admin_api, monkeypatch):
    from django_automate.secrets.refs import SecretNotFound

    def missing(*args, **kwargs):
        raise SecretNotFound("Secret 'X' is not defined.")

    monkeypatch.setattr("django_automate.api.views.catalog.trace_timeline", missing)
    body = assert_error(admin_api.get(f"traces/{uuid.uuid4()}/"), 400, "validation_error")
    assert body["details"]["reason"] == "secret_not_found" and body["message"] == "Secret 'X' is not defined."
