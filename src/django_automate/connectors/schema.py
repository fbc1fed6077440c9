"""Validating step input against an action's JSON Schema, before and after templating.

When a workflow is published, some values are only known when the step runs: template
strings (``"{{ event.payload.id }}"``, ``"Order {{ … }}"``), ``{"$logic": …}`` objects and
strings holding ``$secret:`` references. :func:`schema_errors` with ``partial=True`` treats
each such value as *deferred*: every schema keyword accepts it, while everything around it
(required keys, unknown keys, literal values) is checked as usual. At run time the
connector validates the rendered input again, in full.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any, cast

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaValidationError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_MESSAGE = 300


class _Deferred:
    """Stands for a value that is only known when the step runs."""

    def __repr__(self) -> str:
        return "<deferred>"


DEFERRED = _Deferred()


def is_deferred(value: Any) -> bool:
    """Whether ``value`` is a template, a ``$logic`` object or holds a secret reference."""
    if isinstance(value, str):
        return "{{" in value or "$secret:" in value
    return isinstance(value, dict) and set(value) == {"$logic"}


def _defer(value: Any) -> Any:
    if is_deferred(value):
        return DEFERRED
    if isinstance(value, dict):
        return {k: _defer(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_defer(v) for v in value]
    return value


def _accepting_deferred(check: Callable[..., Iterator[SchemaValidationError]]) -> Callable[..., Any]:
    def wrapped(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[SchemaValidationError]:
        if instance is DEFERRED:
            return iter(())
        return check(validator, value, instance, schema)

    return wrapped


_PartialValidator = validators.extend(
    Draft202012Validator,
    {keyword: _accepting_deferred(check) for keyword, check in Draft202012Validator.VALIDATORS.items()},
)
_cache: dict[tuple[int, bool], tuple[dict[str, Any], Any]] = {}


def _validator(schema: dict[str, Any], partial: bool) -> Any:
    key = (id(schema), partial)
    cached = _cache.get(key)
    if cached is not None and cached[0] is schema:
        return cached[1]
    cls = _PartialValidator if partial else Draft202012Validator
    validator = cls(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    if len(_cache) > 512:
        _cache.clear()
    _cache[key] = (schema, validator)
    return validator


def json_path(base: str, parts: Any) -> str:
    """``$.steps[0].with.url`` style paths; keys that are not identifiers are quoted: ``['content-type']``."""
    path = base
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(str(part)):
            path += f".{part}"
        else:
            path += f"[{json.dumps(str(part))}]"
    return path


def schema_errors(
    schema: dict[str, Any], value: Any, base: str = "$", *, partial: bool = False
) -> list[dict[str, str]]:
    """Every problem of ``value`` as ``{"path", "message"}``; messages never quote the value itself."""
    validator = _validator(schema, partial)
    instance = _defer(value) if partial else value
    problems: list[dict[str, str]] = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        while error.validator in ("oneOf", "anyOf") and error.context:
            # The alternative that got furthest into the value explains the problem best.
            error = max(error.context, key=lambda e: len(e.absolute_path))
        path = json_path(base, error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [k for k in cast(list[str], error.validator_value) if k not in error.instance]
            problems.extend({"path": json_path(path, [k]), "message": f"{k} is required."} for k in missing)
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
            unknown = sorted(k for k in error.instance if k not in known)
            problems.extend({"path": json_path(path, [k]), "message": "Unknown key."} for k in unknown)
        else:
            problems.append({"path": path, "message": message(error)})
    return problems


def message(error: SchemaValidationError) -> str:
    """A message about ``error`` that names the rule, not the offending value (it may be a secret)."""
    kind, rule = error.validator, cast(Any, error.validator_value)
    texts: dict[str, Callable[[], str]] = {
        "type": lambda: "must be of type " + (" or ".join(rule) if isinstance(rule, list) else str(rule)) + ".",
        "enum": lambda: "must be one of " + ", ".join(json.dumps(v) for v in rule) + ".",
        "const": lambda: f"must be {json.dumps(rule)}.",
        "minLength": lambda: f"must have at least {rule} characters.",
        "maxLength": lambda: f"must have at most {rule} characters.",
        "minimum": lambda: f"must be at least {rule}.",
        "maximum": lambda: f"must be at most {rule}.",
        "exclusiveMinimum": lambda: f"must be greater than {rule}.",
        "exclusiveMaximum": lambda: f"must be less than {rule}.",
        "minItems": lambda: f"must have at least {rule} items.",
        "maxItems": lambda: f"must have at most {rule} items.",
        "minProperties": lambda: f"must have at least {rule} keys.",
        "maxProperties": lambda: f"must have at most {rule} keys.",
        "pattern": lambda: f"must match the pattern {rule}.",
        "format": lambda: f"must be a valid {rule}.",
        "uniqueItems": lambda: "must not contain duplicates.",
        "not": lambda: "is not allowed in this combination.",
        "oneOf": lambda: "must match exactly one of the allowed forms.",
        "anyOf": lambda: "must match one of the allowed forms.",
    }
    if kind in ("required", "additionalProperties", "dependentRequired", "unevaluatedProperties"):
        return error.message[:_MAX_MESSAGE]  # these name keys, never values
    text = texts.get(str(kind))
    return (text() if text else "is not allowed here.")[:_MAX_MESSAGE]


def schema_problems(schema: Any) -> list[str]:
    """Why ``schema`` is not a valid JSON Schema (draft 2020-12) for an action's input."""
    if not isinstance(schema, dict):
        return ["the input schema must be a dict"]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [f"invalid JSON Schema: {exc.message}"[:_MAX_MESSAGE]]
    if schema.get("type", "object") != "object":
        return ['the input schema must describe an object ("type": "object")']
    return []
