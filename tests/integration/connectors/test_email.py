"""The ``email`` connector delivering to a real local SMTP server (aiosmtpd) through Django's SMTP backend.

Delivery tests run three ways: ``AUTOMATE["EMAIL_BACKEND"]``, ``settings.EMAIL_BACKEND`` and a ``MAILERS``
alias named by ``AUTOMATE["EMAIL_MAILER"]`` (Django 6.1+).
"""

from __future__ import annotations

import hashlib
import socket
import time
import warnings
from collections.abc import Iterator

import pytest
from django.core import mail
from django.utils import deprecation

from django_automate import exceptions
from django_automate.checks import check_connectors
from django_automate.connectors.base import ConnectorContext, PermanentError, RetryableError
from django_automate.connectors.email import EmailConnector
from django_automate.testing import SmtpRecorder, local_smtp_server

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
LOCMEM_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
needs_mailers = pytest.mark.skipif(
    not hasattr(mail, "mailers"), reason="settings.MAILERS and django.core.mail.mailers are new in Django 6.1"
)
MODES = ["AUTOMATE", "settings", pytest.param("MAILERS", marks=needs_mailers)]
# Django's deprecation categories on this version; from 6.1 RemovedInDjango2028Warning covers get_connection(),
# the EMAIL_* settings and creating backends outside mail.mailers.
DJANGO_DEPRECATIONS = tuple(c for name, c in vars(deprecation).items() if name.startswith("RemovedInDjango"))


def route(settings, mode: str, host: str, port: int, timeout: float | None = None) -> None:
    """Send the connector's mail to ``host:port`` by ``AUTOMATE["EMAIL_BACKEND"]``, ``EMAIL_BACKEND`` or MAILERS."""
    settings.DEFAULT_FROM_EMAIL = "shop@example.com"
    if mode == "MAILERS":  # "default" keeps the test runner's locmem backend: only the named alias reaches SMTP
        options = {"host": host, "port": port, "timeout": timeout}
        settings.MAILERS = {"default": {"BACKEND": LOCMEM_BACKEND}, "automation": {"OPTIONS": options}}
        settings.AUTOMATE = {**settings.AUTOMATE, "EMAIL_MAILER": "automation"}
        return
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = host, port, timeout
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    if mode == "AUTOMATE":  # the test runner swaps settings.EMAIL_BACKEND for locmem; this one is the connector's
        settings.AUTOMATE = {**settings.AUTOMATE, "EMAIL_BACKEND": SMTP_BACKEND}
    else:
        settings.EMAIL_BACKEND = SMTP_BACKEND


@pytest.fixture(params=MODES)
def smtp(request, settings) -> Iterator[SmtpRecorder]:
    with local_smtp_server() as server:
        route(settings, request.param, server.host, server.port)
        yield server


def send(params: dict, key: str = "run-1:mail", seconds: float = 5) -> dict:
    ctx = ConnectorContext(idempotency_key=key, trace_id="", deadline=time.monotonic() + seconds)
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


@pytest.mark.parametrize("mode", MODES)
def test_an_unreachable_server_is_retryable(settings, mode):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    route(settings, mode, "127.0.0.1", port)
    with pytest.raises(RetryableError) as caught:
        send({"to": "ann@example.org", "subject": "s", "text": "t"})
    assert caught.value.code == "email_unavailable"


@pytest.mark.parametrize("mode", MODES)
def test_a_stalled_server_is_cut_off_at_the_step_deadline(settings, mode):
    with socket.create_server(("127.0.0.1", 0)) as stalled:  # the kernel completes the handshake; no greeting
        route(settings, mode, "127.0.0.1", stalled.getsockname()[1], timeout=30)
        started = time.monotonic()
        with pytest.raises(RetryableError):  # smtplib reports the timed-out greeting as a disconnect
            send({"to": "ann@example.org", "subject": "s", "text": "t"}, seconds=0.5)
    assert time.monotonic() - started < 5  # the step's 0.5 s, not the backend's 30 s


