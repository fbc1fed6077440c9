"""The event filter of a backfill: type, endpoint, received_at range, status and JSON Logic on the event.

The JSON Logic condition is validated like a rule's and sees the same data (``event.payload``,
``event.headers``, …). A caller without ``automate.view_raw_payload`` may not read sensitive keys
with it, exactly as ``POST rules/test/`` refuses: otherwise the number of events a filter selects
would answer yes/no questions about redacted values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from django_automate import exceptions
from django_automate.models import Event, EventStatus, WebhookEndpoint
from django_automate.policy import raw
from django_automate.rules import reads
from django_automate.rules.jsonlogic import JsonLogicError, compile_logic, truthy, validate_logic
from django_automate.rules.matching import event_data

FIELDS = ("type", "endpoint", "received_from", "received_until", "status", "where")
#: The largest UTC offset every supported database accepts (PostgreSQL's).
_MAX_OFFSET = dt.timedelta(hours=15, minutes=59)


@dataclass(frozen=True)
class EventFilter:
    """Which events of a tenant a backfill replays; ``None`` (or a missing key) selects any."""

    type: str | None = None
    endpoint: str | None = None  # webhook endpoint slug
    received_from: dt.datetime | None = None  # inclusive
    received_until: dt.datetime | None = None  # exclusive
    status: str | None = None
    where: Any = None  # JSON Logic on the event data

    def to_json(self) -> dict[str, Any]:
        """The filter as stored on a Backfill and shown back (times in ISO 8601)."""
        values: dict[str, Any] = {
            "type": self.type,
            "endpoint": self.endpoint,
            "received_from": self.received_from.isoformat() if self.received_from else None,
            "received_until": self.received_until.isoformat() if self.received_until else None,
            "status": self.status,
            "where": self.where,
        }
        return {key: value for key, value in values.items() if value is not None}


def parse(data: Any) -> EventFilter:
    """Validate outside input into an :class:`EventFilter`; ValidationError names the field and a ``reason``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _invalid("The filter must be an object.", "filter", "not_an_object")
    unknown = sorted(str(key) for key in data if key not in FIELDS)
    if unknown:
        raise _invalid(f"Unknown filter field {unknown[0]!r}; use {', '.join(FIELDS)}.", unknown[0], "unknown_field")
    for name in ("type", "endpoint", "status"):
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 255):
            raise _invalid(f"{name} must be a non-empty string of at most 255 characters.", name, "invalid_string")
    if data.get("status") is not None and data["status"] not in EventStatus.values:
        raise _invalid(f"status must be one of {', '.join(EventStatus.values)}.", "status", "invalid_choice")
    since, until = _time(data, "received_from"), _time(data, "received_until")
    if since is not None and until is not None and since >= until:
        raise _invalid("received_from must be before received_until.", "received_until", "empty_range")
    where = data.get("where")
    if where is not None:
        try:
            validate_logic(where)
        except JsonLogicError as exc:
            exc.details.setdefault("field", "where")
            exc.details.setdefault("reason", "invalid_condition")
            raise
    return EventFilter(data.get("type"), data.get("endpoint"), since, until, data.get("status"), where)


def from_json(data: dict[str, Any]) -> EventFilter:
    """A stored filter (validated when it was stored)."""
    return parse(data)


