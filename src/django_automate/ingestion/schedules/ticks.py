"""When a schedule ticks: cron expressions on local wall-clock time, or fixed intervals of real time.

Every tick is an instant (an aware UTC datetime) that any scheduler process computes
identically, which is what makes ``schedule:<name>:<tick>`` a reliable idempotency key.

- **Intervals** are elapsed seconds aligned to the Unix epoch: ``interval_seconds=300`` ticks
  at :00, :05, :10… UTC, whatever the timezone and across DST changes.
- **Cron** (5 fields, or ``@hourly``/``@daily``/``@weekly``/``@monthly``/``@yearly``) is
  matched against wall-clock time in the schedule's timezone. A wall time that does not exist
  (spring forward) fires when the clock jumps over it, shifted by the gap (02:30 becomes
  03:30); a wall time that occurs twice (fall back) fires once, at its first occurrence,
  unless the hour field is ``*``: such expressions fire in both passes of the repeated hour,
  so "every 15 minutes" stays every 15 minutes of real time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter  # type: ignore[import-untyped]

from django_automate import exceptions

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
#: Longer than any UTC offset change near a tick (DST moves clocks by one hour, at most two).
SLACK = dt.timedelta(hours=3)
_FIELD = re.compile(r"^[0-9A-Za-z*/,?#\-]+$")
_MICROSECOND = dt.timedelta(microseconds=1)


def normalize_cron(expression: str) -> str:
    """The 5-field form of ``expression`` (aliases expanded, whitespace collapsed), or ValidationError."""
    text = " ".join(str(expression).split())
    text = ALIASES.get(text.lower(), text)
    fields = text.split(" ")
    if len(fields) != 5:
        raise exceptions.ValidationError(
            "A cron expression has 5 fields (minute hour day month weekday) or is an alias such as @daily.",
            details={"field": "cron"},
        )
    for field in fields:
        tokens = re.split(r"[,/\-]", field.upper())
        if not _FIELD.match(field) or any(t in ("H", "R") or t.startswith("H(") for t in tokens):
            raise exceptions.ValidationError(
                f"Unsupported cron field {field!r} (hashed and random values are not allowed).",
                details={"field": "cron"},
            )
    if not croniter.is_valid(text):
        raise exceptions.ValidationError(f"{expression!r} is not a valid cron expression.", details={"field": "cron"})
    return text


def zone(name: str) -> ZoneInfo:
    """The IANA timezone ``name`` (``"Europe/Paris"``), or ValidationError."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise exceptions.ValidationError(
            f"{name!r} is not a known IANA timezone.", details={"field": "timezone"}
        ) from exc


