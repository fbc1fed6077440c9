"""``log``: writes one log line; handy in demos and tests."""

from __future__ import annotations

import logging
from typing import Any

from django_automate.connectors.base import Action, BaseConnector, ConnectorContext, PermanentError, StepResult
from django_automate.tracing.logging import log_extra

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class LogConnector(BaseConnector):
    type = "log"
    actions = {
        "write": Action(
            "write",
            {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "level": {"enum": ["debug", "info", "warning", "error"]},
                    "data": {},
                },
                "required": ["message"],
                "additionalProperties": False,
            },
            "Write a log line on the django_automate.connectors logger.",
        )
    }

    def execute(self, action: str, params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
        if action != "write":
            raise PermanentError(f"Unknown action {action!r} for the log connector.")
        message = str(params.get("message", ""))
        level = str(params.get("level", "info")).upper()
        ctx.logger.log(
            logging.getLevelName(level) if level in _LEVELS else logging.INFO,
            "%s",
            message,
            extra=log_extra("connector_log", run_id=ctx.run_id, step_id=ctx.step_id),
        )
        return StepResult(output={"logged": message, "data": params.get("data")})