class Selection:
    """A filter applied to one tenant's events, for a caller who may (``redacted=False``) or may not see raw values.

    Build it with :func:`select`, which refuses, before anything is read, a condition that reads
    a sensitive key by name; :meth:`matches` refuses (PermissionDenied) an event whose sensitive
    values the condition would read below a path it names (``event.payload`` holding a password).
    """

    def __init__(self, spec: EventFilter, tenant: str, *, redacted: bool) -> None:
        self.spec, self.tenant, self.redacted = spec, tenant, redacted
        self._condition = compile_logic(spec.where) if spec.where is not None else None
        self._found = reads.reads(spec.where) if spec.where is not None else None
        # Only a condition that reads some path can read a sensitive one.
        self._reads_data = self._found is not None and (self._found.everything or bool(self._found.paths))
        #: Sensitive paths read so far (for the audit entry of a caller who may see them).
        self.sensitive_paths: set[str] = set()

    def events(self, *, using: str = "default") -> QuerySet[Event]:
        """The tenant's events the filter's columns select, in replay order (oldest first)."""
        spec = self.spec
        events = Event.objects.using(using).filter(tenant=self.tenant)
        if spec.type is not None:
            events = events.filter(type=spec.type)
        if spec.endpoint is not None:
            endpoint = WebhookEndpoint.objects.using(using).filter(tenant=self.tenant, slug=spec.endpoint).first()
            events = events.filter(endpoint=endpoint) if endpoint is not None else events.none()
        if spec.status is not None:
            events = events.filter(status=spec.status)
        if spec.received_from is not None:
            events = events.filter(received_at__gte=spec.received_from)
        if spec.received_until is not None:
            events = events.filter(received_at__lt=spec.received_until)
        return events.order_by("received_at", "id")

    def chunks(
        self, *, after: tuple[dt.datetime, UUID] | None = None, size: int, using: str = "default"
    ) -> Iterator[list[Event]]:
        """The selected events in pages of ``size`` (keyset pagination), starting after the cursor ``after``."""
        while True:
            chunk = list(_after(self.events(using=using), after)[:size])
            if not chunk:
                return
            yield chunk
            if len(chunk) < size:
                return
            after = (chunk[-1].received_at, chunk[-1].id)

    def matches(self, event: Event) -> bool:
        """Whether the condition (if any) holds for ``event``; an evaluation error is "no", as in routing."""
        if self._condition is None:
            return True
        data = event_data(event)
        if self._reads_data:
            paths = reads.sensitive_reads(self.spec.where, data, self._found)
            if paths and self.redacted:
                raise _sensitive(paths)
            self.sensitive_paths.update(paths)
        try:
            return truthy(self._condition(data))
        except JsonLogicError:
            return False


def select(spec: EventFilter, tenant: str, *, redacted: bool) -> Selection:
    """A :class:`Selection`; PermissionDenied if ``redacted`` and the condition names a sensitive key.

    ValidationError if the filter names an endpoint the tenant does not have.
    """
    named = named_sensitive_paths(spec)
    if redacted and named:
        raise _sensitive(named)
    if spec.endpoint is not None and not WebhookEndpoint.objects.filter(tenant=tenant, slug=spec.endpoint).exists():
        raise _invalid(f"There is no webhook endpoint {spec.endpoint!r}.", "endpoint", "unknown_endpoint")
    return Selection(spec, tenant, redacted=redacted)


def named_sensitive_paths(spec: EventFilter) -> list[str]:
    """The sensitive keys the condition reads by name (``event.payload.password``), whatever the data."""
    return reads.sensitive_reads(spec.where, {}) if spec.where is not None else []


def _after(events: QuerySet[Event], after: tuple[dt.datetime, UUID] | None) -> QuerySet[Event]:
    if after is None:
        return events
    at, pk = after
    # The first condition alone is redundant; it lets the database start its index range at the cursor.
    return events.filter(Q(received_at__gte=at), Q(received_at__gt=at) | Q(received_at=at, id__gt=pk))


def _sensitive(paths: list[str]) -> exceptions.PermissionDenied:
    return exceptions.PermissionDenied(
        f"The filter's condition reads {paths[0]}, a redacted value: filtering on it needs the permission "
        f"{raw.PERMISSION}.",
        details={
            "permission": raw.PERMISSION,
            "required": [raw.PERMISSION],
            "path": paths[0],
            "paths": paths,
            "field": "where",
            "reason": "reads_sensitive_key",
        },
    )


def _time(data: dict[str, Any], name: str) -> dt.datetime | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed: dt.datetime | None = value
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None:
        raise _invalid(f"{name} must be an ISO 8601 date and time.", name, "invalid_datetime")
    offset = parsed.utcoffset()
    if offset is not None and abs(offset) > _MAX_OFFSET:
        raise _invalid(f"{name}: the UTC offset must be between -15:59 and +15:59.", name, "invalid_datetime")
    if offset is None and settings.USE_TZ:
        parsed = timezone.make_aware(parsed, dt.timezone.utc)
    try:
        return parsed.astimezone(dt.timezone.utc) if settings.USE_TZ else parsed
    except OverflowError:
        raise _invalid(f"{name} is out of range once converted to UTC.", name, "invalid_datetime") from None


def _invalid(message: str, field: str, reason: str) -> exceptions.ValidationError:
    return exceptions.ValidationError(message, details={"field": field, "reason": reason})
