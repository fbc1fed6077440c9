"""Logging helpers: the trace context on every record, and a JSON formatter.

Attach :class:`TraceContextFilter` to your *handlers* (not loggers) so every record that
reaches them, including those of other libraries logged while a request or job is being
handled, carries ``trace_id``, ``event_id``, ``run_id``, ``step_id``, ``job_id`` and
``tenant``; :class:`JSONFormatter` writes one JSON object per line (docs/observability.md).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django_automate.tracing import context

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def log_extra(action: str, **values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: a stable ``action`` key plus structured values."""
    return {"action": action, **{k: str(v) for k, v in values.items() if v is not None}}


def _otel_ids() -> tuple[str, str] | None:
    from django_automate.observability.otel import current_span_ids

    return current_span_ids()


class TraceContextFilter(logging.Filter):
    """Copies ``trace_id``, ``event_id``, ``run_id``, ``step_id``, ``tenant`` onto each record.

    With the ``otel`` extra and a span current, ``span_id`` (OTel hex) is added too, so log
    lines can be joined with spans.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in context.current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if not hasattr(record, "span_id"):
            ids = _otel_ids()
            if ids is not None:
                record.span_id = ids[1]
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line, with the trace context and every ``extra`` value.

    ``time``, ``level``, ``logger``, ``message`` and ``action`` are always present
    (``action`` is ``null`` when the call site gave none); values bound with
    :func:`~django_automate.tracing.context.bind` and ``extra=`` values follow, then
    ``exc_info`` (the traceback, masked if the record was) and ``stack_info``.
    """

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "action": None,
        }
        for key, value in context.current().items():
            data.setdefault(key, value)
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                data[key] = value
        # A record masked during a step keeps its traceback as text only (exc_text, exc_info None).
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc_info"] = record.exc_text
        if record.stack_info:
            data["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str)
