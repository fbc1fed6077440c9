"""Validation of workflow definitions (SPEC §5), reporting every problem with its JSON path.

Three passes: the value must be plain JSON within size limits; it must match the published
JSON Schema (:mod:`django_automate.workflows.schema`); then what a schema cannot say is
checked step by step: connectors and actions exist, step ids are unique, templates and
JSON Logic are valid and only read data that exists when the step runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from django_automate import exceptions
from django_automate.workflows import graph
from django_automate.workflows import schema as definition_schema
from django_automate.workflows.references import Problem, StepScope, check_logic, check_template_value, join

STEP_ID = re.compile(definition_schema.STEP_ID_PATTERN)
#: What the ``with`` and ``if`` of a ``for_each`` step read besides the run data.
ITEM_ROOTS = frozenset({"item", "item_index"})
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
    concurrency = definition.get("concurrency") if isinstance(definition, dict) else None
    if isinstance(concurrency, dict) and isinstance(concurrency.get("key"), str):
        # Rendered when the run is created: the event and the run, no step.
        check_template_value(
            concurrency["key"], "$.concurrency.key", StepScope(None, frozenset(), frozenset()), problem
        )
    steps = definition.get("steps") if isinstance(definition, dict) else None
    if isinstance(steps, list):
        readable = _graph_problems(steps, problem)
        ids = [step.get("id") if isinstance(step, dict) else None for step in steps]
        seen: set[str] = set()
        for index, step in enumerate(steps):
            later = frozenset(i for i in ids[index + 1 :] if isinstance(i, str))
            _validate_step(step, f"$.steps[{index}]", seen, problem, later=later, readable=readable)
    return sorted(problems, key=lambda p: _path_key(p["path"]))


def _graph_problems(steps: list[Any], problem: Problem) -> dict[str, frozenset[str]] | None:
    """Check ``needs`` (known ids, not the step itself, no cycle); what each step of a graph may read.

    None for a definition without ``needs`` (a step reads the steps before it), or when the
    graph is broken (its problems are reported here, not again as reads).
    """
    if not graph.is_graph({"steps": steps}) or not all(isinstance(s, dict) for s in steps):
        return None
    ids = {str(step.get("id")) for step in steps}
    broken = False
    for index, step in enumerate(steps):
        declared = step.get("needs")
        if not isinstance(declared, list):
            continue
        for position, needed in enumerate(declared):
            if not isinstance(needed, str):
                broken = True  # reported by the schema
            elif needed == step.get("id"):
                problem(f"$.steps[{index}].needs[{position}]", f"Step {needed!r} cannot need itself.")
                broken = True
            elif needed not in ids:
                problem(f"$.steps[{index}].needs[{position}]", f"There is no step {needed!r}.")
                broken = True
    needs = graph.needs_of(steps)
    loop = None if broken else graph.cycle(needs)
    if loop is not None:
        index = next(i for i, step in enumerate(steps) if step.get("id") == loop[0])
        problem(f"$.steps[{index}].needs", f"The steps' needs form a cycle: {' -> '.join(loop)}.")
        broken = True
    return None if broken else graph.ancestors(needs)


def _validate_step(
    step: Any,
    path: str,
    seen: set[str],
    problem: Problem,
    *,
    later: frozenset[str],
    readable: dict[str, frozenset[str]] | None = None,
) -> None:
    """Check one step; ``readable`` (a graph's) maps each step id to the steps it may read."""
    from django_automate.connectors.registry import get_connector

    if not isinstance(step, dict):
        return  # reported by the schema
    step_id = step.get("id")
    valid_id = isinstance(step_id, str) and STEP_ID.match(step_id) is not None
    scope = StepScope(step_id if valid_id else None, frozenset(seen), later)
    if readable is not None and valid_id:
        # In a graph a step reads its ancestors only: any other step may run at the same time or later.
        earlier = readable.get(str(step_id), frozenset())
        others = frozenset(readable) - earlier - {str(step_id)}
        scope = StepScope(str(step_id), earlier, others, graph=True)
    if valid_id and step_id in seen:
        problem(f"{path}.id", f"Duplicate step id {step_id!r}.")
    connector_type, action = step.get("connector"), step.get("action")
    waits = any(kind in step for kind in definition_schema.WAIT_KINDS)
    if isinstance(connector_type, str) and connector_type and not waits:  # a wait calls none
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
    if "for_each" in step:
        if isinstance(step["for_each"], (str, dict)):
            check_template_value(step["for_each"], f"{path}.for_each", scope, problem)
        scope = dataclasses.replace(scope, extra_roots=ITEM_ROOTS)  # with and if read the item
    if (
        "transaction" in step
        and not any(kind in step for kind in definition_schema.WAIT_KINDS)
        and connector_type != "python"
    ):
        problem(f"{path}.transaction", "transaction is only for python steps.")
    if isinstance(step.get("with"), dict):
        check_template_value(step["with"], f"{path}.with", scope, problem)
    if "if" in step:
        check_logic(step["if"], f"{path}.if", scope, problem)
    rate_limit = step.get("rate_limit")
    if isinstance(rate_limit, dict) and isinstance(rate_limit.get("key"), str):
        check_template_value(rate_limit["key"], f"{path}.rate_limit.key", scope, problem)
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
    _validate_waits(step, path, scope, problem)
    retry = step.get("retry")
    if isinstance(retry, dict):
        initial: Any = retry.get("initial_seconds")
        ceiling: Any = retry.get("max_seconds")
        if _number(initial) and _number(ceiling) and initial > ceiling:
            problem(f"{path}.retry.initial_seconds", "initial_seconds must not exceed max_seconds.")
    if valid_id:
        seen.add(str(step_id))


def _validate_waits(step: dict[str, Any], path: str, scope: StepScope, problem: Problem) -> None:
    """Templates and JSON Logic of ``wait_for`` and ``approval`` (their shape is the schema's)."""
    wait_for = step.get("wait_for")
    if isinstance(wait_for, dict):
        correlate = wait_for.get("correlate")
        if isinstance(correlate, dict) and "value" in correlate:
            check_template_value(correlate["value"], f"{path}.wait_for.correlate.value", scope, problem)
        if "if" in wait_for:
            # It reads the awaited event only (as a rule condition does), not the run's data.
            check_logic(wait_for["if"], f"{path}.wait_for.if", StepScope(None, frozenset(), frozenset()), problem)
    approval = step.get("approval")
    if isinstance(approval, dict) and isinstance(approval.get("title"), str):
        check_template_value(approval["title"], f"{path}.approval.title", scope, problem)


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
    if kind == "not" and error.absolute_path:
        problem(path, f"A {_wait_kind(error)} step has no {error.absolute_path[-1]}.")
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


def _wait_kind(error: SchemaError) -> str:
    """Which wait kind's rule a ``not`` error comes from (the ``allOf`` entry of its schema path)."""
    parts = list(error.absolute_schema_path)
    for index, part in enumerate(parts[:-1]):
        entry = parts[index + 1]
        if part == "allOf" and isinstance(entry, int):
            return definition_schema.WAIT_KINDS[entry]
    return "sleep"


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
    if kind == "dependentRequired" and isinstance(rule, dict):
        present = [key for key in rule if isinstance(error.instance, dict) and key in error.instance]
        return "; ".join(f"{key} needs {' and '.join(rule[key])}." for key in present) or str(error.message)
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
