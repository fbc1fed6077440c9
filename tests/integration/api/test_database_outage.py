"""A database that cannot be reached answers 503 service_unavailable with Retry-After, never a 500.

The outage is real: the connection is closed and its settings point at a closed port (a
path that cannot be opened on SQLite) for the duration of the request.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import DataError, connections
from django.test import Client

from django_automate.models import Event
from tests.integration.api.test_errors import assert_error

pytestmark = pytest.mark.django_db(transaction=True)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def database_down(alias: str = "default") -> Iterator[None]:
    """Make every new connection of ``alias`` fail the way a stopped server does."""
    conn = connections[alias]
    saved = dict(conn.settings_dict)
    conn.close()
    if conn.vendor == "sqlite":
        conn.settings_dict["NAME"] = "/nonexistent-automate-dir/db.sqlite3"
    else:
        conn.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)


def assert_unavailable(response) -> dict:
    body = assert_error(response, 503, "service_unavailable")
    assert 1 <= int(response["Retry-After"]) <= 5
    return body


def test_webhook_while_the_database_is_down_answers_503_and_the_retry_is_stored(endpoint_factory):
    endpoint_factory()
    delivery = b'{"n": 1}'
    headers = {"Idempotency-Key": "delivery-1"}
    with database_down():
        response = Client().post("/automate/hooks/orders/", delivery, content_type="application/json", headers=headers)
    assert_unavailable(response)
    assert not Event.objects.exists()

    retried = Client().post("/automate/hooks/orders/", delivery, content_type="application/json", headers=headers)
    assert retried.status_code == 202, retried.content
    assert Event.objects.get().id.hex == retried.json()["event_id"].replace("-", "")


def test_api_while_the_database_is_down_answers_503(admin_api):
    with database_down():
        listed = admin_api.get("events/")
        created = admin_api.post("events/", {"type": "order.paid", "payload": {}})
    assert_unavailable(listed)
    assert_unavailable(created)
    assert admin_api.get("events/").status_code == 200


def test_other_database_errors_stay_internal_errors(endpoint_factory, monkeypatch):
    endpoint_factory()

    def rejected(**kwargs):
        raise DataError("value too long for type character varying(255)")

    monkeypatch.setattr("django_automate.ingestion.webhooks.views.record_event", rejected)
    response = Client().post("/automate/hooks/orders/", b"{}", content_type="application/json")
    body = assert_error(response, 500, "internal_error")
    assert "value too long" not in body["message"]
    assert "Retry-After" not in response
