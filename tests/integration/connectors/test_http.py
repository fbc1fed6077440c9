"""The ``http`` connector against real local servers: status/retry matrix, headers, bodies, caps, timeouts."""

from __future__ import annotations

import base64
import email.utils
import gzip
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from django_automate.connectors.base import ConnectorContext, PermanentError, RetryableError
from django_automate.connectors.http import HttpConnector
from django_automate.testing import local_http_server

TRACE_ID = str(uuid.uuid4())


def ctx(seconds: float = 5.0) -> ConnectorContext:
    return ConnectorContext(idempotency_key="run-1:notify", trace_id=TRACE_ID, deadline=time.monotonic() + seconds)


def request(params: dict, seconds: float = 5.0) -> dict:
    return HttpConnector().execute("request", params, ctx(seconds)).output


@pytest.fixture
def server():
    with local_http_server() as recorder:
        yield recorder


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_succeeds(server, status):
    server.respond(status, {"id": 7} if status != 204 else b"")
    output = request({"url": server.url})
    assert output["status"] == status
    assert output.get("json") == ({"id": 7} if status != 204 else None)


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
def test_408_425_429_and_5xx_are_retryable_and_honour_retry_after(server, status):
    server.respond(status, {"error": "busy"}, {"Retry-After": "7"})
    with pytest.raises(RetryableError) as caught:
        request({"url": server.url})
    assert caught.value.code == "http_error"
    assert caught.value.retry_after == 7.0
    assert caught.value.details["status"] == status
    assert '"busy"' in caught.value.details["body"]


def test_retry_after_as_an_http_date(server):
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    server.respond(503, b"", {"Retry-After": when})
    with pytest.raises(RetryableError) as caught:
        request({"url": server.url})
    assert 100 < caught.value.retry_after <= 120


@pytest.mark.parametrize("header", ["soon", "-5", ""])
def test_an_invalid_retry_after_is_ignored(server, header):
    server.respond(429, b"", {"Retry-After": header})
    with pytest.raises(RetryableError) as caught:
        request({"url": server.url})
    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 413, 422, 451])
def test_other_4xx_are_permanent(server, status):
    server.respond(status, {"error": "no"})
    with pytest.raises(PermanentError) as caught:
        request({"url": server.url})
    assert caught.value.code == "http_error"
    assert caught.value.details["status"] == status


def test_410_is_gone_for_good_and_cannot_be_made_retryable(server):
    server.respond(410, {"error": "gone"})
    with pytest.raises(PermanentError) as caught:
        request({"url": server.url, "retry_statuses": [404, 409]})
    assert caught.value.code == "http_gone"
    with pytest.raises(PermanentError) as invalid:
        request({"url": server.url, "retry_statuses": [410]})
    assert invalid.value.code == "validation_error"
    assert invalid.value.details["errors"][0]["path"] == "$.retry_statuses[0]"


def test_retry_statuses_make_chosen_4xx_retryable(server):
    server.respond(409, {"error": "locked"})
    with pytest.raises(RetryableError):
        request({"url": server.url, "retry_statuses": [409]})


def test_a_redirect_is_a_failure_unless_followed(server):
    server.respond(302, b"", {"Location": "/elsewhere"})
    with pytest.raises(PermanentError) as caught:
        request({"url": server.url})
    assert caught.value.details["location"] == "/elsewhere"
    server.respond(302, b"", {"Location": "/elsewhere"})
    output = request({"url": server.url + "/start", "follow_redirects": True})
    assert output["url"] == server.url + "/elsewhere"
    server.respond(302, b"", {"Location": "/a"})
    server.respond(302, b"", {"Location": "/b"})
    with pytest.raises(PermanentError, match="Too many redirects"):
        request({"url": server.url, "follow_redirects": True, "max_redirects": 1})


def test_outbound_headers_carry_the_idempotency_key_and_trace(server):
    request({"url": server.url, "headers": {"X-Trace-Id": "spoofed", "traceparent": "spoofed", "X-Custom": "1"}})
    headers = server.requests[0].headers
    assert headers["idempotency-key"] == "run-1:notify"
    assert headers["x-trace-id"] == TRACE_ID
    version, trace, span, flags = headers["traceparent"].split("-")
    assert (version, trace, flags) == ("00", uuid.UUID(TRACE_ID).hex, "01") and len(span) == 16
    assert headers["x-custom"] == "1"
    assert headers["user-agent"].startswith("django-automate/")


def test_the_idempotency_header_can_be_renamed_kept_or_left_out(server):
    request({"url": server.url, "idempotency_header": "X-Request-Id"})
    request({"url": server.url, "headers": {"Idempotency-Key": "mine"}})
    request({"url": server.url, "idempotency_header": None})
    first, second, third = (r.headers for r in server.requests)
    assert first["x-request-id"] == "run-1:notify" and "idempotency-key" not in first
    assert second["idempotency-key"] == "mine"
    assert "idempotency-key" not in third


def test_json_form_and_raw_bodies_and_query(server):
    request({"method": "POST", "url": server.url + "/j?a=1", "json": {"n": 1}, "query": {"b": [2, 3], "c": True}})
    request({"method": "PUT", "url": server.url, "form": {"x": "1 2", "y": False}})
    request({"method": "PATCH", "url": server.url, "body": "plain", "headers": {"Content-Type": "text/plain"}})
    j, f, b = server.requests
    assert (j.method, j.path, j.json()) == ("POST", "/j?a=1&b=2&b=3&c=true", {"n": 1})
    assert j.headers["content-type"] == "application/json"
    assert (f.method, f.body, f.headers["content-type"]) == (
        "PUT",
        b"x=1+2&y=false",
        "application/x-www-form-urlencoded",
    )
    assert (b.method, b.body, b.headers["content-type"]) == ("PATCH", b"plain", "text/plain")


