"""The ``email`` connector delivering to a real local SMTP server (aiosmtpd) through Django's SMTP backend."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator

import pytest

from django_automate.connectors.base import ConnectorContext, PermanentError, RetryableError
from django_automate.connectors.email import EmailConnector
from django_automate.testing import SmtpRecorder, local_smtp_server

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture
def smtp(settings) -> Iterator[SmtpRecorder]:
    with local_smtp_server() as server:
        settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.DEFAULT_FROM_EMAIL = "shop@example.com"
        # The test runner swaps settings.EMAIL_BACKEND for locmem; this setting is the connector's own.
        settings.AUTOMATE = {**settings.AUTOMATE, "EMAIL_BACKEND": SMTP_BACKEND}
        yield server


def send(params: dict, key: str = "run-1:mail") -> dict:
    ctx = ConnectorContext(idempotency_key=key, trace_id="", deadline=time.monotonic() + 5)
    return EmailConnector().execute("send", params, ctx).output


def test_a_message_is_delivered_with_the_expected_headers(smtp):
    output = send(
        {
            "to": ["Ann <ann@example.org>", "bob@example.org"],
            "cc": "carol@example.org",
            "bcc": ["audit@example.net"],
            "reply_to": "support@example.com",
            "subject": "Order 42 shipped",
            "text": "Your order is on its way.",
            "html": "<p>Your order is <b>on its way</b>.</p>",
            "headers": {"X-Order": "42"},
        }
    )
    [message] = smtp.messages
    [(mail_from, recipients)] = smtp.envelopes
    expected_id = f"<{hashlib.sha256(b'run-1:mail').hexdigest()[:32]}@example.com>"
    assert message["Message-ID"] == output["message_id"] == expected_id
    assert message["From"] == "shop@example.com" and mail_from == "shop@example.com"
    assert message["To"] == "Ann <ann@example.org>, bob@example.org"
    assert message["Cc"] == "carol@example.org"
    assert message["Bcc"] is None  # Bcc travels in the envelope only
    assert sorted(recipients) == ["ann@example.org", "audit@example.net", "bob@example.org", "carol@example.org"]
    assert message["Reply-To"] == "support@example.com"
    assert message["Subject"] == "Order 42 shipped"
    assert message["X-Order"] == "42"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_payload()
    assert text.get_content_type() == "text/plain" and "on its way" in text.get_payload(decode=True).decode()
    assert html.get_content_type() == "text/html" and "<b>on its way</b>" in html.get_payload(decode=True).decode()
    assert output["recipients"] == 4


def test_the_message_id_is_stable_per_step_and_unique_across_steps(smtp, settings):
    params = {"to": "ann@example.org", "subject": "s", "text": "t", "from": "Shop <noreply@shop.example>"}
    first, retry, other = send(params), send(params), send(params, key="run-2:mail")
    assert first["message_id"] == retry["message_id"] != other["message_id"]
    assert first["message_id"].endswith("@shop.example>")
    settings.AUTOMATE = {**settings.AUTOMATE, "EMAIL_MESSAGE_ID_DOMAIN": "mail.example.net"}
    assert send(params)["message_id"].endswith("@mail.example.net>")
    assert [m["Message-ID"] for m in smtp.messages][:2] == [first["message_id"]] * 2


def test_html_only_messages(smtp):
    send({"to": "ann@example.org", "subject": "s", "html": "<h1>Hi</h1>"})
    [message] = smtp.messages
    assert message.get_content_type() == "text/html"


def test_a_permanently_refused_recipient_fails_for_good(smtp):
    smtp.reject_rcpt["nobody@example.org"] = "550 5.1.1 No such user"
    with pytest.raises(PermanentError) as caught:
        send({"to": "nobody@example.org", "subject": "s", "text": "t"})
    assert caught.value.code == "email_rejected"
    assert caught.value.details["codes"] == [550]
    assert smtp.messages == []


def test_a_temporarily_refused_recipient_is_retried(smtp):
    smtp.reject_rcpt["busy@example.org"] = "450 4.2.1 Mailbox busy"
    with pytest.raises(RetryableError) as caught:
        send({"to": "busy@example.org", "subject": "s", "text": "t"})
    assert caught.value.code == "email_unavailable"


def test_an_unreachable_server_is_retryable(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.AUTOMATE = {**settings.AUTOMATE, "EMAIL_BACKEND": SMTP_BACKEND}
    with pytest.raises(RetryableError) as caught:
        send({"to": "ann@example.org", "subject": "s", "text": "t"})
    assert caught.value.code == "email_unavailable"


@pytest.mark.parametrize(
    "params",
    [
        {"to": "not-an-address", "subject": "s", "text": "t"},
        {"to": [], "subject": "s", "text": "t"},
        {"to": "ann@example.org", "subject": "s"},
        {"to": "ann@example.org", "subject": "line\nBcc: victim@example.org", "text": "t"},
        {"to": "ann@example.org", "subject": "s", "text": "t", "headers": {"Bcc": "victim@example.org"}},
        {"to": "ann@example.org", "subject": "s", "text": "t", "headers": {"X-A": "1\r\nBcc: victim@example.org"}},
        {"to": ["a@example.org"] * 101, "subject": "s", "text": "t"},
    ],
)
def test_invalid_messages_are_refused_before_sending(smtp, params):
    with pytest.raises(PermanentError) as caught:
        send(params)
    assert caught.value.code == "validation_error"
    assert smtp.messages == []
