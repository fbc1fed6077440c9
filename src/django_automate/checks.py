"""System checks for the ``AUTOMATE`` settings (ids ``automate.E0xx`` / ``automate.W0xx``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from django_automate import conf


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    user = getattr(settings, "AUTOMATE", {})
    if not isinstance(user, dict):
        return [Error("AUTOMATE must be a dict.", hint="Set AUTOMATE = {...} in settings.", id="automate.E001")]
    unknown = sorted(set(user) - set(conf.DEFAULTS))
    if unknown:
        errors.append(
            Error(
                f"Unknown AUTOMATE setting(s): {', '.join(unknown)}.",
                hint=f"Valid keys: {', '.join(sorted(conf.DEFAULTS))}.",
                id="automate.E002",
            )
        )
    backend = user.get("EXECUTION_BACKEND", conf.DEFAULTS["EXECUTION_BACKEND"])
    if backend not in conf.BACKENDS:
        errors.append(
            Error(
                f"AUTOMATE['EXECUTION_BACKEND'] is {backend!r}.",
                hint=f"Use one of: {', '.join(conf.BACKENDS)}.",
                id="automate.E003",
            )
        )
    for key in ("LEASE_SECONDS", "HEARTBEAT_SECONDS", "POLL_INTERVAL_SECONDS", "IDEMPOTENCY_RETENTION_HOURS"):
        value = user.get(key, conf.DEFAULTS[key])
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            errors.append(Error(f"AUTOMATE[{key!r}] must be a positive number.", id="automate.E004"))
    if errors:
        return errors
    if conf.idempotency_retention_hours() < 24:
        errors.append(Error("AUTOMATE['IDEMPOTENCY_RETENTION_HOURS'] must be at least 24.", id="automate.E005"))
    if conf.heartbeat_seconds() >= conf.lease_seconds():
        errors.append(
            Error(
                "AUTOMATE['HEARTBEAT_SECONDS'] must be shorter than AUTOMATE['LEASE_SECONDS'].",
                hint="A heartbeat every third of the lease is a good choice.",
                id="automate.E006",
            )
        )
    return errors
