"""The connector contract: ``execute(action, params, ctx) -> StepResult``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django_automate import exceptions


class ConnectorError(exceptions.AutomateError):
    """The connector failed."""

    code = "connector_error"
    status = 502


class RetryableError(ConnectorError):
    """The connector failed in a way that may succeed later (network, timeout, 5xx, 429)."""

    code = "retryable_error"

    def __init__(self, message: str | None = None, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class PermanentError(ConnectorError):
    """The connector failed in a way that retrying cannot fix (other 4xx, invalid input)."""

    code = "permanent_error"


@dataclass(frozen=True)
class Action:
    """One thing a connector can do, with a JSON Schema for its input."""

    name: str
    input_schema: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class StepResult:
    output: Any = None
    cost: float | None = None


@dataclass(frozen=True)
class ConnectorContext:
    """What a connector knows about the call it is making."""

    idempotency_key: str
    trace_id: str
    deadline: float  # time.monotonic() value after which the call must give up
    run_id: str = ""
    step_id: str = ""
    tenant: str = ""
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("django_automate.connectors"))

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


class BaseConnector:
    """Subclass this: set ``type`` and ``actions`` and implement :meth:`execute`."""

    type: ClassVar[str] = ""
    actions: ClassVar[dict[str, Action]] = {}

    def execute(self, action: str, params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
        raise NotImplementedError(".execute() must be overridden")
