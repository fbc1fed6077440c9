"""``email``: send one message through Django's email backend (SMTP in production).

The ``Message-ID`` is derived from the step's idempotency key, so every attempt of a step
sends the same id and receivers (or a dedup filter) can recognise a repeat.
Django 6.1+ with ``settings.MAILERS``: the message goes through ``AUTOMATE["EMAIL_MAILER"]`` (default
``"default"``); otherwise through ``AUTOMATE["EMAIL_BACKEND"]`` or ``settings.EMAIL_BACKEND``.
"""

from __future__ import annotations

import email.utils
import hashlib
import smtplib
from typing import Any

from django.conf import settings
from django.core import mail
from django.core.exceptions import ImproperlyConfigured as DjangoImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail.backends.base import BaseEmailBackend
from django.core.validators import validate_email
from django.utils.module_loading import import_string

from django_automate import conf, exceptions
from django_automate.connectors.base import (
    Action,
    BaseConnector,
    ConnectorContext,
    InvalidInput,
    PermanentError,
    RetryableError,
    StepResult,
)
from django_automate.connectors.transport import Timeout
from django_automate.policy import masking

_ADDRESSES = {
    "anyOf": [
        {"type": "string", "minLength": 3, "maxLength": 320},
        {"type": "array", "items": {"type": "string", "minLength": 3, "maxLength": 320}, "maxItems": 100},
    ]
}
SEND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "to": _ADDRESSES,
        "cc": _ADDRESSES,
        "bcc": _ADDRESSES,
        "reply_to": _ADDRESSES,
        "from": {"type": "string", "minLength": 3, "maxLength": 320},
        "subject": {"type": "string", "maxLength": 998},
        "text": {"type": "string"},
        "html": {"type": "string"},
        "headers": {
            "type": "object",
            "propertyNames": {"pattern": "^[A-Za-z0-9-]{1,76}$"},
            "additionalProperties": {"type": "string", "maxLength": 998},
        },
    },
    "required": ["to", "subject"],
    "anyOf": [{"required": ["text"]}, {"required": ["html"]}],
    "additionalProperties": False,
}
RESERVED_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "subject", "message-id", "date"})
MAX_RECIPIENTS = 100


class EmailRejected(PermanentError):
    """The mail server refused the message for good."""

    code = "email_rejected"


class EmailUnavailable(RetryableError):
    """The mail server could not take the message right now."""

    code = "email_unavailable"


