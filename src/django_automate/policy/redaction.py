"""Key-based redaction and masking of resolved secret values: one place, used everywhere.

Used by the logging filter, the admin, the API serializers and the stored step input/output.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django_automate import conf
from django_automate.policy import masking

REDACTED = masking.REDACTED
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
    if isinstance(value, tuple):
        return tuple(redact(v, keys) for v in value)
    return value


def mask_values(value: Any, secrets: Iterable[str]) -> Any:
    """Replace every resolved secret value inside strings (and keys) with ``[REDACTED]``.

    Not only the raw value: its base64, URL-encoded, JSON-escaped and hex forms too, in any
    letter case (see :mod:`django_automate.policy.masking`).
    """
    return masking.mask(value, secrets)


def present(value: Any, *, raw: bool = False) -> Any:
    """What admin and API show of a payload: redacted, unless ``raw`` (the caller checked the permission)."""
    return value if raw else redact(value)
