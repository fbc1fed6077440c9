"""Errors raised by the JSON Logic engine; all carry the ``validation_error`` code."""

from __future__ import annotations

from typing import Any

from django_automate.exceptions import ValidationError

#: Error types used by the engine itself; ``throw`` may raise any other.
INVALID_ARGUMENTS = "Invalid Arguments"
NOT_A_NUMBER = "NaN"
UNKNOWN_OPERATOR = "Unknown Operator"


def format_path(path: tuple[str | int, ...]) -> str:
    """Render a node path as an RFC 6901 JSON Pointer (``/and/1/==/0``; the root is ``""``)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


class JsonLogicError(ValidationError):
    """The JSON Logic rule is not valid or could not be evaluated."""


class JsonLogicValidationError(JsonLogicError):
    """The JSON Logic rule is not valid."""

    def __init__(self, message: str | None = None, *, path: str = "", details: dict[str, Any] | None = None) -> None:
        self.path = path
        where = f" (at {path})" if path else " (at the root)"
        super().__init__((message or (self.__doc__ or "").strip()) + where, details={"path": path, **(details or {})})


class JsonLogicEvaluationError(JsonLogicError):
    """The JSON Logic rule failed while it was evaluated.

    ``type`` names the failure (``"NaN"``, ``"Invalid Arguments"`` or what a ``throw`` raised) and
    ``value`` is the error object a ``try`` fallback sees as its data (``{"type": ...}``).
    """

    def __init__(self, type: str, message: str | None = None, *, value: Any = None) -> None:
        self.type = type
        self.value: Any = {"type": type} if value is None else value
        text = f"{type}: {message}" if message else type
        super().__init__(text, details={"type": type})


class JsonLogicLimitExceeded(JsonLogicError):
    """The JSON Logic rule exceeded a depth, size or work limit."""

    def __init__(self, message: str | None = None, *, path: str = "", limit: str = "") -> None:
        self.path = path
        self.limit = limit
        super().__init__(message, details={"path": path, "limit": limit})


def invalid_arguments(message: str) -> JsonLogicEvaluationError:
    """Build the runtime error for arguments only known to be wrong once evaluated."""
    return JsonLogicEvaluationError(INVALID_ARGUMENTS, message)


def not_a_number(value: Any) -> JsonLogicEvaluationError:
    """Build the error for a value that does not convert to a number (JavaScript ``NaN``).

    The message names the value's JSON type, never the value: it may come from a redacted field.
    """
    kinds = {str: "a string", bool: "a boolean", list: "an array", dict: "an object", type(None): "null"}
    return JsonLogicEvaluationError(NOT_A_NUMBER, f"{kinds.get(type(value), 'the value')} is not a number")


def thrown(value: Any) -> JsonLogicEvaluationError:
    """Build the error raised by the ``throw`` operator for ``value``."""
    if isinstance(value, dict):
        kind = value.get("type")
        return JsonLogicEvaluationError(kind if isinstance(kind, str) else "Error", "thrown by the rule", value=value)
    if isinstance(value, str):
        return JsonLogicEvaluationError(value, "thrown by the rule")
    return JsonLogicEvaluationError(repr(value), "thrown by the rule", value={"type": value})
