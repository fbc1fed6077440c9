"""Event type templates and idempotency keys for webhook requests."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django_automate import exceptions
from django_automate.ingestion.webhooks.headers import require_storable
from django_automate.internal.jsonutil import sha256_hex
from django_automate.internal.paths import MISSING, lookup
from django_automate.models import SignatureScheme, WebhookEndpoint

#: ``{{ body.<path> }}`` / ``{{ headers.<name> }}``, optionally ``| default("<text>")``.
PLACEHOLDER = re.compile(
    r"\{\{\s*(body|headers)\.([A-Za-z0-9_.\-]+)\s*"
    r"(?:\|\s*default\s*\(\s*(\"(?:[^\"\\\x00-\x1f]|\\.){0,255}\")\s*\)\s*)?\}\}"
)
MAX_TYPE_LENGTH = 255
# Unicode categories no event type may hold: controls, format characters, line/paragraph separators.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

# Where each sender scheme puts its delivery id, used when no Idempotency-Key header is sent.
SCHEME_ID_HEADERS: dict[str, tuple[str, ...]] = {
    SignatureScheme.STANDARD_WEBHOOKS: ("webhook-id", "svix-id"),
    SignatureScheme.GITHUB: ("x-github-delivery",),
}
SCHEME_ID_BODY_PATHS: dict[str, str] = {
    SignatureScheme.STRIPE: "id",
    SignatureScheme.SLACK: "event_id",
}


@dataclass(frozen=True)
class IdempotencyKey:
    """A delivery's key and whether the sender chose it as its own delivery id.

    ``sender_id`` keys (Stripe's event id, ``X-GitHub-Delivery``, ``webhook-id``…) are repeated
    by the sender on every retry, even when the body changed in between (Stripe updates
    ``pending_webhooks``): such a retry is a duplicate, not a conflict.
    """

    value: str
    sender_id: bool = False


def render_event_type(template: str, payload: Any, headers: Mapping[str, str]) -> str:
    """Substitute ``{{ body.<path> }}`` and ``{{ headers.<name> }}`` into an endpoint's event type.

    Raises ``400 validation_error`` (``details.event_type`` is the template) when a value is
    missing, empty or structured, or when the result is not a usable type: empty, longer than
    255 characters, holding control or line-break characters, or with a dotted part that is
    empty or has surrounding spaces (``github.``, ``.push``, ``a..b``, ``x. push``).
    """

    def replace(match: re.Match[str]) -> str:
        where, path, default = match.groups()
        value = lookup(payload, path) if where == "body" else headers.get(path.lower(), MISSING)
        if (value is MISSING or value is None or value == "") and default is not None:
            value = json.loads(default)
        if value is MISSING or value is None or isinstance(value, (dict, list)):
            raise _invalid(template, f"needs {where}.{path}, which the request does not provide", f"{where}.{path}")
        text = _scalar(value)
        if not text:
            raise _invalid(template, f"needs {where}.{path}, which is empty", f"{where}.{path}")
        return text

    rendered = PLACEHOLDER.sub(replace, template)
    problem = _type_problem(rendered)
    if problem:
        raise _invalid(template, problem)
    return require_storable(rendered, "event type")


def _type_problem(rendered: str) -> str | None:
    if not rendered or len(rendered) > MAX_TYPE_LENGTH:
        return f"must render to 1 to {MAX_TYPE_LENGTH} characters"
    if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in rendered):
        return "must not render control or line-break characters"
    if any(not part or part != part.strip() for part in rendered.split(".")):
        return "must not render an empty dotted part, or one with leading or trailing spaces"
    return None


def _invalid(template: str, problem: str, path: str | None = None) -> exceptions.ValidationError:
    details = {"event_type": template}
    if path:
        details["path"] = path
    return exceptions.ValidationError(f"The event type {template!r} {problem}.", details=details)


def idempotency_key(endpoint: WebhookEndpoint, body: bytes, payload: Any, headers: Mapping[str, str]) -> IdempotencyKey:
    """The endpoint's ``idempotency`` source; ``auto``: Idempotency-Key, the scheme's id, else the body hash.

    A configured header or body path that the delivery lacks falls back to the body hash.
    """
    source = endpoint.idempotency or "auto"
    key: str | None = None
    sender_id = False
    if source.startswith("header:"):
        key = headers.get(source[len("header:") :].strip().lower())
    elif source.startswith("body:"):
        key = _body_value(payload, source[len("body:") :].strip())
    elif source != "body_hash":
        key = headers.get("idempotency-key")
        if not key:
            key = _scheme_id(endpoint.scheme, payload, headers)
            sender_id = bool(key)
    if not key:
        return IdempotencyKey(body_key(body))
    return IdempotencyKey(require_storable(key, "idempotency key"), sender_id=sender_id)


def body_key(body: bytes) -> str:
    return "sha256:" + sha256_hex(body)


def _scheme_id(scheme: str, payload: Any, headers: Mapping[str, str]) -> str | None:
    for header in SCHEME_ID_HEADERS.get(scheme, ()):
        if headers.get(header):
            return headers[header]
    path = SCHEME_ID_BODY_PATHS.get(scheme)
    return _body_value(payload, path) if path else None


def _body_value(payload: Any, path: str) -> str | None:
    value = lookup(payload, path)
    if value is MISSING or value is None or isinstance(value, (dict, list)):
        return None
    return _scalar(value)


def _scalar(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
