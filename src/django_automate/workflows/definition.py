"""Validation of workflow definitions (SPEC §5), reporting every problem with its JSON path.

Three passes: the value must be plain JSON within size limits; it must match the published
JSON Schema (:mod:`django_automate.workflows.schema`); then what a schema cannot say is
checked step by step: connectors and actions exist, step ids are unique, templates and
JSON Logic are valid and only read data that exists when the step runs.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from django_automate import exceptions
from django_automate.workflows import schema as definition_schema
from django_automate.workflows.references import Problem, StepScope, check_logic, check_template_value, join

STEP_ID = re.compile(definition_schema.STEP_ID_PATTERN)
MAX_DEPTH = 64
MAX_VALUES = 100_000

_validator: Draft202012Validator | None = None


def validate_definition(definition: Any) -> None:
    """Raise ValidationError listing each problem as ``{"path": ..., "message": ...}`` in ``details["errors"]``."""
    problems = definition_problems(definition)
    if problems:
        raise exceptions.ValidationError(
            f"The workflow definition is invalid: {problems[0]['path']}: {problems[0]['message']}",
            details={"errors": problems},
        )


def definition_problems(definition: Any) -> list[dict[str, str]]:
    """Every problem of ``definition``, in document order (empty when it is valid)."""
    problems: list[dict[str, str]] = []

    def problem(path: str, message: str) -> None:
        entry = {"path": path, "message": message}
        if entry not in problems:
            problems.append(entry)

    _json_problems(definition, problem)
    if problems:
        return problems
    for error in _schema_validator().iter_errors(definition):
        _schema_problem(error, problem)
    steps = definition.get("steps") if isinstance(definition, dict) else None
    if isinstance(steps, list):
        ids = [step.get("id") if isinstance(step, dict) else None for step in steps]
        seen: set[str] = set()
        for index, step in enumerate(steps):
            later = frozenset(i for i in ids[index + 1 :] if isinstance(i, str))
            _validate_step(step, f"$.steps[{index}]", seen, problem, later=later)
    return sorted(problems, key=lambda p: _path_key(p["path"]))


def _validate_step(step: Any, path: str, seen: set[str], problem: Problem, *, later: frozenset[str]) -> None:
    from django_automate.connectors.registry import get_connector

    if not isinstance(step, dict):
        return  # reported by the schema
    step_id = step.get("id")
    valid_id = isinstance(step_id, str) and STEP_ID.match(step_id) is not None
    scope = StepScope(step_id if valid_id else None, frozenset(seen), later)
    if valid_id and step_id in seen:
        problem(f"{path}.id", f"Duplicate step id {step_id!r}.")
    connector_type, action = step.get("connector"), step.get("action")
    if isinstance(connector_type, str) and connector_type and "sleep" not in step:  # a sleep calls none
        try:
            connector = get_connector(connector_type)
        except exceptions.AutomateError as exc:
            problem(f"{path}.connector", exc.message)
        else:
            # The action must exist and `with` must match its input schema, as far as it is
            # known before rendering (templates, $logic and $secret values are checked at run time).
            from django_automate.connectors.contract import step_problems

            for entry in step_problems(connector, action, step.get("with", {}), path):
                problem(entry["path"], entry["message"])
    if "transaction" in step and "sleep" not in step and connector_type != "python":
        problem(f"{path}.transaction", "transaction is only for python steps.")
    if isinstance(step.get("with"), dict):
        check_template_value(step["with"], f"{path}.with", scope, problem)
    if "if" in step:
        check_logic(step["if"], f"{path}.if", scope, problem)
    sleep = step.get("sleep")
    if isinstance(sleep, dict) and len({"seconds", "until"} & set(sleep)) != 1:
        problem(f"{path}.sleep", "sleep takes exactly one of seconds or until.")  # as the schema's min/maxProperties
    if isinstance(sleep, dict) and isinstance(sleep.get("until"), str):
        until = sleep["until"]
        if "{{" in until:
            check_template_value(until, f"{path}.sleep.until", scope, problem)
        else:
            try:
                parse_until(until)
            except exceptions.ValidationError as exc:
                problem(f"{path}.sleep.until", exc.message)
    retry = step.get("retry")
    if isinstance(retry, dict):
        initial: Any = retry.get("initial_seconds")
        ceiling: Any = retry.get("max_seconds")
        if _number(initial) and _number(ceiling) and initial > ceiling:
            problem(f"{path}.retry.initial_seconds", "initial_seconds must not exceed max_seconds.")
    if valid_id:
        seen.add(str(step_id))


def parse_until(value: Any, field: str = "sleep.until") -> dt.datetime:
    """An aware datetime from an ISO 8601 string with a UTC offset (``Z`` allowed); ValidationError otherwise.

    A sleep's ``until`` is checked with it when written literally, and when rendered at run time.
    """
    parsed: dt.datetime | None = None
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            parsed = None
    if parsed is None or parsed.utcoffset() is None:
        shown = repr(value) if isinstance(value, str) and len(value) <= 64 else f"a {type(value).__name__}"
        raise exceptions.ValidationError(
            f"{field} must be an ISO 8601 date and time with a UTC offset (e.g. 2026-12-24T18:00:00+01:00);"
            f" got {shown}.",
            details={"field": field},
        )
    return parsed


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _schema_validator() -> Draft202012Validator:
    global _validator
    if _validator is None:
        _validator = Draft202012Validator(definition_schema.schema())
    return _validator


def _schema_problem(error: SchemaError, problem: Problem) -> None:
    """Turn a schema error into problems that name the key or value at fault, never quoting values."""
    path = "$"
    for part in error.absolute_path:
        path = join(path, part)
    kind, instance = error.validator, error.instance
    rule: Any = error.validator_value
    node: Any = error.schema
    if kind == "not" and error.absolute_path and error.absolute_path[-1] in definition_schema.NOT_IN_SLEEP:
        problem(path, f"A sleep step has no {error.absolute_path[-1]}.")
    elif kind == "additionalProperties" and isinstance(instance, dict):
        known = set(node.get("properties", {}))
        for key in sorted(k for k in instance if k not in known):
            problem(join(path, key), "Unknown key.")
    elif kind == "required" and isinstance(instance, dict):
        for key in rule:
            if key not in instance:
                problem(join(path, key), f"{key} is required.")
    else:
        problem(path, _schema_message(error))


def _schema_message(error: SchemaError) -> str:
    kind = error.validator
    rule: Any = error.validator_value
    field = str(error.absolute_path[-1]) if error.absolute_path else "The definition"
    if isinstance(field, str) and field.isdigit():
        field = "This item"
    texts = {
        "type": f"{field} must be of type {' or '.join(rule) if isinstance(rule, list) else rule}.",
        "enum": f"{field} must be one of: {', '.join(str(v) for v in rule)}." if isinstance(rule, list) else "",
        "pattern": f"{field} must match {rule}.",
        "minLength": f"{field} must not be empty." if rule == 1 else f"{field} needs at least {rule} characters.",
        "maxLength": f"{field} must have at most {rule} characters.",
        "minItems": f"{field} must have at least {rule} item{'s' if rule != 1 else ''}.",
        "maxItems": f"{field} must have at most {rule} items.",
        "minimum": f"{field} must be at least {rule}.",
        "maximum": f"{field} must be at most {rule}.",
        "exclusiveMinimum": f"{field} must be greater than {rule}.",
        "exclusiveMaximum": f"{field} must be less than {rule}.",
    }
    if field == "sleep" and kind in ("minProperties", "maxProperties"):
        return "sleep takes exactly one of seconds or until."
    return texts.get(str(kind)) or f"{field} is not valid ({kind})."


def _json_problems(value: Any, problem: Problem) -> None:
    """Report values that are not plain JSON, nesting deeper than MAX_DEPTH and oversized definitions."""
    stack: list[tuple[Any, str, int]] = [(value, "$", 0)]
    count = 0
    while stack:
        node, path, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            problem("$", f"The definition has more than {MAX_VALUES} values.")
            return
        if isinstance(node, dict):
            if depth >= MAX_DEPTH:
                problem(path, f"Nested deeper than {MAX_DEPTH} levels.")
                continue
            for key, item in node.items():
                if not isinstance(key, str):
                    problem(path, "Object keys must be strings.")
                    break
                stack.append((item, join(path, key), depth + 1))
        elif isinstance(node, list):
            if depth >= MAX_DEPTH:
                problem(path, f"Nested deeper than {MAX_DEPTH} levels.")
                continue
            stack.extend((item, join(path, index), depth + 1) for index, item in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            problem(path, "NaN and infinite numbers are not JSON.")
        elif node is not None and not isinstance(node, (str, int, float, bool)):
            problem(path, f"A {type(node).__name__} is not a JSON value.")


def _path_key(path: str) -> list[tuple[int, Any]]:
    """Sort key putting ``$.steps[2]`` before ``$.steps[10]`` and a parent before its children."""
    parts = re.findall(r"\[(\d+)\]|\.([A-Za-z_][A-Za-z0-9_]*)|\[(\"(?:[^\"\\]|\\.)*\")\]", path)
    return [(0, int(index)) if index else (1, name or quoted) for index, name, quoted in parts]
