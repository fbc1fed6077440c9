"""Validating a schedule's fields before it is saved (API, admin, your own code)."""

from __future__ import annotations

import json
import re
from typing import Any

from django_automate import exceptions
from django_automate.ingestion.schedules.ticks import Cadence
from django_automate.internal.jsonutil import nesting_depth

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
CATCH_UP = ("run_once", "skip")
#: Key of the event payload that carries the tick; a schedule's own payload cannot use it.
RESERVED_KEY = "schedule"
MAX_PAYLOAD_DEPTH = 32


def validate_schedule(
    *,
    name: str,
    cron: str | None = "",
    interval_seconds: int | None = None,
    timezone: str = "UTC",
    payload: Any = None,
    catch_up: str = "run_once",
) -> Cadence:
    """Return the schedule's :class:`Cadence`, or raise ValidationError listing every problem in ``details["errors"]``.

    Each problem is ``{"field": ..., "message": ...}``.
    """
    errors: list[dict[str, str]] = []
    if not isinstance(name, str) or not NAME.match(name):
        errors.append(
            {
                "field": "name",
                "message": "name must be 1-100 letters, digits, '_', '.' or '-', starting with one letter or digit.",
            }
        )
    if catch_up not in CATCH_UP:
        errors.append({"field": "catch_up", "message": 'catch_up must be "run_once" or "skip".'})
    errors.extend(_payload_errors(payload))
    cadence: Cadence | None = None
    try:
        cadence = Cadence.build(cron or None, interval_seconds, timezone)
    except exceptions.ValidationError as exc:
        errors.append({"field": str(exc.details.get("field", "cron")), "message": exc.message})
    if errors or cadence is None:
        raise exceptions.ValidationError(
            f"The schedule is invalid: {errors[0]['field']}: {errors[0]['message']}", details={"errors": errors}
        )
    return cadence


def _payload_errors(payload: Any) -> list[dict[str, str]]:
    if payload is None:
        return []
    if not isinstance(payload, dict):
        return [{"field": "payload", "message": "payload must be a JSON object."}]
    if RESERVED_KEY in payload:
        return [{"field": "payload", "message": f"payload cannot have the key {RESERVED_KEY!r}: ticks set it."}]
    try:
        text = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return [{"field": "payload", "message": "payload must be JSON."}]
    if nesting_depth(text) > MAX_PAYLOAD_DEPTH:
        return [{"field": "payload", "message": f"payload is nested deeper than {MAX_PAYLOAD_DEPTH} levels."}]
    return []
