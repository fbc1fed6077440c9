"""``python``: call a function registered in ``AUTOMATE["PYTHON_ACTIONS"]``; its return value is the output.

Each registered name is an action: ``{"connector": "python", "action": "enrich_order", "with": {…}}``
calls ``fn(params, ctx)``. A function may declare its input schema with :func:`python_action`;
without one, any object is accepted. It may return any JSON value, or a
:class:`~django_automate.connectors.base.StepResult` to report a ``cost``; it may raise
``RetryableError`` / ``PermanentError`` (any other exception is retried as ``unexpected_error``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from django.utils.module_loading import import_string

from django_automate import conf, exceptions
from django_automate.connectors.base import Action, BaseConnector, ConnectorContext, PermanentError, StepResult
from django_automate.connectors.contract import ACTION_RE
from django_automate.connectors.schema import schema_problems

F = TypeVar("F", bound=Callable[..., Any])
ANY_OBJECT: dict[str, Any] = {"type": "object"}


class InvalidOutput(PermanentError):
    """The function returned something that is not JSON."""

    code = "invalid_output"


def python_action(*, input_schema: dict[str, Any] | None = None, description: str = "") -> Callable[[F], F]:
    """Declare the input schema (and a description) of a function used as a ``python`` action."""

    def mark(func: F) -> F:
        setattr(func, "input_schema", input_schema or ANY_OBJECT)  # noqa: B010
        setattr(func, "description", description)  # noqa: B010
        return func

    return mark


def load_action(name: str, path: str) -> Callable[..., Any]:
    try:
        func = import_string(path)
    except ImportError as exc:
        raise exceptions.ImproperlyConfigured(
            f"Could not import {path!r} for AUTOMATE['PYTHON_ACTIONS'][{name!r}]: {exc}.", details={"action": name}
        ) from exc
    if not callable(func):
        raise exceptions.ImproperlyConfigured(
            f"{path!r} (AUTOMATE['PYTHON_ACTIONS'][{name!r}]) is not callable.", details={"action": name}
        )
    return cast(Callable[..., Any], func)


def registered() -> dict[str, str]:
    """``AUTOMATE["PYTHON_ACTIONS"]``, or nothing when it is malformed (system check E035 reports that)."""
    value = conf.get("PYTHON_ACTIONS")
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _action(name: str, func: Callable[..., Any]) -> Action:
    doc = (getattr(func, "__doc__", None) or "").strip().split("\n\n")[0].replace("\n", " ")
    description = getattr(func, "description", "") or doc
    return Action(name, dict(getattr(func, "input_schema", None) or ANY_OBJECT), str(description))


class PythonConnector(BaseConnector):
    """Call a registered Python function with the step's input and a context."""

    type = "python"

    def get_actions(self) -> Mapping[str, Action]:
        """Every registered function that can be imported (the others are reported by system checks)."""
        found = {}
        for name in registered():
            try:
                found[name] = self.get_action(name)
            except exceptions.AutomateError:
                continue
        return found

    def get_action(self, name: str) -> Action:
        path = registered().get(name)
        if path is None:
            return super().get_action(name)  # raises UnknownAction
        if not ACTION_RE.match(name):
            raise exceptions.ImproperlyConfigured(
                f"AUTOMATE['PYTHON_ACTIONS'] name {name!r} must match {ACTION_RE.pattern}.", details={"action": name}
            )
        action = _action(name, load_action(name, path))
        problems = schema_problems(action.input_schema)
        if problems:
            raise exceptions.ImproperlyConfigured(
                f"AUTOMATE['PYTHON_ACTIONS'][{name!r}]: {problems[0]}.", details={"action": name}
            )
        return action

    def execute(self, action: str, params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
        params = self.validate(action, params)
        func = load_action(action, registered()[action])
        result = func(params, ctx)
        if not isinstance(result, StepResult):
            result = StepResult(output=result)
        try:
            json.dumps(result.output, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidOutput(f"python action {action!r} returned a value that is not JSON: {exc}.") from exc
        return result