@pytest.mark.parametrize("smtp", ["settings", pytest.param("MAILERS", marks=needs_mailers)], indirect=True)
def test_sending_raises_no_django_deprecation_warning(smtp):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        send({"to": "ann@example.org", "subject": "s", "text": "t"})
    assert len(smtp.messages) == 1
    assert [str(w.message) for w in caught if issubclass(w.category, DJANGO_DEPRECATIONS)] == []


def test_an_automate_backend_class_is_used_without_get_connection(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "EMAIL_BACKEND": LOCMEM_BACKEND}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        output = send({"to": "ann@example.org", "subject": "s", "text": "t"})
    [message] = mail.outbox
    assert message.extra_headers["Message-ID"] == output["message_id"]
    assert [str(w.message) for w in caught if issubclass(w.category, DJANGO_DEPRECATIONS)] == []


@pytest.mark.parametrize("smtp", [pytest.param("MAILERS", marks=needs_mailers)], indirect=True)
def test_without_email_mailer_the_default_mailer_is_used(smtp, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "EMAIL_MAILER": None}
    send({"to": "ann@example.org", "subject": "s", "text": "t"})
    [message] = mail.outbox
    assert message.sent_using == "default" and smtp.messages == []


@pytest.mark.parametrize("smtp", ["AUTOMATE", "settings"], indirect=True)
def test_email_mailer_without_mailers_is_a_configuration_error(smtp, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "EMAIL_MAILER": "automation"}
    with pytest.raises(exceptions.ImproperlyConfigured, match=r"needs settings\.MAILERS"):
        send({"to": "ann@example.org", "subject": "s", "text": "t"})
    assert smtp.messages == []


@needs_mailers
@pytest.mark.parametrize(
    ("automate", "match"),
    [
        ({"EMAIL_BACKEND": SMTP_BACKEND}, r"EMAIL_BACKEND'\] cannot be used with settings\.MAILERS"),
        ({"EMAIL_MAILER": "nope"}, "The mailer 'nope' is not configured"),
    ],
    ids=["EMAIL_BACKEND", "unknown alias"],
)
def test_mailers_misconfiguration_fails_the_step_for_good(settings, automate, match):
    settings.MAILERS = {"default": {"BACKEND": LOCMEM_BACKEND}}
    settings.AUTOMATE = {**settings.AUTOMATE, **automate}
    with pytest.raises(exceptions.ImproperlyConfigured, match=match):  # not get_connection()'s RuntimeError
        send({"to": "ann@example.org", "subject": "s", "text": "t"})
    assert mail.outbox == []


def check_ids(settings, **automate) -> list[str]:
    settings.AUTOMATE = automate
    return sorted(m.id for m in check_connectors())


@pytest.mark.parametrize(
    ("automate", "expected"),
    [
        ({}, []),
        ({"EMAIL_BACKEND": SMTP_BACKEND}, []),
        ({"EMAIL_BACKEND": 42}, ["automate.E010"]),
        ({"EMAIL_BACKEND": ""}, ["automate.E010"]),
        ({"EMAIL_MAILER": ["automation"]}, ["automate.E011"]),
        ({"EMAIL_MAILER": "automation"}, ["automate.E011"]),  # no settings.MAILERS (or no Django 6.1)
    ],
)
def test_email_settings_are_checked(settings, automate, expected):
    assert check_ids(settings, **automate) == expected


@needs_mailers
@pytest.mark.parametrize(
    ("mailers", "automate", "expected"),
    [
        ({"default": {}, "automation": {}}, {}, []),
        ({"default": {}, "automation": {}}, {"EMAIL_MAILER": "automation"}, []),
        ({"default": {}}, {"EMAIL_BACKEND": SMTP_BACKEND}, ["automate.E010"]),
        ({"default": {}}, {"EMAIL_MAILER": "automation"}, ["automate.E011"]),
        ({"automation": {}}, {}, ["automate.E011"]),  # no "default" and no EMAIL_MAILER
        ({"default": {}}, {"EMAIL_BACKEND": SMTP_BACKEND, "EMAIL_MAILER": 1}, ["automate.E010", "automate.E011"]),
    ],
)
def test_email_settings_are_checked_against_mailers(settings, mailers, automate, expected):
    settings.MAILERS = mailers
    assert check_ids(settings, **automate) == expected


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
