"""OpenTelemetry spans (the ``otel`` extra) whose trace id is our ``trace_id``.

Every span is started in the trace of the bound ``trace_id`` (the UUID's 128 bits are the
W3C trace-id), so ingest, route, run, step and connector spans form one trace even though
they happen in different processes. Within a process spans nest normally (run → step →
connector call). A span whose parent lives in another process (the ingest span of a
webhook that came without ``traceparent``, the route and run spans in a worker) gets a
remote parent whose span id is derived from the trace_id: the same "trace root" in every
process. An incoming ``traceparent`` makes the caller's span the parent of the ingest span.

Without ``opentelemetry-api`` installed, :func:`span` does nothing and costs almost nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from django_automate.tracing import context

try:  # the ``otel`` extra
    from opentelemetry import propagate as otel_propagate
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import Status, StatusCode
except ImportError:  # pragma: no cover - exercised by the no-extras test in a subprocess
    otel_trace = None  # type: ignore[assignment]
    otel_propagate = None  # type: ignore[assignment]

TRACER_NAME = "django_automate"

#: Span names: one per stage of the chain.
INGEST, ROUTE, RUN, STEP, CONNECTOR = (
    "automate.ingest",
    "automate.route",
    "automate.run",
    "automate.step",
    "automate.connector",
)


def available() -> bool:
    """Whether ``opentelemetry-api`` is importable (spans are created only then)."""
    return otel_trace is not None


def root_span_id(trace_id: str) -> int:
    """The span id every process uses as the remote parent of its top-level spans for ``trace_id``."""
    digest = hashlib.sha256(f"django-automate:{trace_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


def _trace_int(trace_id: str) -> int | None:
    try:
        return uuid.UUID(trace_id).int or None
    except (ValueError, AttributeError, TypeError):
        return None


def _parent(trace_int: int, trace_id: str, parent: context.TraceParent | None) -> Any:
    """The OTel context to start a span in: the current span if it is in our trace, else a remote parent."""
    current = otel_trace.get_current_span().get_span_context()
    if current.is_valid and current.trace_id == trace_int:
        return None  # the current context already is in this trace
    if parent is not None and parent.trace_id == trace_id:
        span_id, sampled = int(parent.span_id, 16), parent.sampled
    else:
        span_id, sampled = root_span_id(trace_id), True
    flags = otel_trace.TraceFlags(otel_trace.TraceFlags.SAMPLED if sampled else otel_trace.TraceFlags.DEFAULT)
    remote = otel_trace.SpanContext(trace_id=trace_int, span_id=span_id, is_remote=True, trace_flags=flags)
    return otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(remote))


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """OTel accepts str/bool/int/float attribute values; ``None`` is dropped, the rest becomes a string."""
    clean: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        clean[key] = value if isinstance(value, (str, bool, int, float)) else str(value)
    return clean


class SpanHandle:
    """What ``with span(...) as handle`` gives: set attributes or mark an error, with or without OTel."""

    def __init__(self, span: Any = None) -> None:
        self._span = span

    def set(self, **attributes: Any) -> None:
        """Set attributes; keys may use ``__`` for dots (``automate__outcome`` → ``automate.outcome``)."""
        if self._span is not None:
            self._span.set_attributes(_clean({k.replace("__", "."): v for k, v in attributes.items()}))

    def error(self, description: str) -> None:
        """Mark the span as failed without an exception (a step that failed but was handled)."""
        if self._span is not None:
            self._span.set_status(Status(StatusCode.ERROR, description))


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: str = "internal",
    parent: context.TraceParent | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[SpanHandle]:
    """A span named ``name`` in the trace of the bound ``trace_id``, current for the block.

    ``kind`` is ``"internal"``, ``"server"`` or ``"client"``. Exceptions escaping the block are
    recorded on the span and mark it as an error. No-op without OTel or without a bound
    UUID ``trace_id``.
    """
    trace_id = context.current_trace_id()
    trace_int = _trace_int(trace_id) if otel_trace is not None else None
    if trace_int is None:
        yield SpanHandle()
        return
    tracer = otel_trace.get_tracer(TRACER_NAME)
    span_kind = {
        "server": otel_trace.SpanKind.SERVER,
        "client": otel_trace.SpanKind.CLIENT,
    }.get(kind, otel_trace.SpanKind.INTERNAL)
    values = {"automate.trace_id": trace_id, **_clean(attributes or {})}
    with tracer.start_as_current_span(
        name, context=_parent(trace_int, trace_id, parent), kind=span_kind, attributes=values
    ) as current:
        yield SpanHandle(current)


def current_span_ids() -> tuple[str, str] | None:
    """``(trace_id_hex, span_id_hex)`` of the current recording span, for log correlation."""
    if otel_trace is None:
        return None
    span_context = otel_trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"


def inject(trace_id: str) -> dict[str, str]:
    """Headers from the configured OTel propagator, when the current span is a recording span of ``trace_id``.

    Returns ``{}`` otherwise (no OTel, no SDK, a sampled-out span or another trace); callers
    add a ``traceparent`` with a fresh span id whenever the propagator did not.
    """
    if otel_trace is None:
        return {}
    current = otel_trace.get_current_span()
    span_context = current.get_span_context()
    if not current.is_recording() or span_context.trace_id != _trace_int(trace_id):
        return {}
    carrier: dict[str, str] = {}
    otel_propagate.inject(carrier)
    return carrier
