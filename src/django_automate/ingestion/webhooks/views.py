"""The webhook view: method → size cap → signature → parse → store, in that order."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from django_automate import conf, exceptions
from django_automate.ingestion.events import record_event
from django_automate.ingestion.webhooks import keys, signatures
from django_automate.ingestion.webhooks.reading import read_capped
from django_automate.internal.jsonutil import loads_limited, sha256_hex
from django_automate.internal.responses import error_response, json_response
from django_automate.models import WebhookEndpoint
from django_automate.secrets.refs import Resolver, SecretNotFound
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

# Credentials the sender may attach for other hops; never stored with the event.
DROPPED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


@csrf_exempt
def webhook_view(request: HttpRequest, slug: str) -> HttpResponse:
    headers = {k.lower(): v for k, v in request.headers.items()}
    trace_id = context.trace_id_from_headers(headers)
    with context.bind(trace_id=trace_id):
        try:
            return _handle(request, slug, headers, trace_id)
        except exceptions.AutomateError as exc:
            logger.info("Webhook %s rejected: %s", slug, exc.code, extra=log_extra("webhook_rejected", code=exc.code))
            return error_response(exc, trace_id=trace_id)


def _handle(request: HttpRequest, slug: str, headers: dict[str, str], trace_id: str) -> HttpResponse:
    if request.method != "POST":
        raise exceptions.MethodNotAllowed(
            f"Method {request.method} is not allowed; use POST.", details={"allowed": ["POST"]}
        )
    endpoint = WebhookEndpoint.objects.filter(slug=slug, enabled=True).first()
    if endpoint is None:
        raise exceptions.ResourceNotFound(f"Webhook endpoint {slug!r} does not exist.", details={"slug": slug})
    body = read_capped(request, endpoint.max_body_bytes)
    signatures.verify(endpoint, body, headers, _endpoint_secrets(endpoint))
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise exceptions.UnsupportedMediaType(
            f"Content type {content_type!r} is not supported; send application/json.",
            details={"content_type": content_type},
        )
    payload = loads_limited(body, max_depth=conf.json_max_depth())
    event_type = keys.render_event_type(endpoint.event_type, payload, headers)
    recorded = record_event(
        type=event_type,
        payload=payload,
        source=f"webhook:{endpoint.slug}",
        tenant=endpoint.tenant,
        idempotency_key=keys.idempotency_key(endpoint, body, payload, headers),
        body_sha256=sha256_hex(body),
        headers={k: v for k, v in headers.items() if k not in DROPPED_HEADERS},
        trace_id=trace_id,
        endpoint=endpoint,
    )
    event = recorded.event
    data: dict[str, Any] = {"event_id": str(event.id), "trace_id": event.trace_id, "duplicate": recorded.duplicate}
    return json_response(data, status=200 if recorded.duplicate else 202, trace_id=event.trace_id)


def _endpoint_secrets(endpoint: WebhookEndpoint) -> list[str]:
    resolver = Resolver()
    try:
        return [resolver.resolve_string(str(ref)) for ref in endpoint.secrets or []]
    except SecretNotFound:
        logger.error("Webhook %s references an undefined secret", endpoint.slug, extra=log_extra("secret_missing"))
        raise exceptions.InvalidSignature("The endpoint's secret is not available.") from None
