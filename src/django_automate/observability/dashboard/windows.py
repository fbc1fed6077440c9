"""The dashboard's windows (``?window=1h|24h|7d``) and the time buckets each is drawn in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django_automate import exceptions

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """``buckets`` buckets of ``span`` seconds: the open one (ending now) and the closed ones before it."""

    name: str
    label: str
    span: int
    buckets: int

    @property
    def trunc_kind(self) -> str:
        """The ``Trunc`` kind matching ``span`` (``minute`` or ``hour``)."""
        return "minute" if self.span == 60 else "hour"

    def start(self, now: dt.datetime) -> dt.datetime:
        return floor(now, self.span) - dt.timedelta(seconds=self.span * (self.buckets - 1))

    def bucket_starts(self, now: dt.datetime) -> list[dt.datetime]:
        first = self.start(now)
        return [first + dt.timedelta(seconds=self.span * n) for n in range(self.buckets)]


WINDOWS: dict[str, Window] = {
    "1h": Window("1h", "last hour", 60, 60),
    "24h": Window("24h", "last 24 hours", 3600, 24),
    "7d": Window("7d", "last 7 days", 3600, 168),
}
DEFAULT_WINDOW = "1h"
#: Per span, the most buckets any window reads: older rollups are dropped.
HORIZON: dict[int, int] = {span: max(w.buckets for w in WINDOWS.values() if w.span == span) for span in (60, 3600)}
#: Block lengths rolled up per window span, shortest first: per-workflow figures add up the largest that fit.
LEVELS: dict[int, tuple[int, ...]] = {span: (span, span * 4, span * 16) for span in HORIZON}


def parse_window(value: str | None) -> Window:
    """The window named by ``?window=``; absent or empty means 1 h, anything else unknown is refused."""
    if not value:
        return WINDOWS[DEFAULT_WINDOW]
    try:
        return WINDOWS[value]
    except KeyError:
        raise exceptions.ValidationError(
            f"Unknown window {value[:20]!r}: choose one of {', '.join(WINDOWS)}.",
            details={"window": value[:20], "valid": list(WINDOWS)},
        ) from None


def floor(moment: dt.datetime, span: int) -> dt.datetime:
    """The start of the ``span``-second bucket holding ``moment`` (buckets aligned on the Unix epoch, in UTC)."""
    seconds = (moment - EPOCH) // dt.timedelta(seconds=1)
    return EPOCH + dt.timedelta(seconds=seconds - seconds % span)


def blocks(start: dt.datetime, end: dt.datetime, spans: tuple[int, ...]) -> list[tuple[int, dt.datetime]]:
    """``[start, end)`` as ``(span, block start)`` pairs, longest aligned blocks first from the left.

    ``start`` and ``end`` are aligned on the shortest span; at most 2 x 3 blocks per longer span
    (plus the few in between) cover any range, whatever its length.
    """
    found: list[tuple[int, dt.datetime]] = []
    moment = start
    while moment < end:
        offset = (moment - EPOCH) // dt.timedelta(seconds=1)
        span = next(s for s in reversed(spans) if offset % s == 0 and moment + dt.timedelta(seconds=s) <= end)
        found.append((span, moment))
        moment += dt.timedelta(seconds=span)
    return found
