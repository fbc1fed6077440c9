"""Logging helpers: the trace context on every record, and a JSON formatter."""

from __future__ import annotations

import json
import logging
from typing import Any

from django_automate.tracing import context

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def log_extra(action: str, **values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: a stable ``action`` key plus structured values."""
    return {"action": action, **{k: str(v) for k, v in values.items() if v is not None}}


class TraceContextFilter(logging.Filter):
    """Copies ``trace_id``, ``event_id``, ``run_id``, ``step_id``, ``tenant`` onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in context.current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line, with the trace context and every ``extra`` value."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in context.current().items():
            data.setdefault(key, value)
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)
