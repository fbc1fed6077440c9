"""JSON helpers: canonical form, hashing, and parsing with a nesting-depth limit."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from django_automate import exceptions

# Strings (so brackets inside them do not count) or a bracket.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def nesting_depth(text: str) -> int:
    """Maximum bracket nesting of a JSON text, computed without recursion."""
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def loads_limited(raw: bytes, *, max_depth: int) -> Any:
    """Parse a JSON document, rejecting invalid UTF-8, invalid JSON and nesting deeper than ``max_depth``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise exceptions.MalformedPayload("The body is not valid UTF-8.") from exc
    if nesting_depth(text) > max_depth:
        raise exceptions.MalformedPayload(
            f"The JSON document is nested deeper than {max_depth} levels.", details={"max_depth": max_depth}
        )
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise exceptions.MalformedPayload(f"The body is not valid JSON: {exc}") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
