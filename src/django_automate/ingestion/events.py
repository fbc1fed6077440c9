"""The one service that stores an Event and its routing job, idempotently."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connections, router, transaction

from django_automate import exceptions
from django_automate.internal.jsonutil import canonical_json, sha256_hex
from django_automate.models import Event, JobKind, WebhookEndpoint
from django_automate.outbox import combined
from django_automate.outbox.enqueue import enqueue, new_job
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255


def _payload_json(payload: Any) -> str:
    """The canonical JSON of a payload passed from Python code, or a ``validation_error``."""
    if payload is None:
        raise exceptions.ValidationError("An event payload cannot be null.", details={"field": "payload"})
    try:
        return canonical_json(payload, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        reason = str(exc)[:200] if not isinstance(exc, RecursionError) else "nested too deeply"
        raise exceptions.ValidationError(
            f"An event payload must be a JSON value: {reason}.", details={"field": "payload"}
        ) from None


@dataclass(frozen=True)
class Recorded:
    event: Event
    duplicate: bool


def record_event(
    *,
    type: str,
    payload: Any,
    source: str,
    trace_id: str,
    tenant: str = "",
    idempotency_key: str | None = None,
    body_sha256: str | None = None,
    headers: dict[str, str] | None = None,
    endpoint: WebhookEndpoint | None = None,
    using: str | None = None,
) -> Recorded:
    """Store an Event plus its routing OutboxJob atomically, or return the existing duplicate.

    Without ``idempotency_key`` every call makes a new event. A known key with the same
    body returns the original event (``duplicate=True``); with another body it raises
    :class:`~django_automate.exceptions.IdempotencyConflict`.
    """
    alias = using or router.db_for_write(Event)
    if not isinstance(type, str) or not type or len(type) > 255:
        raise exceptions.ValidationError("Event type must be 1 to 255 characters.", details={"type": type})
    if body_sha256 is None:
        body_sha256 = sha256_hex(_payload_json(payload))
    if idempotency_key is None:
        idempotency_key = f"auto:{uuid.uuid4()}"
    elif not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
        raise exceptions.ValidationError(
            f"Idempotency keys must be 1 to {MAX_KEY_LENGTH} characters.", details={"field": "idempotency_key"}
        )
    event = Event(
        tenant=tenant,
        source=source,
        type=type,
        idempotency_key=idempotency_key,
        body_sha256=body_sha256,
        payload=payload,
        headers=headers or {},
        trace_id=trace_id,
        endpoint=endpoint,
    )
    try:
        _store(event, alias)
    except IntegrityError:
        existing = (
            Event.objects.using(alias).filter(tenant=tenant, source=source, idempotency_key=idempotency_key).first()
        )
        if existing is None:
            raise
        if existing.body_sha256 != body_sha256:
            raise exceptions.IdempotencyConflict(
                details={"idempotency_key": idempotency_key, "event_id": str(existing.id)}
            ) from None
        logger.info("Duplicate event %s", existing.id, extra=log_extra("duplicate_event", event_id=existing.id))
        return Recorded(existing, duplicate=True)
    logger.info("Recorded event %s (%s)", event.id, event.type, extra=log_extra("record_event", event_id=event.id))
    return Recorded(event, duplicate=False)


def _store(event: Event, alias: str) -> None:
    """Insert the event and its routing job: one statement on PostgreSQL, else a transaction of their own."""
    connection = connections[alias]
    if combined.available(Event, alias):
        job = new_job(JobKind.ROUTE_EVENT, event=event, tenant=event.tenant, trace_id=event.trace_id)
        if connection.in_atomic_block:
            with transaction.atomic(using=alias):  # a savepoint: a duplicate leaves the caller's transaction usable
                combined.insert_with_job(event, job, using=alias)
        else:
            combined.insert_with_job(event, job, using=alias)  # autocommit: the statement is its own transaction
        return
    with transaction.atomic(using=alias):
        event.save(using=alias, force_insert=True)
        enqueue(JobKind.ROUTE_EVENT, event=event, tenant=event.tenant, trace_id=event.trace_id, using=alias)