def message_id(idempotency_key: str, domain: str) -> str:
    """``<sha256(key)[:32]@domain>``: stable for a step across attempts, unique across steps."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@{domain}>"


def _addresses(value: Any, field: str) -> list[str]:
    values = [value] if isinstance(value, str) else list(value or [])
    for raw in values:
        _name, address = email.utils.parseaddr(raw)
        try:
            validate_email(address)
        except DjangoValidationError as exc:
            raise InvalidInput(f"{field}: {raw!r} is not a valid email address.", details={"field": field}) from exc
    return values


class EmailConnector(BaseConnector):
    """Send an email (to, cc, bcc, subject, text and/or HTML, reply-to) through Django's email backend."""

    type = "email"
    actions = {"send": Action("send", SEND_SCHEMA, "Send one email message.")}

    def execute(self, action: str, params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
        params = self.validate(action, params)
        to, cc, bcc = (_addresses(params.get(f), f) for f in ("to", "cc", "bcc"))
        reply_to = _addresses(params.get("reply_to"), "reply_to")
        if not to:
            raise InvalidInput("to: at least one recipient is required.", details={"field": "to"})
        if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
            raise InvalidInput(f"At most {MAX_RECIPIENTS} recipients per message.")
        from_email = params.get("from") or conf.email_from() or settings.DEFAULT_FROM_EMAIL
        _addresses(from_email, "from")
        headers = dict(params.get("headers") or {})
        reserved = sorted(h for h in headers if h.lower() in RESERVED_HEADERS)
        if reserved:
            raise InvalidInput(f"headers: {', '.join(reserved)} cannot be set here.", details={"field": "headers"})
        domain = conf.email_message_id_domain() or email.utils.parseaddr(from_email)[1].rpartition("@")[2]
        headers["Message-ID"] = message_id(ctx.idempotency_key, domain or "localhost")
        text, html = params.get("text"), params.get("html")
        remaining = ctx.remaining()
        if remaining <= 0:
            raise Timeout("The step deadline passed before the email was sent.")
        connection = mail_connection(timeout=remaining)
        message = mail.EmailMultiAlternatives(
            subject=params["subject"],
            body=text if text is not None else html,
            from_email=from_email,
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            headers=headers,
        )
        if text is None:
            message.content_subtype = "html"
        elif html is not None:
            message.attach_alternative(html, "text/html")
        _send(connection, message)
        return StepResult(
            output={"message_id": headers["Message-ID"], "to": to, "cc": cc, "recipients": len(to) + len(cc) + len(bcc)}
        )


def mail_connection(timeout: float) -> BaseEmailBackend:
    """A new backend instance for automation mail, its ``timeout`` (if it has one) capped at ``timeout`` seconds.

    Django 6.1+ with ``settings.MAILERS``: ``mailers[EMAIL_MAILER or "default"]``. Otherwise the
    ``AUTOMATE["EMAIL_BACKEND"]`` class, or the default backend (``mailers.default`` on 6.1, which
    does not warn about ``get_connection()``).
    """
    backend, alias = conf.email_backend(), conf.email_mailer()
    mailers = getattr(mail, "mailers", None)  # Django 6.1+
    if mailers is not None and hasattr(settings, "MAILERS"):
        if backend is not None:
            raise exceptions.ImproperlyConfigured(
                "AUTOMATE['EMAIL_BACKEND'] cannot be used with settings.MAILERS; name a mailer in "
                "AUTOMATE['EMAIL_MAILER'] instead."
            )
        try:
            connection: BaseEmailBackend = mailers[alias or "default"]
        except DjangoImproperlyConfigured as exc:  # MailerDoesNotExist, InvalidMailer
            raise exceptions.ImproperlyConfigured(f"AUTOMATE['EMAIL_MAILER']: {exc}") from exc
    elif alias is not None:
        raise exceptions.ImproperlyConfigured("AUTOMATE['EMAIL_MAILER'] needs settings.MAILERS (Django 6.1+).")
    elif mailers is not None and backend is None:
        connection = mailers.default
    else:
        connection = import_string(backend or settings.EMAIL_BACKEND)()
    if hasattr(connection, "timeout") and isinstance(connection.timeout, (int, float, type(None))):
        # The SMTP backend's socket timeout: connecting and every reply wait end with the step.
        connection.timeout = timeout if connection.timeout is None else min(connection.timeout, timeout)
    return connection


def _send(connection: BaseEmailBackend, message: mail.EmailMessage) -> None:
    try:
        connection.send_messages([message])
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        cls: type[PermanentError | RetryableError] = EmailRejected if all(c >= 500 for c in codes) else EmailUnavailable
        raise cls("The mail server refused the recipients.", details={"codes": sorted(set(codes))}) from exc
    except smtplib.SMTPResponseException as exc:  # sender refused, data refused, authentication, …
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        cls = EmailRejected if exc.smtp_code >= 500 else EmailUnavailable
        raise cls(f"SMTP {exc.smtp_code}: {masking.excerpt(text, 200)}", details={"smtp_code": exc.smtp_code}) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise EmailRejected(f"The mail server does not support what is needed: {exc}.") from exc
    except TimeoutError as exc:
        raise Timeout("The mail server did not answer in time.") from exc
    except (smtplib.SMTPException, OSError) as exc:  # disconnects, refused connections, DNS
        raise EmailUnavailable(f"Could not deliver to the mail server: {exc.__class__.__name__}: {exc}.") from exc
    except ValueError as exc:  # BadHeaderError: a line break in a header
        raise InvalidInput(f"Invalid email header: {exc}.") from exc