@dataclass(frozen=True)
class Cadence:
    """The tick rule of one schedule: a cron expression in a timezone, or an interval."""

    cron: str | None
    interval_seconds: int | None
    tz: ZoneInfo

    @classmethod
    def of(cls, schedule: Any) -> Cadence:
        """Build from a Schedule (or anything with ``cron``, ``interval_seconds``, ``timezone``)."""
        return cls.build(schedule.cron, schedule.interval_seconds, schedule.timezone)

    @classmethod
    def build(cls, cron: str | None, interval_seconds: int | None, timezone: str = "UTC") -> Cadence:
        has_cron = bool(cron and str(cron).strip())
        if has_cron == (interval_seconds is not None):
            raise exceptions.ValidationError(
                "A schedule needs exactly one of cron or interval_seconds.", details={"field": "cron"}
            )
        tz = zone(timezone or "UTC")
        if not has_cron:
            if isinstance(interval_seconds, bool) or not isinstance(interval_seconds, int) or interval_seconds < 1:
                raise exceptions.ValidationError(
                    "interval_seconds must be a whole number of seconds, at least 1.",
                    details={"field": "interval_seconds"},
                )
            return cls(None, interval_seconds, tz)
        cadence = cls(normalize_cron(str(cron)), None, tz)
        cadence.next_after(dt.datetime.now(UTC))  # raises if the expression never fires
        return cadence

    # Public queries ----------------------------------------------------------------------

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first tick strictly after ``moment`` (aware), as an aware UTC datetime."""
        moment = moment.astimezone(UTC)
        if self.interval_seconds is not None:
            step = self.interval_seconds * 1_000_000
            elapsed = (moment - EPOCH) // _MICROSECOND
            return EPOCH + dt.timedelta(microseconds=(elapsed // step + 1) * step)
        return self._cron_next(moment)

    def first_at_or_after(self, moment: dt.datetime) -> dt.datetime:
        return self.next_after(moment - _MICROSECOND)

    def is_tick(self, moment: dt.datetime) -> bool:
        return self.first_at_or_after(moment) == moment

    def ticks(self, start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
        """Ticks in ``[start, end]``, in order (lazily: stop consuming to bound the work)."""
        tick = self.first_at_or_after(start)
        while tick <= end:
            yield tick
            tick = self.next_after(tick)

    def count(self, start: dt.datetime, end: dt.datetime, cap: int) -> int:
        """How many ticks lie in ``[start, end]``, counting at most ``cap``."""
        if end < start:
            return 0
        if self.interval_seconds is not None:
            first = self.first_at_or_after(start)
            if first > end:
                return 0
            return min(cap, int((end - first).total_seconds() // self.interval_seconds) + 1)
        total = 0
        for _ in self.ticks(start, end):
            total += 1
            if total >= cap:
                break
        return total

    def last_at_or_before(self, moment: dt.datetime, floor: dt.datetime) -> dt.datetime | None:
        """The latest tick in ``[floor, moment]``, or ``None``."""
        if self.interval_seconds is not None:
            step = self.interval_seconds * 1_000_000
            elapsed = (moment.astimezone(UTC) - EPOCH) // _MICROSECOND
            last = EPOCH + dt.timedelta(microseconds=(elapsed // step) * step)
            return last if last >= floor else None
        # Look back in growing windows, so a dense cron scans minutes, not the whole downtime.
        for window in (dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(days=32), dt.timedelta(days=367)):
            found = None
            for found in self.ticks(max(floor, moment - window), moment):  # noqa: B007
                pass
            if found is not None:
                return found
            if moment - window <= floor:
                return None
        found = None
        for found in self.ticks(floor, moment):  # noqa: B007
            pass
        return found

    # Cron on wall-clock time ---------------------------------------------------------------

    @property
    def _every_hour(self) -> bool:
        return self.cron is not None and self.cron.split(" ")[1] == "*"

    def _offset(self, moment: dt.datetime) -> dt.timedelta | None:
        return moment.astimezone(self.tz).utcoffset()

    def _wall(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.tz).replace(tzinfo=None)

    def _instants(self, wall: dt.datetime) -> list[dt.datetime]:
        """The instants at which the local wall time ``wall`` happens (see the module docstring)."""
        first, second = wall.replace(tzinfo=self.tz, fold=0), wall.replace(tzinfo=self.tz, fold=1)
        early, late = first.utcoffset(), second.utcoffset()
        if early is not None and late is not None and early > late:  # repeated (fall back)
            if self._every_hour:
                return [first.astimezone(UTC), second.astimezone(UTC)]
        return [first.astimezone(UTC)]  # a skipped wall time (spring forward) maps past the gap

    def _matches(self, start_wall: dt.datetime) -> Iterator[dt.datetime]:
        try:
            iterator = croniter(self.cron, start_wall)
            while True:
                yield iterator.get_next(dt.datetime)
        except CroniterBadDateError as exc:
            raise exceptions.ValidationError(
                f"The cron expression {self.cron!r} never fires.", details={"field": "cron"}
            ) from exc
        except CroniterError as exc:
            raise exceptions.ValidationError(
                f"{self.cron!r} is not a valid cron expression.", details={"field": "cron"}
            ) from exc

    def _cron_next(self, moment: dt.datetime) -> dt.datetime:
        wall = self._wall(moment)
        candidate = next(self._matches(wall))
        instant = self._instants(candidate)[0]
        offsets = {self._offset(moment - SLACK), self._offset(moment + SLACK)}
        offsets |= {self._offset(instant - SLACK), self._offset(instant + SLACK)}
        if len(offsets) == 1 and instant > moment:
            return instant  # no offset change near either end: wall time maps to instants monotonically
        # Near a DST change: scan wall times from before the change and keep the earliest instant.
        best: dt.datetime | None = None
        for matched in self._matches(wall - SLACK):
            for candidate_instant in self._instants(matched):
                if candidate_instant > moment and (best is None or candidate_instant < best):
                    best = candidate_instant
            if best is not None and matched > self._wall(best) + SLACK:
                return best
        raise AssertionError("unreachable: cron iteration ended")  # pragma: no cover
