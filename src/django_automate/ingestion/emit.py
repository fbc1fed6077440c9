"""``django_automate.emit()``: events from your own code, inside your transaction."""

from __future__ import annotations

from typing import Any

from django_automate.ingestion.events import record_event
from django_automate.models import Event
from django_automate.tracing import context


def emit(
    type: str,
    payload: Any,
    *,
    idempotency_key: str | None = None,
    tenant: str = "",
    source: str = "app",
    using: str | None = None,
) -> Event:
    """Write an Event and its routing job in the caller's current transaction on ``using``.

    Rolled back with the caller's transaction. The current trace_id is reused when there is one.
    """
    trace_id = context.current_trace_id() or context.new_trace_id()
    return record_event(
        type=type,
        payload=payload,
        source=source,
        tenant=tenant,
        idempotency_key=idempotency_key,
        trace_id=trace_id,
        using=using,
    ).event
