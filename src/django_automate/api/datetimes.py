"""Datetimes read from query strings and cursors: every database must be able to compare with them.

Python accepts UTC offsets up to ±23:59, PostgreSQL only up to ±15:59, and MySQL/SQLite
compare in UTC, where a time near year 1 or 9999 may not exist. Such values are a client's
mistake (``400 validation_error``), never a database error (500).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters  # type: ignore[import-untyped]
from django import forms
from django.conf import settings
from django.utils import timezone
from django_filters.fields import IsoDateTimeField, RangeField  # type: ignore[import-untyped]
from django_filters.widgets import DateRangeWidget  # type: ignore[import-untyped]

#: The largest UTC offset every supported database accepts (PostgreSQL's limit).
MAX_OFFSET = dt.timedelta(hours=15, minutes=59)
OFFSET_MESSAGE = "The UTC offset must be between -15:59 and +15:59."
RANGE_MESSAGE = "The time is out of the supported range once converted to UTC."


class DateTimeOutOfRange(ValueError):
    """The datetime cannot be compared by every database (offset too large, or beyond year 1-9999 in UTC)."""


def comparable(value: dt.datetime) -> dt.datetime:
    """``value`` as the database will compare it (aware UTC, or naive without ``USE_TZ``), or DateTimeOutOfRange."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise DateTimeOutOfRange(OFFSET_MESSAGE)
    try:
        if offset is not None:
            value = value.astimezone(dt.timezone.utc)
            return value if settings.USE_TZ else timezone.make_naive(value)
        if settings.USE_TZ:
            return timezone.make_aware(value).astimezone(dt.timezone.utc)
    except (OverflowError, ValueError):
        raise DateTimeOutOfRange(RANGE_MESSAGE) from None
    return value


class ComparableDateTimeField(IsoDateTimeField):
    """django-filter's ISO 8601 field, answering 400 for times the database cannot compare."""

    def to_python(self, value: Any) -> Any:
        result = super().to_python(value)
        if result is None:
            return None
        try:
            return comparable(result)
        except DateTimeOutOfRange as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None


class ComparableDateTimeRangeField(RangeField):
    widget = DateRangeWidget

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__((ComparableDateTimeField(), ComparableDateTimeField()), *args, **kwargs)


class DateTimeRangeFilter(django_filters.IsoDateTimeFromToRangeFilter):
    """``<name>_after`` / ``<name>_before`` in ISO 8601, within the range every database compares."""

    field_class = ComparableDateTimeRangeField
