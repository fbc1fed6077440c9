"""JSON helpers: canonical form, hashing, and parsing with a nesting-depth limit."""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from django_automate import exceptions


def canonical_json(value: Any, *, allow_nan: bool = True) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan)


def sha256_hex(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def tree_depth(value: Any) -> int:
    """Maximum nesting of containers in a parsed JSON value, computed without recursion (linear time)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def nesting_depth(text: str) -> int:
    """Maximum nesting of a valid JSON text; ``sys.maxsize`` when it is too deep to even parse."""
    try:
        return tree_depth(json.loads(text))
    except RecursionError:
        return sys.maxsize


def loads_limited(raw: bytes, *, max_depth: int) -> Any:
    """Parse a JSON document, rejecting invalid UTF-8, invalid JSON and nesting deeper than ``max_depth``.

    Parsing comes first and the depth is measured on the tree: scanning the text for
    brackets needs a string-aware pass that pathological inputs make quadratic.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise exceptions.MalformedPayload("The body is not valid UTF-8.") from exc
    too_deep = exceptions.MalformedPayload(
        f"The JSON document is nested deeper than {max_depth} levels.", details={"max_depth": max_depth}
    )
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise too_deep from None
    except ValueError as exc:
        raise exceptions.MalformedPayload(f"The body is not valid JSON: {exc}") from exc
    if tree_depth(value) > max_depth:
        raise too_deep
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
