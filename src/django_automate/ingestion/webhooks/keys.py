"""Event type templates and idempotency keys for webhook requests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django_automate import exceptions
from django_automate.ingestion.webhooks.headers import require_storable
from django_automate.internal.jsonutil import sha256_hex
from django_automate.internal.paths import MISSING, lookup
from django_automate.models import SignatureScheme, WebhookEndpoint

_PLACEHOLDER = re.compile(r"\{\{\s*(body|headers)\.([A-Za-z0-9_.\-]+)\s*\}\}")

# Where each sender scheme puts its delivery id, used when no Idempotency-Key header is sent.
SCHEME_ID_HEADERS: dict[str, tuple[str, ...]] = {
    SignatureScheme.STANDARD_WEBHOOKS: ("webhook-id", "svix-id"),
    SignatureScheme.GITHUB: ("x-github-delivery",),
}
SCHEME_ID_BODY_PATHS: dict[str, str] = {
    SignatureScheme.STRIPE: "id",
    SignatureScheme.SLACK: "event_id",
}


def render_event_type(template: str, payload: Any, headers: Mapping[str, str]) -> str:
    """Substitute ``{{ body.<path> }}`` and ``{{ headers.<name> }}`` into an endpoint's event type."""

    def replace(match: re.Match[str]) -> str:
        where, path = match.groups()
        value = lookup(payload, path) if where == "body" else headers.get(path.lower(), MISSING)
        if value is MISSING or isinstance(value, (dict, list)) or value is None:
            raise exceptions.ValidationError(
                f"The event type needs {where}.{path}, which the request does not provide.",
                details={"path": f"{where}.{path}"},
            )
        return _scalar(value)

    rendered = _PLACEHOLDER.sub(replace, template)
    if not rendered or len(rendered) > 255:
        raise exceptions.ValidationError("The rendered event type must be 1 to 255 characters.")
    return require_storable(rendered, "event type")


def idempotency_key(endpoint: WebhookEndpoint, body: bytes, payload: Any, headers: Mapping[str, str]) -> str:
    """The endpoint's ``idempotency`` source; ``auto``: Idempotency-Key, the scheme's id, else the body hash.

    A configured header or body path that the delivery lacks falls back to the body hash.
    """
    source = endpoint.idempotency or "auto"
    key: str | None = None
    if source.startswith("header:"):
        key = headers.get(source[len("header:") :].strip().lower())
    elif source.startswith("body:"):
        key = _body_value(payload, source[len("body:") :].strip())
    elif source != "body_hash":
        key = headers.get("idempotency-key") or _scheme_id(endpoint.scheme, payload, headers)
    return require_storable(key, "idempotency key") if key else body_key(body)


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
