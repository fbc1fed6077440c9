"""Content type and JSON parsing of a verified body, with limits that keep storage safe.

Rejected as ``400 malformed_payload``: invalid UTF-8 or JSON, ``NaN``/``Infinity`` and
numbers that overflow to them (``1e400``), numbers longer than ``MAX_NUMBER_DIGITS``
characters (their conversion is quadratic), nesting deeper than ``JSON_MAX_DEPTH``, and
strings holding NUL or unpaired surrogates (no database stores them in JSON), and a bare
``null`` document.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django_automate import exceptions

MAX_NUMBER_DIGITS = 4300
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_content_type(value: str | None) -> None:
    """``application/json`` or ``*/*+json``, UTF-8 (absent means JSON); else ``415``."""
    if value is None or not value.strip():
        return
    media_type, *params = (part.strip() for part in value.split(";"))
    media_type = media_type.lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise exceptions.UnsupportedMediaType(
            f"Content type {media_type!r} is not supported; send application/json.",
            details={"content_type": media_type[:100]},
        )
    for param in params:
        name, _, charset = param.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise exceptions.UnsupportedMediaType(
                "JSON bodies must be UTF-8.", details={"charset": charset.strip()[:40]}
            )


def parse_json(body: bytes, *, max_depth: int) -> Any:
    """Parse ``body`` as a JSON document that every supported database can store."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise exceptions.MalformedPayload("The body is not valid UTF-8.") from exc
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float, parse_int=_parse_int)
    except RecursionError as exc:
        raise _too_deep(max_depth) from exc
    except ValueError as exc:
        raise exceptions.MalformedPayload(f"The body is not valid JSON: {exc}") from exc
    if value is None:
        raise exceptions.MalformedPayload("A JSON null body carries no event.")
    _check_tree(value, max_depth)
    return value


def _check_tree(value: Any, max_depth: int) -> None:
    """Depth and string checks in one pass, without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > max_depth:
                raise _too_deep(max_depth)
            for key, item in node.items():
                _check_string(key)
                stack.append((item, depth + 1))
        elif isinstance(node, list):
            if depth > max_depth:
                raise _too_deep(max_depth)
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str):
            _check_string(node)


def _check_string(text: str) -> None:
    if _UNSTORABLE.search(text):
        raise exceptions.MalformedPayload("JSON strings must not contain NUL characters or unpaired surrogates.")


def _too_deep(max_depth: int) -> exceptions.MalformedPayload:
    return exceptions.MalformedPayload(
        f"The JSON document is nested deeper than {max_depth} levels.", details={"max_depth": max_depth}
    )


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number is longer than {MAX_NUMBER_DIGITS} characters")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number is longer than {MAX_NUMBER_DIGITS} characters")
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
