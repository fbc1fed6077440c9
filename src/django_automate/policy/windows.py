"""Budget period windows: ``[start, end)`` of the minute, hour, day or month containing a moment (UTC)."""

from __future__ import annotations

import datetime as dt

from django_automate import exceptions

PERIODS = ("minute", "hour", "day", "month")


def window(period: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The window of ``period`` that contains ``now``; aware datetimes are taken in UTC."""
    if now.tzinfo is not None:
        now = now.astimezone(dt.timezone.utc)
    if period == "minute":
        start = now.replace(second=0, microsecond=0)
        return start, start + dt.timedelta(minutes=1)
    if period == "hour":
        start = now.replace(minute=0, second=0, microsecond=0)
        return start, start + dt.timedelta(hours=1)
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + dt.timedelta(days=1)
    if period == "month":
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return start, end
    raise exceptions.ValidationError(
        f"Unknown budget period {period!r}; use one of {', '.join(PERIODS)}.", details={"period": period}
    )
