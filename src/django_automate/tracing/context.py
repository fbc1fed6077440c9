"""The current trace context (``trace_id`` and friends), kept in a contextvar.

Everything that logs while handling a request or a job reads it, so one ``trace_id``
appears on every record of the chain webhook → event → run → step → connector.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import secrets
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("automate_trace_context", default=_EMPTY)

CONTEXT_KEYS = ("trace_id", "event_id", "run_id", "step_id", "tenant", "job_id")

_TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def new_trace_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class TraceParent:
    """A valid W3C ``traceparent``: the trace (as our UUID string), the caller's span and its sampling flag."""

    trace_id: str
    span_id: str  # 16 lower-case hex digits
    sampled: bool


def parse_traceparent(value: str) -> TraceParent | None:
    """Parse a W3C ``traceparent`` header; ``None`` unless it is valid."""
    match = _TRACEPARENT_RE.match(value.strip().lower())
    if not match:
        return None
    version, trace_hex, span_hex, flags = match.group(1), match.group(2), match.group(3), match.group(4)
    if version == "ff" or trace_hex == "0" * 32 or span_hex == "0" * 16:
        return None
    if version == "00" and match.group(5):
        return None
    return TraceParent(str(uuid.UUID(hex=trace_hex)), span_hex, bool(int(flags, 16) & 1))


def trace_id_from_traceparent(value: str) -> str | None:
    """Return the trace-id of a valid W3C ``traceparent`` header as a UUID string, else ``None``."""
    parsed = parse_traceparent(value)
    return parsed.trace_id if parsed else None


def normalize_trace_id(value: str) -> str | None:
    """Return ``value`` as a canonical UUID string if it is one, else ``None``."""
    value = value.strip()
    if not _UUID_RE.match(value):
        return None
    return str(uuid.UUID(value))


def trace_id_from_headers(headers: Mapping[str, str]) -> str:
    """Ingress rule: a valid ``traceparent``, else a valid ``X-Trace-Id``, else a new id.

    "New" means the trace already bound to this context when there is one (an outer layer of
    the same request chose it), so every layer of one request agrees on its trace_id.
    """
    traceparent = headers.get("traceparent") or headers.get("Traceparent")
    if traceparent:
        found = trace_id_from_traceparent(traceparent)
        if found:
            return found
    given = headers.get("x-trace-id") or headers.get("X-Trace-Id")
    if given:
        found = normalize_trace_id(given)
        if found:
            return found
    return current_trace_id() or new_trace_id()


def traceparent_for(trace_id: str) -> str:
    """An outbound W3C ``traceparent`` for ``trace_id`` with a fresh span id."""
    return f"00-{uuid.UUID(trace_id).hex}-{secrets.token_hex(8)}-01"


def current() -> dict[str, Any]:
    return dict(_context.get())


def current_trace_id() -> str:
    return str(_context.get().get("trace_id", ""))


@contextlib.contextmanager
def bind(**values: Any) -> Iterator[Mapping[str, Any]]:
    """Add ``values`` to the trace context for the duration of the block."""
    merged = {**_context.get(), **{k: str(v) for k, v in values.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield merged
    finally:
        _context.reset(token)
