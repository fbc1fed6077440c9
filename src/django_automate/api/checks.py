"""System checks for the REST API settings (ids ``automate.E050`` to ``automate.E059``)."""

from __future__ import annotations

import re
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error

from django_automate import conf, exceptions

RATE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_api() -> list[CheckMessage]:
    user = getattr(settings, "AUTOMATE", None)
    if not isinstance(user, dict):
        return []  # automate.E001 reports it
    errors: list[CheckMessage] = []
    if user.get("TENANT_RESOLVER") is not None:
        try:
            resolver = conf.tenant_resolver()
        except exceptions.ImproperlyConfigured as exc:
            errors.append(Error(exc.message, id="automate.E050"))
        else:
            if not callable(resolver):
                errors.append(
                    Error(
                        "AUTOMATE['TENANT_RESOLVER'] must name a callable(request) -> str.",
                        hint='e.g. "myproject.tenancy.tenant_for_request".',
                        id="automate.E050",
                    )
                )
    page, most = user.get("API_PAGE_SIZE", 50), user.get("API_MAX_PAGE_SIZE", 500)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (page, most)) or page > most:
        errors.append(
            Error(
                "AUTOMATE['API_PAGE_SIZE'] and ['API_MAX_PAGE_SIZE'] must be positive integers, the first "
                "not larger than the second.",
                id="automate.E051",
            )
        )
    for key in ("API_THROTTLE_RATE", "API_AUTH_FAILURE_RATE"):
        rate = user.get(key)
        if rate is not None and not (isinstance(rate, str) and RATE.match(rate)):
            errors.append(
                Error(
                    f"AUTOMATE[{key!r}] is {rate!r}.",
                    hint='Use None (no throttling) or "<requests>/<second|minute|hour|day>", e.g. "600/minute".',
                    id="automate.E052",
                )
            )
    safety = user.get("API_CURSOR_SAFETY_SECONDS", 1.0)
    if not _number(safety) or safety < 0:
        errors.append(Error("AUTOMATE['API_CURSOR_SAFETY_SECONDS'] must be a number >= 0.", id="automate.E053"))
    body = user.get("API_MAX_BODY_BYTES", 1)
    if not isinstance(body, int) or isinstance(body, bool) or body <= 0:
        errors.append(Error("AUTOMATE['API_MAX_BODY_BYTES'] must be a positive integer.", id="automate.E054"))
    if not apps.is_installed("rest_framework"):
        errors.append(
            Error(
                "The REST API needs Django REST framework's app.",
                hint='Add "rest_framework" to INSTALLED_APPS.',
                id="automate.E055",
            )
        )
    return errors
