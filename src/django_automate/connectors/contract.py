"""Static checks of the connector contract, shared by the registry, system checks and ``testing``."""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any, cast

from django_automate import exceptions
from django_automate.connectors.base import Action, BaseConnector, Connector, UnknownAction
from django_automate.connectors.schema import json_path, schema_errors, schema_problems

TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ACTION_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: Actions named by an import path (the ``task`` connector's): dotted Python identifiers, 64 characters at most.
DOTTED_ACTION_RE = re.compile(r"^(?=.{1,64}$)[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")


def actions_of(connector: Connector) -> Mapping[str, Action]:
    """A connector's actions; ``get_actions()`` when it has one (their list may depend on settings)."""
    getter = getattr(connector, "get_actions", None)
    return getter() if callable(getter) else connector.actions


def describe_action(action: Action) -> dict[str, Any]:
    return {"name": action.name, "description": action.description, "input_schema": action.input_schema}


def instance_problems(connector: Any) -> list[str]:
    """What is wrong with a connector instance: its ``type``, ``execute`` and ``actions``."""
    problems = []
    type_ = getattr(connector, "type", None)
    if not isinstance(type_, str) or not TYPE_RE.match(type_):
        problems.append(f"type must be a string matching {TYPE_RE.pattern} (got {type_!r})")
    execute = getattr(connector, "execute", None)
    if not callable(execute):
        problems.append("it has no execute() method")
    elif getattr(type(connector), "execute", None) is BaseConnector.execute:
        problems.append("it does not override execute()")
    try:
        actions = actions_of(connector)
    except Exception as exc:  # a user's get_actions() may fail in any way; report it, do not crash checks
        return [*problems, f"its actions could not be read: {exc.__class__.__name__}: {exc}"]
    if not isinstance(actions, Mapping):
        return [*problems, "actions must be a dict of Action objects by name"]
    for name, action in actions.items():
        if not isinstance(action, Action):
            problems.append(f"action {name!r} must be an Action")
            continue
        if name != action.name or not isinstance(name, str) or not _valid_action_name(name):
            problems.append(f"action {name!r} must be keyed by its name, matching {ACTION_RE.pattern}")
        problems.extend(f"action {name!r}: {problem}" for problem in schema_problems(action.input_schema))
    return problems


def _valid_action_name(name: str) -> bool:
    return bool(ACTION_RE.match(name) or DOTTED_ACTION_RE.match(name))


def class_problems(obj: Any) -> tuple[Any, list[str]]:
    """Instantiate ``obj`` (a connector class) and check it; returns ``(instance or None, problems)``."""
    if not inspect.isclass(obj):
        return None, [f"{obj!r} is not a class"]
    try:
        instance = obj()
    except Exception as exc:  # any error of a user's __init__ is a contract problem, reported as such
        return None, [f"{obj.__qualname__}() failed: {exc.__class__.__name__}: {exc}"]
    return instance, instance_problems(instance)


def find_action(connector: Connector, name: str) -> Action:
    """The action ``name`` of ``connector``; raises ``UnknownAction`` (or a configuration error)."""
    getter = getattr(connector, "get_action", None)
    if callable(getter):
        return cast(Action, getter(name))
    action = actions_of(connector).get(name)
    if action is None:
        raise UnknownAction(f"Unknown action {name!r} for the {connector.type} connector.")
    return action


def step_problems(connector: Connector, action: Any, params: Any, path: str) -> list[dict[str, str]]:
    """Problems of a step's ``action`` and ``with`` (at ``path``) that are visible before rendering.

    Values that are templates, ``$logic`` objects or hold ``$secret:`` references are only
    known when the step runs; they are skipped here and validated by the connector then.
    """
    if not isinstance(action, str):
        return []
    try:
        spec = find_action(connector, action)
    except exceptions.AutomateError as exc:
        return [{"path": json_path(path, ["action"]), "message": exc.message}]
    if not isinstance(params, dict):
        return []
    return schema_errors(spec.input_schema, params, json_path(path, ["with"]), partial=True)
