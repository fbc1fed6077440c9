"""Iterative structural checks run before compiling: JSON types, nesting depth and size.

Iterative on purpose: a hostile rule nested 10,000 levels deep must fail fast with
:class:`JsonLogicLimitExceeded`, never with ``RecursionError``.
"""

from __future__ import annotations

import math
from typing import Any

from django_automate.rules.jsonlogic.errors import JsonLogicLimitExceeded, JsonLogicValidationError, format_path
from django_automate.rules.jsonlogic.limits import Limits

_SCALARS = (str, int, bool, type(None))


def check_structure(logic: Any, limits: Limits) -> int:
    """Check that ``logic`` is plain JSON within ``limits``; return its number of JSON values."""
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(logic, 1, ())]
    count = 0
    while stack:
        node, depth, path = stack.pop()
        count += 1
        kind = type(node)
        if kind is dict or kind is list:
            if depth > limits.max_depth:
                raise JsonLogicLimitExceeded(
                    f"The rule is nested deeper than {limits.max_depth} levels.",
                    path=format_path(path),
                    limit="max_depth",
                )
            if count + len(node) > limits.max_nodes:
                raise JsonLogicLimitExceeded(
                    f"The rule has more than {limits.max_nodes} values.", path=format_path(path), limit="max_nodes"
                )
            if kind is dict:
                for key, value in node.items():
                    if type(key) is not str:
                        raise JsonLogicValidationError(
                            f"Object keys must be strings, not {type(key).__name__}.", path=format_path(path)
                        )
                    stack.append((value, depth + 1, (*path, key)))
            else:
                stack.extend((value, depth + 1, (*path, index)) for index, value in enumerate(node))
        elif kind is float:
            if not math.isfinite(node):
                raise JsonLogicValidationError(f"{node!r} is not a JSON number.", path=format_path(path))
        elif kind is str:
            if len(node) > limits.max_string:
                raise JsonLogicLimitExceeded(
                    f"A string in the rule is longer than {limits.max_string} characters.",
                    path=format_path(path),
                    limit="max_string",
                )
        elif kind not in _SCALARS:
            raise JsonLogicValidationError(f"A {kind.__name__} is not a JSON value.", path=format_path(path))
    return count
