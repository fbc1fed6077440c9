"""The ``slack`` connector against a local server that speaks Slack's Web API and webhook protocol."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from django_automate.connectors.base import ConnectorContext, PermanentError, RetryableError
from django_automate.connectors.slack import SlackConnector

TOKEN = "xoxb-test-token"
TRACE_ID = str(uuid.uuid4())


@dataclass
class FakeSlack:
    """Slack's answers, as documented: HTTP 200 with ``{"ok": false, "error"}``, 429 with Retry-After, …"""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    hooks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def answer_api(self, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return _json(200, {"ok": False, "error": "invalid_auth"})
        if not headers.get("content-type", "").startswith("application/json"):
            return _json(200, {"ok": False, "error": "invalid_form_data"})
        channel = body.get("channel")
        if channel == "C_RATE":
            return _json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"})
        if channel == "C_DOWN":
            return 503, {"Content-Type": "text/html"}, b"<html>upstream</html>"
        if channel == "C_FLAKY":
            return _json(200, {"ok": False, "error": "internal_error"})
        if channel not in ("C_OK", "C_WARN"):
            return _json(200, {"ok": False, "error": "channel_not_found"})
        self.posts.append(body)
        ts = f"{time.time():.6f}"
        answer: dict[str, Any] = {"ok": True, "channel": channel, "ts": ts, "message": {"text": body.get("text")}}
        if channel == "C_WARN":
            answer["response_metadata"] = {"warnings": ["missing_charset"]}
        return _json(200, answer)

    def answer_hook(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        errors = {
            "/services/T1/B1/archived": (410, "channel_is_archived"),
            "/services/T1/B1/revoked": (403, "invalid_token"),
            "/services/T1/B1/missing": (404, "no_service"),
            "/services/T1/B1/rollup": (500, "rollup_error"),
        }
        if path in errors:
            status, text = errors[path]
            return status, {"Content-Type": "text/plain"}, text.encode()
        if path == "/services/T1/B1/busy":
            return 429, {"Retry-After": "9", "Content-Type": "text/plain"}, b"rate_limited"
        if not (body.get("text") or body.get("blocks")):
            return 400, {"Content-Type": "text/plain"}, b"invalid_payload"
        self.hooks.append((path, body))
        return 200, {"Content-Type": "text/html"}, b"ok"


def _json(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, json.dumps(body).encode()


@pytest.fixture
def slack(settings) -> Iterator[FakeSlack]:
    fake = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            if self.path == "/api/chat.postMessage":
                status, extra, payload = fake.answer_api(headers, body)
            else:
                status, extra, payload = fake.answer_hook(self.path, body)
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.AUTOMATE = {**settings.AUTOMATE, "SLACK_API_BASE_URL": f"{fake.url}/api/"}
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield fake
    server.shutdown()
    server.server_close()


def post(params: dict[str, Any], action: str = "post_message") -> dict[str, Any]:
    ctx = ConnectorContext(idempotency_key="run-9:notify", trace_id=TRACE_ID, deadline=time.monotonic() + 5)
    return SlackConnector().execute(action, params, ctx).output


def test_post_message_sends_the_message_with_the_idempotency_key_in_metadata(slack):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*paid*"}}]
    output = post({"token": TOKEN, "channel": "C_OK", "text": "Order 42 paid", "blocks": blocks, "thread_ts": "1.2"})
    [sent] = slack.posts
    assert sent["text"] == "Order 42 paid" and sent["blocks"] == blocks and sent["thread_ts"] == "1.2"
    assert "token" not in sent  # the token travels in the Authorization header only
    assert sent["metadata"] == {
        "event_type": "django_automate_step",
        "event_payload": {"idempotency_key": "run-9:notify", "trace_id": TRACE_ID},
    }
    assert output["channel"] == "C_OK" and output["ts"] and output["message"] == {"text": "Order 42 paid"}


def test_metadata_can_be_replaced_or_left_out(slack):
    post({"token": TOKEN, "channel": "C_OK", "text": "a", "metadata": {"event_type": "mine", "event_payload": {}}})
    post({"token": TOKEN, "channel": "C_OK", "text": "b", "metadata": None})
    assert slack.posts[0]["metadata"]["event_type"] == "mine"
    assert "metadata" not in slack.posts[1]


def test_warnings_are_kept_in_the_output(slack):
    assert post({"token": TOKEN, "channel": "C_WARN", "text": "x"})["warnings"] == ["missing_charset"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"token": "xoxb-wrong", "channel": "C_OK", "text": "x"}, "invalid_auth"),
        ({"token": TOKEN, "channel": "C_NOPE", "text": "x"}, "channel_not_found"),
    ],
)
def test_ok_false_errors_are_permanent_and_named(slack, params, error):
    with pytest.raises(PermanentError) as caught:
        post(params)
    assert caught.value.code == "slack_error"
    assert caught.value.details["error"] == error
    assert "xoxb" not in caught.value.message


def test_rate_limits_are_retryable_with_retry_after(slack):
    with pytest.raises(RetryableError) as caught:
        post({"token": TOKEN, "channel": "C_RATE", "text": "x"})
    assert caught.value.retry_after == 3.0
    assert caught.value.details["error"] == "ratelimited"


@pytest.mark.parametrize(("channel", "error"), [("C_DOWN", "http_503"), ("C_FLAKY", "internal_error")])
def test_server_errors_are_retryable(slack, channel, error):
    with pytest.raises(RetryableError) as caught:
        post({"token": TOKEN, "channel": channel, "text": "x"})
    assert caught.value.details["error"] == error


def test_a_message_needs_content_and_a_channel(slack):
    with pytest.raises(PermanentError) as caught:
        post({"token": TOKEN, "channel": "C_OK"})
    assert caught.value.code == "validation_error"
    with pytest.raises(PermanentError) as missing:
        post({"token": TOKEN, "text": "x"})
    assert missing.value.details["errors"] == [{"path": "$.channel", "message": "channel is required."}]
    assert slack.posts == []


def test_incoming_webhook_posts_the_message(slack):
    output = post({"url": f"{slack.url}/services/T1/B1/ok", "text": "hello"}, "webhook")
    assert output == {"status": 200, "text": "ok"}
    assert slack.hooks == [("/services/T1/B1/ok", {"text": "hello"})]


@pytest.mark.parametrize(
    ("path", "error", "retryable"),
    [
        ("archived", "channel_is_archived", False),
        ("revoked", "invalid_token", False),
        ("missing", "no_service", False),
        ("rollup", "rollup_error", True),
        ("busy", "rate_limited", True),
    ],
)
def test_incoming_webhook_errors(slack, path, error, retryable):
    with pytest.raises(RetryableError if retryable else PermanentError) as caught:
        post({"url": f"{slack.url}/services/T1/B1/{path}", "text": "hello"}, "webhook")
    assert caught.value.details["error"] == error
    if path == "busy":
        assert caught.value.retry_after == 9.0


def test_webhook_urls_go_through_the_ssrf_guard(slack, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "HTTP_ALLOW_PRIVATE_NETWORKS": False}
    with pytest.raises(PermanentError) as caught:
        post({"url": f"{slack.url}/services/T1/B1/ok", "text": "hello"}, "webhook")
    assert caught.value.code == "ssrf_blocked"
    assert slack.hooks == []
