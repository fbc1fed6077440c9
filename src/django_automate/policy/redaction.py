"""Key-based redaction and masking of resolved secret values: one place, used everywhere."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django_automate import conf

REDACTED = "[REDACTED]"
DEFAULT_KEYS = (
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "authorization",
    "cookie",
    "session",
    "credential",
    "signature",
    "private",
)


def sensitive_keys() -> tuple[str, ...]:
    return DEFAULT_KEYS + tuple(k.lower() for k in conf.extra_redact_keys())


def is_sensitive(key: str, keys: Iterable[str] | None = None) -> bool:
    lowered = key.lower()
    return any(fragment in lowered for fragment in (keys or sensitive_keys()))


def redact(value: Any, keys: tuple[str, ...] | None = None) -> Any:
    """Replace values under sensitive keys (case-insensitive substring match) with ``[REDACTED]``."""
    keys = keys or sensitive_keys()
    if isinstance(value, dict):
        return {k: REDACTED if is_sensitive(str(k), keys) else redact(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, keys) for v in value]
    return value


def mask_values(value: Any, secrets: Iterable[str]) -> Any:
    """Replace every occurrence of a resolved secret value inside strings with ``[REDACTED]``."""
    needles = sorted((s for s in secrets if s), key=len, reverse=True)
    if not needles:
        return value
    if isinstance(value, str):
        for needle in needles:
            value = value.replace(needle, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: mask_values(v, needles) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_values(v, needles) for v in value]
    return value
