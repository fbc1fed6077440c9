"""Structural validation of workflow definitions (SPEC §5), reporting every problem with its path."""

from __future__ import annotations

import re
from typing import Any

from django_automate import exceptions

STEP_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
STEP_KEYS = frozenset({"id", "connector", "action", "with", "if", "retry", "timeout_seconds", "on_failure"})
RETRY_KEYS = frozenset({"max_attempts", "backoff", "initial_seconds", "max_seconds", "jitter"})


def validate_definition(definition: Any) -> None:
    """Raise ValidationError listing each problem as ``{"path": ..., "message": ...}`` in ``details``."""
    problems: list[dict[str, str]] = []

    def problem(path: str, message: str) -> None:
        problems.append({"path": path, "message": message})

    if not isinstance(definition, dict):
        problem("$", "The definition must be an object.")
    elif not isinstance(definition.get("steps"), list) or not definition["steps"]:
        problem("$.steps", "steps must be a non-empty list.")
    else:
        unknown = sorted(set(definition) - {"steps", "description"})
        for key in unknown:
            problem(f"$.{key}", "Unknown key.")
        seen: set[str] = set()
        for index, step in enumerate(definition["steps"]):
            _validate_step(step, f"$.steps[{index}]", seen, problem)
    if problems:
        raise exceptions.ValidationError(
            f"The workflow definition is invalid: {problems[0]['path']}: {problems[0]['message']}",
            details={"errors": problems},
        )


def _validate_step(step: Any, path: str, seen: set[str], problem: Any) -> None:
    from django_automate.connectors.registry import get_connector

    if not isinstance(step, dict):
        problem(path, "A step must be an object.")
        return
    for key in sorted(set(step) - STEP_KEYS):
        problem(f"{path}.{key}", "Unknown key.")
    step_id = step.get("id")
    if not isinstance(step_id, str) or not STEP_ID.match(step_id):
        problem(f"{path}.id", "id must match ^[a-z][a-z0-9_]{0,63}$.")
    elif step_id in seen:
        problem(f"{path}.id", f"Duplicate step id {step_id!r}.")
    else:
        seen.add(step_id)
    connector_type, action = step.get("connector"), step.get("action")
    if not isinstance(connector_type, str):
        problem(f"{path}.connector", "connector is required.")
    else:
        try:
            connector = get_connector(connector_type)
        except exceptions.AutomateError as exc:
            problem(f"{path}.connector", exc.message)
        else:
            if action not in connector.actions:
                problem(f"{path}.action", f"Unknown action {action!r} for connector {connector_type!r}.")
    if "with" in step and not isinstance(step["with"], dict):
        problem(f"{path}.with", "with must be an object.")
    if step.get("on_failure", "fail_run") not in ("fail_run", "continue"):
        problem(f"{path}.on_failure", 'on_failure must be "fail_run" or "continue".')
    timeout = step.get("timeout_seconds", 30)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 3600:
        problem(f"{path}.timeout_seconds", "timeout_seconds must be a number in (0, 3600].")
    retry = step.get("retry", {})
    if not isinstance(retry, dict):
        problem(f"{path}.retry", "retry must be an object.")
    else:
        for key in sorted(set(retry) - RETRY_KEYS):
            problem(f"{path}.retry.{key}", "Unknown key.")
        attempts = retry.get("max_attempts", 1)
        if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 100:
            problem(f"{path}.retry.max_attempts", "max_attempts must be an integer from 1 to 100.")
    if "if" in step:
        from django_automate.rules.jsonlogic import validate_logic

        try:
            validate_logic(step["if"])
        except exceptions.AutomateError as exc:
            problem(f"{path}.if", exc.message)
