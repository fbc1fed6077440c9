"""Hard limits at the door: method, body size for every framing, JSON shape, content type, rate."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, RequestFactory

from django_automate.ingestion.webhooks.views import webhook_view
from django_automate.models import Event
from tests.integration.webhooks.windows import start_of_a_fresh_window

pytestmark = pytest.mark.django_db

URL = "/automate/hooks/orders/"


def post(client, body: bytes | str, content_type: str = "application/json", **meta):
    raw = body.encode() if isinstance(body, str) else body
    return client.generic("POST", URL, raw, content_type=content_type, **meta)


def code(response) -> str:
    return response.json()["code"]


class EndlessStream:
    """A request stream that never ends, counting what was read from it."""

    def __init__(self, fill: bytes = b"x") -> None:
        self.fill = fill
        self.consumed = 0

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            raise AssertionError("an unbounded read of an endless stream")
        self.consumed += size
        return self.fill * size

    def readline(self, size: int = -1, /) -> bytes:
        return self.read(size)


class BrokenStream:
    def read(self, size: int = -1, /) -> bytes:
        raise ConnectionResetError("client went away")

    readline = read


# Method --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "BREW"])
def test_only_post_is_allowed(client, endpoint_factory, method):
    endpoint_factory()
    response = client.generic(method, URL, b"{}")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    if method != "HEAD":
        assert code(response) == "method_not_allowed"


def test_method_is_checked_before_the_endpoint_exists(client):
    assert client.get("/automate/hooks/nowhere/").status_code == 405


# Body size, every framing --------------------------------------------------------------------------


def test_declared_length_over_the_cap_reads_nothing(client, endpoint_factory):
    endpoint_factory(max_body_bytes=100)
    stream = EndlessStream()
    response = post(client, "", CONTENT_LENGTH="101", **{"wsgi.input": stream})
    assert (response.status_code, code(response)) == (413, "payload_too_large")
    assert response.json()["details"] == {"max_body_bytes": 100}
    assert stream.consumed == 0


def test_unbounded_body_is_cut_at_the_cap_plus_one_byte(client, endpoint_factory):
    endpoint_factory(max_body_bytes=100_000)
    stream = EndlessStream()
    response = post(client, "", **{"wsgi.input": stream, "wsgi.input_terminated": True})
    assert code(response) == "payload_too_large"
    assert stream.consumed == 100_001


def test_understated_length_reads_only_the_declared_bytes(client, endpoint_factory):
    endpoint_factory(max_body_bytes=100_000)
    stream = EndlessStream(b"[")
    response = post(client, "", CONTENT_LENGTH="50", **{"wsgi.input": stream})
    assert stream.consumed == 50
    assert code(response) == "malformed_payload"  # fifty "[" are no document


def test_body_without_length_or_terminated_stream_is_empty(client, endpoint_factory):
    endpoint_factory()
    stream = EndlessStream()
    response = post(client, "", **{"wsgi.input": stream})
    assert stream.consumed == 0
    assert code(response) == "malformed_payload"


@pytest.mark.parametrize("declared", ["abc", "-1", "1e3", "0x10", "12 34", "١٢", "9" * 400])
def test_absurd_content_length_is_a_client_error(client, endpoint_factory, declared):
    endpoint_factory()
    response = post(client, "{}", CONTENT_LENGTH=declared)
    assert response.status_code in (400, 413)
    assert code(response) in ("malformed_payload", "payload_too_large")


def test_body_that_cannot_be_read_is_a_client_error(client, endpoint_factory):
    endpoint_factory()
    response = post(client, "", CONTENT_LENGTH="10", **{"wsgi.input": BrokenStream()})
    assert (response.status_code, code(response)) == (400, "malformed_payload")


def test_body_already_read_by_a_middleware_is_used_and_capped(endpoint_factory):
    endpoint_factory(max_body_bytes=20)
    factory = RequestFactory()
    request = factory.post(URL, b'{"id": 1}', content_type="application/json")
    assert request.body == b'{"id": 1}'
    assert webhook_view(request, "orders").status_code == 202
    large = factory.post(URL, json.dumps({"x": "y" * 50}), content_type="application/json")
    assert large.body
    assert webhook_view(large, "orders").status_code == 413
    consumed = factory.post(URL, b'{"id": 2}', content_type="application/json")
    consumed.read()
    assert json.loads(webhook_view(consumed, "orders").content)["code"] == "malformed_payload"


def test_asgi_requests_are_capped_and_accepted_too(endpoint_factory):
    endpoint_factory(max_body_bytes=100)
    client = AsyncClient()
    too_large = async_to_sync(client.post)(URL, {"x": "y" * 200}, content_type="application/json")
    accepted = async_to_sync(client.post)(URL, {"id": 3}, content_type="application/json")
    assert (too_large.status_code, accepted.status_code) == (413, 202)


# JSON ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "null",
        "NaN",
        '{"a": Infinity}',
        '{"a": -Infinity}',
        '{"a": 1e400}',
        "[-1E999]",
        "1" * 4301,
        "0." + "1" * 4300,
        '{"a": "nul \\u0000 inside"}',
        '{"nul \\u0000 key": 1}',
        '["\\ud800"]',
        '["\\udfff lone low"]',
        "\ufeff{}",
        '{"a": 1} trailing',
        "[" * 100_000,
        "{'single': 'quotes'}",
    ],
)
def test_unstorable_or_invalid_json_is_malformed(client, endpoint_factory, body):
    endpoint_factory()
    response = post(client, body.encode("utf-8"))
    assert (response.status_code, code(response)) == (400, "malformed_payload")
    assert Event.objects.count() == 0


def test_invalid_utf8_is_malformed(client, endpoint_factory):
    endpoint_factory()
    assert code(post(client, b'{"a": "\xff\xfe"}')) == "malformed_payload"
    assert code(post(client, b'["\xed\xa0\x80"]')) == "malformed_payload"  # an encoded surrogate


def test_storable_edge_cases_are_kept_exactly(client, endpoint_factory):
    endpoint_factory()
    document = {
        "emoji": "\U0001f600 \u00e9\u4e2d",
        "escaped_pair": "\ud83d\ude00",
        "big": int("9" * 4300),
        "small": 1e-320,
        "neg_zero": -0.0,
        "nested": [[[[{"k": None}]]]],
        "control": "tab\tnew\nline\u0001",
    }
    response = post(client, json.dumps(document))
    assert response.status_code == 202, response.json()
    stored = Event.objects.get(id=response.json()["event_id"]).payload
    assert stored["emoji"] == document["emoji"] and stored["escaped_pair"] == "\U0001f600"
    assert stored["big"] == document["big"]
    assert stored["nested"] == document["nested"] and stored["control"] == document["control"]


def test_depth_limit_follows_the_setting(client, endpoint_factory, settings):
    endpoint_factory()
    settings.AUTOMATE = {**settings.AUTOMATE, "JSON_MAX_DEPTH": 3}
    assert post(client, '{"a": {"b": [1]}}').status_code == 202
    response = post(client, '{"a": {"b": [[1]]}}')
    assert response.json()["details"] == {"max_depth": 3}


# Content type --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
        "text/json+xml",
    ],
)
def test_other_content_types_are_unsupported(client, endpoint_factory, content_type):
    endpoint_factory()
    response = post(client, "{}", content_type=content_type)
    assert (response.status_code, code(response)) == (415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "APPLICATION/JSON", 'application/json; charset="UTF-8"', "application/cloudevents+json", ""],
)
def test_json_content_types_are_accepted(client, endpoint_factory, content_type):
    endpoint_factory()
    assert post(client, '{"ok": true}', content_type=content_type).status_code == 202


# Headers that no server should produce but a client can send ---------------------------------------


def test_odd_header_bytes_never_break_the_endpoint(client, endpoint_factory):
    endpoint_factory(event_type="order.{{ headers.x-kind }}")
    latin1 = post(client, '{"n": 1}', HTTP_X_KIND="caf\xe9\xff", HTTP_X_TRACE_ID="\x00\xff")
    assert latin1.status_code == 202
    assert Event.objects.get(id=latin1.json()["event_id"]).type == "order.caf\xe9\xff"
    nul_kind = post(client, '{"n": 2}', HTTP_X_KIND="a\x00b")
    assert (nul_kind.status_code, code(nul_kind)) == (400, "validation_error")
    nul_key = post(client, '{"n": 3}', HTTP_X_KIND="k", HTTP_IDEMPOTENCY_KEY="key\x00")
    assert (nul_key.status_code, code(nul_key)) == (400, "validation_error")
    stored = post(client, '{"n": 4}', HTTP_X_KIND="k", HTTP_X_NOTE="a\x00b\ud800c")
    assert stored.status_code == 202
    assert Event.objects.get(id=stored.json()["event_id"]).headers["x-note"] == "a\ufffdb\ufffdc"


def test_slug_that_no_endpoint_can_have_is_not_found(client, endpoint_factory):
    endpoint_factory()
    response = post_to(client, "/automate/hooks/" + "a" * 300 + "/")
    assert (response.status_code, code(response)) == (404, "resource_not_found")


def post_to(client, url: str):
    return client.generic("POST", url, b"{}", content_type="application/json")


# Rate limit ----------------------------------------------------------------------------------------


def signed(body: bytes) -> dict[str, str]:
    return {"HTTP_X_SIGNATURE_256": hmac.new(b"k", body, hashlib.sha256).hexdigest()}


@pytest.fixture
def limited(endpoint_factory, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "SECRETS": {"K": "k"}}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rl"}}
    from django.core.cache import cache

    cache.clear()
    start_of_a_fresh_window()
    return endpoint_factory(scheme="hmac_sha256", secrets=["$secret:K"], rate_limit_per_minute=3)


def test_deliveries_over_the_rate_limit_are_throttled_with_retry_after(client, limited):
    statuses = [post(client, f'{{"n": {n}}}', **signed(f'{{"n": {n}}}'.encode())).status_code for n in range(3)]
    assert statuses == [202, 202, 202]
    response = post(client, '{"n": 9}', **signed(b'{"n": 9}'))
    assert (response.status_code, code(response)) == (429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["details"]["limit_per_minute"] == 3
    assert Event.objects.count() == 3


def test_forged_deliveries_do_not_use_up_the_allowance(client, limited):
    for n in range(10):
        assert post(client, f'{{"n": {n}}}', HTTP_X_SIGNATURE_256="00" * 32).status_code == 401
    assert post(client, '{"n": 1}', **signed(b'{"n": 1}')).status_code == 202


def test_exhausted_endpoint_turns_requests_away_without_reading_them(client, limited):
    for n in range(3):
        post(client, f'{{"n": {n}}}', **signed(f'{{"n": {n}}}'.encode()))
    stream = EndlessStream()
    response = post(client, "", **{"wsgi.input": stream, "wsgi.input_terminated": True})
    assert response.status_code == 429
    assert stream.consumed == 0


def test_endpoint_without_a_limit_is_never_throttled(client, endpoint_factory):
    endpoint_factory(rate_limit_per_minute=None)
    assert {post(client, f'{{"n": {n}}}').status_code for n in range(30)} == {202}


def test_limits_are_counted_per_endpoint(client, limited, endpoint_factory):
    endpoint_factory(slug="other", scheme="hmac_sha256", secrets=["$secret:K"], rate_limit_per_minute=3)
    for n in range(3):
        post(client, f'{{"n": {n}}}', **signed(f'{{"n": {n}}}'.encode()))
    other = client.generic(
        "POST", "/automate/hooks/other/", b'{"n": 0}', content_type="application/json", **signed(b'{"n": 0}')
    )
    assert other.status_code == 202
