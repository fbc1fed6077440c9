"""``log``: writes one structured log line; handy in demos and tests."""

from __future__ import annotations

import json
import logging
from typing import Any

from django_automate.connectors.base import Action, BaseConnector, ConnectorContext, StepResult
from django_automate.tracing.logging import log_extra

WRITE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "level": {"enum": ["debug", "info", "warning", "error"], "default": "info"},
        "data": {"description": "Any JSON value, logged as compact JSON in the record's `data` field."},
    },
    "required": ["message"],
    "additionalProperties": False,
}


class LogConnector(BaseConnector):
    """Write a log line on the ``django_automate.connectors`` logger (with run, step and trace ids)."""

    type = "log"
    external = False  # a log line: repeated after a crash, never worth a write before it
    actions = {"write": Action("write", WRITE_SCHEMA, "Write a log line on the django_automate.connectors logger.")}

    def execute(self, action: str, params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
        params = self.validate(action, params)
        message = params["message"]
        level = logging.getLevelName(params.get("level", "info").upper())
        data = params.get("data")
        ctx.logger.log(
            level,
            "%s",
            message,
            extra=log_extra(
                "connector_log",
                run_id=ctx.run_id,
                step_id=ctx.step_id,
                data=None if data is None else json.dumps(data, separators=(",", ":"), default=str),
            ),
        )
        return StepResult(output={"logged": message, "data": data})
