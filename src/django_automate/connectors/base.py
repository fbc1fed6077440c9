"""The connector contract: ``execute(action, params, ctx) -> StepResult``.

A connector is a class with a ``type``, ``actions`` (each with a JSON Schema for its input)
and ``execute``. It raises :class:`RetryableError` for what may succeed later (network,
timeouts, 5xx, 429) and :class:`PermanentError` for what will not (other 4xx, invalid
input). Subclass :class:`BaseConnector` to get input validation for free.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

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


class InvalidInput(PermanentError):
    """The step's input does not match the action's input schema."""

    code = "validation_error"
    status = 400


class UnknownAction(PermanentError):
    """The connector has no such action."""

    code = "unknown_action"
    status = 400


@dataclass(frozen=True)
class Action:
    """One thing a connector can do, with a JSON Schema (draft 2020-12) for its input."""

    name: str
    input_schema: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class StepResult:
    """What a step produced: a JSON-serialisable ``output`` and an optional ``cost`` that budgets count."""

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


@runtime_checkable
class Connector(Protocol):
    """What the runtime relies on; :class:`BaseConnector` is the convenient way to provide it."""

    @property
    def type(self) -> str: ...

    @property
    def actions(self) -> Mapping[str, Action]: ...

    def execute(self, action: str, params: dict[str, Any], ctx: ConnectorContext) -> StepResult: ...


class BaseConnector:
    """Subclass this: set ``type`` and ``actions`` and implement :meth:`execute`."""

    type: ClassVar[str] = ""
    description: ClassVar[str] = ""
    actions: ClassVar[Mapping[str, Action]] = {}
    #: Whether the actions reach outside the worker process (a network call, a file, a message).
    #: False (``log``): the attempt is recorded once, after its call, with no write before it; a
    #: worker that dies during the call leaves no record, and the next claim calls it again.
    external: ClassVar[bool] = True

    def get_actions(self) -> Mapping[str, Action]:
        """The actions, by name; override when they depend on settings (like ``python``'s)."""
        return self.actions

    def get_action(self, name: str) -> Action:
        action = self.get_actions().get(name)
        if action is None:
            raise UnknownAction(
                f"Unknown action {name!r} for the {self.type} connector.",
                details={"connector": self.type, "action": name},
            )
        return action

    def validate(self, action: str, params: Any) -> dict[str, Any]:
        """Check ``params`` against the action's input schema; raise :class:`InvalidInput` listing every problem."""
        from django_automate.connectors.schema import schema_errors

        errors = schema_errors(self.get_action(action).input_schema, params, "$")
        if errors:
            first = errors[0]
            raise InvalidInput(
                f"Invalid input for {self.type}.{action}: {first['path']}: {first['message']}",
                details={"errors": errors},
            )
        return dict(params)

    def execute(self, action: str, params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
        raise NotImplementedError(".execute() must be overridden")
