"""The webhook view: method → size cap → signature → content type → parse → store, in that order.

The view runs outside ``ATOMIC_REQUESTS``' transaction on every database, so the event and
its routing job are committed by ``record_event`` before the ``202`` is built.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import router
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from django_automate import conf, exceptions
from django_automate.ingestion.events import Recorded, record_event
from django_automate.ingestion.webhooks import endpoints, keys, parsing, schemes, throttling
from django_automate.ingestion.webhooks.headers import request_headers, stored_headers
from django_automate.ingestion.webhooks.reading import read_capped
from django_automate.internal import outage
from django_automate.internal.jsonutil import sha256_hex
from django_automate.internal.responses import error_response, json_response
from django_automate.models import Event, Secret, SignatureScheme, WebhookEndpoint
from django_automate.observability import instrument
from django_automate.secrets.refs import Resolver
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)


class _EveryAlias(frozenset[str]):
    """Read by Django's ``make_view_atomic``: no database wraps this view in a transaction."""

    def __contains__(self, alias: object) -> bool:
        return True


@csrf_exempt
@instrument.ingest
def webhook_view(request: HttpRequest, slug: str) -> HttpResponse:
    headers = request_headers(request)
    trace_id = context.current_trace_id() or context.trace_id_from_headers(headers)
    with context.bind(trace_id=trace_id):
        try:
            return _handle(request, slug, headers, trace_id)
        except exceptions.AutomateError as exc:
            logger.info("Webhook %s rejected: %s", slug, exc.code, extra=log_extra("webhook_rejected", code=exc.code))
            return error_response(exc, trace_id=trace_id)
        except outage.DATABASE_OUTAGES as exc:
            # Nothing was stored (or the commit's outcome is unknown): the sender retries, and a
            # delivery that did commit is then answered as a duplicate.
            return error_response(outage.service_unavailable(exc), trace_id=trace_id)
        except Exception:
            logger.exception("Webhook %s failed", slug, extra=log_extra("webhook_failed"))
            return error_response(exceptions.AutomateError("The delivery could not be stored."), trace_id=trace_id)


# The same as @transaction.non_atomic_requests, for whichever alias the router picks for events.
webhook_view._non_atomic_requests = _EveryAlias()  # type: ignore[attr-defined]


def _handle(request: HttpRequest, slug: str, headers: dict[str, str], trace_id: str) -> HttpResponse:
    if request.method != "POST":
        raise exceptions.MethodNotAllowed(
            f"Method {request.method} is not allowed; use POST.", details={"allowed": ["POST"]}
        )
    endpoint = endpoints.enabled_endpoint(slug, using=router.db_for_read(WebhookEndpoint))
    if endpoint is None:
        raise exceptions.ResourceNotFound(f"Webhook endpoint {slug!r} does not exist.", details={"slug": slug})
    now = time.time()
    throttling.reject_if_exhausted(endpoint, now)
    body = read_capped(request, endpoint.max_body_bytes)
    schemes.verify(endpoint, body, headers, _endpoint_secrets(endpoint), now=now)
    throttling.consume(endpoint, now)
    parsing.check_content_type(headers.get("content-type"))
    payload = parsing.parse_json(body, max_depth=conf.json_max_depth())
    if endpoint.scheme == SignatureScheme.SLACK and _is_slack_url_verification(payload):
        return json_response({"challenge": payload["challenge"]}, status=200, trace_id=trace_id)
    event_type = keys.render_event_type(endpoint.event_type, payload, headers)
    key = keys.idempotency_key(endpoint, body, payload, headers)
    body_sha256 = sha256_hex(body)
    try:
        recorded = record_event(
            type=event_type,
            payload=payload,
            source=f"webhook:{endpoint.slug}",
            tenant=endpoint.tenant,
            idempotency_key=key.value,
            body_sha256=body_sha256,
            headers=stored_headers(endpoint.store_headers, headers),
            trace_id=trace_id,
            endpoint=endpoint,
        )
    except exceptions.IdempotencyConflict as conflict:
        if not key.sender_id:
            raise  # a key the client chose, reused for another body: SPEC's 409
        recorded = _sender_retry(endpoint, key.value, conflict)
    # The view is not atomic, so record_event's transaction was the outermost one: committed.
    event = recorded.event
    data: dict[str, Any] = {"event_id": str(event.id), "trace_id": event.trace_id, "duplicate": recorded.duplicate}
    return json_response(data, status=200 if recorded.duplicate else 202, trace_id=event.trace_id)


def _sender_retry(endpoint: WebhookEndpoint, key: str, conflict: exceptions.IdempotencyConflict) -> Recorded:
    """A sender repeating its own delivery id with another body: a retry, answered as a duplicate.

    Senders refresh live fields on each retry (Stripe's ``pending_webhooks``); answering 409
    would make them retry for days. The first body stays the event; the difference is logged.
    """
    event_id = str(conflict.details.get("event_id") or "")
    event = Event.objects.using(router.db_for_write(Event)).filter(pk=event_id).first() if event_id else None
    if event is None:  # pruned in between: nothing to answer with but the conflict
        raise conflict
    logger.warning(
        "Webhook %s: delivery %s was repeated with a different body; kept event %s as first received",
        endpoint.slug,
        key,
        event.id,
        extra=log_extra("webhook_retry_body_changed", event_id=event.id, delivery_id=key),
    )
    return Recorded(event, duplicate=True)


def _is_slack_url_verification(payload: Any) -> bool:
    """Slack's one-time handshake when an Events API URL is saved: echo the challenge, store nothing."""
    return (
        isinstance(payload, dict)
        and payload.get("type") == "url_verification"
        and isinstance(payload.get("challenge"), str)
    )


def _endpoint_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """The endpoint's secret values, resolved in the endpoint's tenant.

    A secret that cannot be resolved (undefined, undecryptable) is logged with its name and
    left out; with none left the delivery is rejected as ``invalid_signature``, so the sender
    learns nothing about the endpoint's configuration.
    """
    if endpoint.scheme == SignatureScheme.NONE:
        return []
    resolver = Resolver(tenant=endpoint.tenant, using=router.db_for_read(Secret))
    refs = endpoint.secrets if isinstance(endpoint.secrets, list) else []
    values: list[str] = []
    for ref in refs:
        try:
            values.append(resolver.resolve_string(str(ref)))
        except exceptions.AutomateError as exc:
            logger.error(
                "Webhook %s cannot use %s: %s (%s)",
                endpoint.slug,
                ref,
                exc.message,
                exc.code,
                extra=log_extra("webhook_secret_unavailable", reference=ref, code=exc.code, tenant=endpoint.tenant),
            )
    usable = [value for value in values if value]  # an empty secret would be a key anyone knows
    if refs and not usable:
        raise exceptions.InvalidSignature()
    return usable
