"""Dotted-path lookups into JSON-like data (dicts and lists only, never attributes)."""

from __future__ import annotations

from typing import Any

MISSING: Any = object()


def lookup(data: Any, path: str) -> Any:
    """Follow ``a.b.0.c`` through dicts and lists; return ``MISSING`` when any part is absent."""
    current = data
    for part in path.split(".") if path else []:
        if isinstance(current, dict):
            if part not in current:
                return MISSING
            current = current[part]
        elif isinstance(current, list):
            try:
                index = int(part)
            except ValueError:
                return MISSING
            if not -len(current) <= index < len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current