def test_bearer_and_basic_auth(server):
    request({"url": server.url, "auth": {"bearer": "tok"}})
    request({"url": server.url, "auth": {"username": "u", "password": "p w"}})
    assert server.requests[0].headers["authorization"] == "Bearer tok"
    assert server.requests[1].headers["authorization"] == "Basic " + base64.b64encode(b"u:p w").decode()


def test_output_is_json_or_text(server):
    server.respond(200, b"hello", {"Content-Type": "text/plain; charset=utf-8"})
    server.respond(200, b'{"a": 1}', {"Content-Type": "application/problem+json"})
    server.respond(200, b'{"a": 1}', {"Content-Type": "text/plain"})
    server.respond(200, b"not json", {"Content-Type": "application/json"})
    server.respond(200, b"not json", {"Content-Type": "text/plain"})
    assert request({"url": server.url})["text"] == "hello"
    assert request({"url": server.url})["json"] == {"a": 1}
    assert request({"url": server.url, "response_format": "json"})["json"] == {"a": 1}
    assert request({"url": server.url})["text"] == "not json"  # declared JSON, is not: kept as text
    with pytest.raises(PermanentError) as caught:
        request({"url": server.url, "response_format": "json"})
    assert caught.value.code == "invalid_response"


def test_invalid_input_is_a_permanent_validation_error_with_paths(server):
    with pytest.raises(PermanentError) as caught:
        request({"url": server.url, "method": "BREW", "json": {}, "body": "x", "nope": 1})
    assert caught.value.code == "validation_error"
    paths = {e["path"] for e in caught.value.details["errors"]}
    assert {"$.method", "$.nope", "$"} <= paths
    with pytest.raises(PermanentError) as missing:
        request({"method": "GET"})
    assert missing.value.details["errors"] == [{"path": "$.url", "message": "url is required."}]
    assert server.requests == []


def test_a_header_with_a_line_break_is_refused(server):
    with pytest.raises(PermanentError) as caught:
        request({"url": server.url, "headers": {"X-Evil": "a\r\nInjected: 1"}})
    assert caught.value.code == "invalid_request"
    assert "Injected" not in caught.value.message
    assert all("injected" not in r.headers for r in server.requests)


# --- raw servers for what BaseHTTPRequestHandler cannot do ----------------------------------


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    """Start a TCP server whose connections are handled by the given function."""
    sockets: list[socket.socket] = []

    def start(handle: Callable[[socket.socket], None]) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        sockets.append(listener)

        def serve() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=_run, args=(handle, conn), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for listener in sockets:
        listener.close()


def _run(handle: Callable[[socket.socket], None], conn: socket.socket) -> None:
    with conn:
        conn.recv(65536)
        try:
            handle(conn)
        except OSError:
            pass


def _head(length: int | None = None, extra: str = "") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n{size}{extra}\r\n".encode()


def test_response_size_cap_with_and_without_content_length(raw_server, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "HTTP_MAX_RESPONSE_BYTES": 1000}

    def declared(conn: socket.socket) -> None:
        conn.sendall(_head(5000) + b"x" * 5000)

    def chunked(conn: socket.socket) -> None:
        conn.sendall(_head())
        for _ in range(20):
            conn.sendall(b"100\r\n" + b"y" * 256 + b"\r\n")
        conn.sendall(b"0\r\n\r\n")

    for url in (raw_server(declared), raw_server(chunked)):
        with pytest.raises(PermanentError) as caught:
            request({"url": url})
        assert caught.value.code == "response_too_large"
    with pytest.raises(PermanentError):  # a step may lower the cap, never raise it
        request({"url": raw_server(declared), "max_response_bytes": 10_000})


def test_a_compressed_body_is_capped_after_decompression(raw_server, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "HTTP_MAX_RESPONSE_BYTES": 100_000}
    bomb = gzip.compress(b"\0" * 50_000_000)  # ~50 KB on the wire
    small = gzip.compress(json.dumps({"ok": True}).encode())

    def send(payload: bytes, content_type: str = "application/json") -> Callable[[socket.socket], None]:
        def handle(conn: socket.socket) -> None:
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Encoding: gzip\r\n"
            conn.sendall(f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)

        return handle

    with pytest.raises(PermanentError) as caught:
        request({"url": raw_server(send(bomb))})
    assert caught.value.code == "response_too_large"
    assert request({"url": raw_server(send(small))})["json"] == {"ok": True}


def test_a_slow_server_times_out_as_retryable(raw_server):
    def silent(conn: socket.socket) -> None:
        time.sleep(3)

    started = time.monotonic()
    with pytest.raises(RetryableError) as caught:
        request({"url": raw_server(silent), "timeout_seconds": 0.3})
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 2


def test_a_dripping_server_cannot_stretch_the_call_past_the_deadline(raw_server):
    def drip(conn: socket.socket) -> None:
        conn.sendall(_head(100))
        for _ in range(100):  # one byte every 50 ms: each read is quick, the whole is not
            conn.sendall(b"z")
            time.sleep(0.05)

    started = time.monotonic()
    with pytest.raises(RetryableError) as caught:
        request({"url": raw_server(drip)}, seconds=0.6)
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 1.5


def test_a_refused_connection_is_a_retryable_network_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RetryableError) as caught:
        request({"url": f"http://127.0.0.1:{port}/"})
    assert caught.value.code == "network_error"
