"""Typed, lazy accessors for the ``AUTOMATE`` settings dict.

Each accessor reads ``settings.AUTOMATE`` at call time, so ``override_settings`` works.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "EXECUTION_BACKEND": "database",
    "CONNECTORS": {},
    "PYTHON_ACTIONS": {},
    "SECRETS": {},
    "ENCRYPTION_KEYS": [],
    "TRACK_MODELS": [],
    "IDEMPOTENCY_RETENTION_HOURS": 72,
    "LEASE_SECONDS": 60,
    "HEARTBEAT_SECONDS": 15,
    "POLL_INTERVAL_SECONDS": 1.0,
    "WORKER_BATCH_SIZE": 10,
    "DEFAULT_MAX_ATTEMPTS": 3,
    "DEFAULT_STEP_TIMEOUT_SECONDS": 30,
    "JSON_MAX_DEPTH": 64,
    "HTTP_ALLOW_PRIVATE_NETWORKS": False,
    "HTTP_MAX_RESPONSE_BYTES": 1024 * 1024,
    "REDACT_KEYS": [],
}

BACKENDS = ("database", "inline")


def get(name: str) -> Any:
    """Return one ``AUTOMATE`` setting, falling back to its documented default."""
    user = getattr(settings, "AUTOMATE", None) or {}
    if name in user:
        return user[name]
    return DEFAULTS[name]


def execution_backend() -> str:
    return str(get("EXECUTION_BACKEND"))


def lease_seconds() -> float:
    return float(get("LEASE_SECONDS"))


def heartbeat_seconds() -> float:
    return float(get("HEARTBEAT_SECONDS"))


def poll_interval() -> float:
    return float(get("POLL_INTERVAL_SECONDS"))


def worker_batch_size() -> int:
    return int(get("WORKER_BATCH_SIZE"))


def default_max_attempts() -> int:
    return int(get("DEFAULT_MAX_ATTEMPTS"))


def default_step_timeout() -> float:
    return float(get("DEFAULT_STEP_TIMEOUT_SECONDS"))


def json_max_depth() -> int:
    return int(get("JSON_MAX_DEPTH"))


def idempotency_retention_hours() -> int:
    return int(get("IDEMPOTENCY_RETENTION_HOURS"))


def http_allow_private_networks() -> bool:
    return bool(get("HTTP_ALLOW_PRIVATE_NETWORKS"))


def http_max_response_bytes() -> int:
    return int(get("HTTP_MAX_RESPONSE_BYTES"))


def extra_redact_keys() -> list[str]:
    return [str(k) for k in get("REDACT_KEYS")]


def connectors() -> dict[str, str]:
    return dict(get("CONNECTORS"))


def python_actions() -> dict[str, str]:
    return dict(get("PYTHON_ACTIONS"))


def settings_secrets() -> dict[str, str]:
    return dict(get("SECRETS"))


def get_user_settings() -> dict[str, Any]:
    """The user's ``AUTOMATE`` dict as given (without defaults)."""
    return dict(getattr(settings, "AUTOMATE", None) or {})
