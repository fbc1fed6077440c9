"""Entry points besides :func:`compile_logic`: cached :func:`evaluate`, :func:`validate_logic`, :func:`explain`."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from django_automate.rules.jsonlogic.compiler import build, compile_logic
from django_automate.rules.jsonlogic.errors import (
    JsonLogicEvaluationError,
    JsonLogicLimitExceeded,
    JsonLogicValidationError,
)
from django_automate.rules.jsonlogic.limits import DEFAULT_LIMITS, Limits
from django_automate.rules.jsonlogic.nodes import Path, is_literal, is_operation

#: How many compiled rules :func:`evaluate` keeps (least recently used are dropped).
CACHE_SIZE = 1024
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def validate_logic(logic: Any, *, limits: Limits | None = None) -> None:
    """Raise :class:`JsonLogicValidationError` (with ``.path``) if ``logic`` is not a valid rule.

    Checks JSON types, depth and size (:class:`JsonLogicLimitExceeded`), operator names and
    arity. Use it when a rule is saved; it compiles the rule, so it costs what compiling does.
    """
    build(logic, limits or DEFAULT_LIMITS)


def canonical(logic: Any) -> str:
    """The canonical JSON text of a rule: the cache key of :func:`evaluate`."""
    try:
        return _ENCODER.encode(logic)
    except (TypeError, ValueError, RecursionError):
        validate_logic(logic)  # raises the precise error
        raise JsonLogicValidationError("The rule is not JSON.") from None


@lru_cache(maxsize=CACHE_SIZE)
def _compiled(key: str) -> Any:
    return compile_logic(json.loads(key))


def evaluate(logic: Any, data: Any = None) -> Any:
    """Evaluate ``logic`` against ``data``, compiling it once per distinct rule (bounded LRU cache)."""
    return _compiled(canonical(logic))(data)


def explain(logic: Any, data: Any = None, *, limits: Limits | None = None) -> dict[str, Any]:
    """Evaluate ``logic`` and return the tree of every sub-expression with its value.

    Each node is ``{"op": name, "args": [...], "value": ...}`` (arrays ``{"array": [...], "value": ...}``,
    literals ``{"value": ...}``). A node evaluated several times (inside an iterator) has
    ``"evaluations": n`` and its last value; a node not evaluated (short-circuit) is
    ``{"skipped": true}``; a node that failed has ``"error": {"type", "message"}`` instead of a value.
    Validation errors are raised, evaluation errors are reported in the tree.
    """
    active = limits or DEFAULT_LIMITS
    trace: dict[Path, list[Any]] = {}
    root, _ = build(logic, active, trace=trace)
    try:
        root(data, active.new_context())
    except (JsonLogicEvaluationError, JsonLogicLimitExceeded):
        pass  # recorded in the trace
    return _tree(logic, (), trace)


def _tree(node: Any, path: Path, trace: dict[Any, Any]) -> dict[str, Any]:
    entry = trace.get(path)
    result: dict[str, Any] = {}
    if is_operation(node):
        ((name, args),) = node.items()
        result["op"] = name
        if name != "preserve":
            items = args if type(args) is list else [args]
            prefix = (*path, name)
            if type(args) is list:
                result["args"] = [_tree(item, (*prefix, index), trace) for index, item in enumerate(items)]
            else:
                result["args"] = [_tree(args, prefix, trace)]
    elif type(node) is list and not is_literal(node):
        result["array"] = [_tree(item, (*path, index), trace) for index, item in enumerate(node)]
    if entry is None:
        result["skipped"] = True
        return result
    count, value, error = entry
    if error is not None:
        result["error"] = {"type": getattr(error, "type", error.code), "message": error.message}
    else:
        result["value"] = value
    if count > 1:
        result["evaluations"] = count
    return result
