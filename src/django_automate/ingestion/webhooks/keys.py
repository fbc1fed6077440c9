"""Event type templates and idempotency keys for webhook requests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django_automate import exceptions
from django_automate.internal.jsonutil import sha256_hex
from django_automate.internal.paths import MISSING, lookup
from django_automate.models import SignatureScheme, WebhookEndpoint

_PLACEHOLDER = re.compile(r"\{\{\s*(body|headers)\.([A-Za-z0-9_.\-]+)\s*\}\}")

# The id each sender scheme puts on a delivery, used when no Idempotency-Key header is sent.
SCHEME_ID_HEADERS = {
    SignatureScheme.STANDARD_WEBHOOKS: "webhook-id",
    SignatureScheme.GITHUB: "x-github-delivery",
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
        return str(value).lower() if isinstance(value, bool) else str(value)

    rendered = _PLACEHOLDER.sub(replace, template)
    if not rendered or len(rendered) > 255:
        raise exceptions.ValidationError("The rendered event type must be 1 to 255 characters.")
    return rendered


def idempotency_key(endpoint: WebhookEndpoint, body: bytes, payload: Any, headers: Mapping[str, str]) -> str:
    """First found: Idempotency-Key header, the scheme's delivery id, else sha256 of the body."""
    source = endpoint.idempotency or "auto"
    if source.startswith("header:"):
        return headers.get(source[len("header:") :].lower()) or _body_key(body)
    if source.startswith("body:"):
        value = lookup(payload, source[len("body:") :])
        return _body_key(body) if value is MISSING or value is None else str(value)
    if source == "body_hash":
        return _body_key(body)
    if headers.get("idempotency-key"):
        return headers["idempotency-key"]
    scheme_header = SCHEME_ID_HEADERS.get(SignatureScheme(endpoint.scheme))
    if scheme_header and headers.get(scheme_header):
        return headers[scheme_header]
    if endpoint.scheme == SignatureScheme.STRIPE and isinstance(payload, dict) and payload.get("id"):
        return str(payload["id"])
    if endpoint.scheme == SignatureScheme.SLACK and isinstance(payload, dict) and payload.get("event_id"):
        return str(payload["event_id"])
    return _body_key(body)


def _body_key(body: bytes) -> str:
    return "sha256:" + sha256_hex(body)
