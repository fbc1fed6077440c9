"""The scheduler: emits ``schedule.<name>`` events for due ticks, exactly once whatever the number of processes.

Three things make it safe to run anywhere, any number of times:

1. Each schedule is handled in its own short transaction that locks its row with
   ``SELECT … FOR UPDATE SKIP LOCKED`` (PostgreSQL, MySQL/MariaDB): another process skips it.
2. The row's ``next_tick_at`` is advanced with a compare-and-swap in that transaction; a
   process that finds it moved on rolls back everything it did.
3. Each event's idempotency key is ``schedule:<name>:<tick>``: should two processes still
   emit the same tick, the unique constraint keeps one event.

Catch-up after downtime (a tick is *late* once it is older than ``SCHEDULER_GRACE_SECONDS``):
``run_once`` coalesces all due ticks into one event for the latest of them when any is late;
``skip`` drops late ticks and emits the others. Editing a schedule restarts its ticks from
the time of the edit.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.db import DatabaseError, close_old_connections, connections, transaction
from django.db.models import Q
from django.utils import timezone

from django_automate import conf, exceptions
from django_automate.ingestion.events import record_event
from django_automate.ingestion.schedules.ticks import Cadence
from django_automate.models import Schedule
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

SOURCE = "schedule"
#: Most events one schedule emits in one pass; the rest follow in the next passes.
MAX_TICKS_PER_PASS = 100
#: ``missed_ticks`` counts at most this many.
MISSED_CAP = 100_000
#: Schedules edited this long before the previous pass are looked at again (clock skew between hosts).
EDIT_MARGIN = dt.timedelta(seconds=60)


_reported: set[tuple[Any, dt.datetime]] = set()


class _Superseded(Exception):
    """Another scheduler advanced the schedule first; roll back this attempt."""


def tick_key(name: str, tick: dt.datetime) -> str:
    """The idempotency key of one tick: ``schedule:<name>:<tick in ISO 8601, UTC>``."""
    return f"schedule:{name}:{tick.astimezone(dt.timezone.utc).isoformat()}"


def process_schedule(schedule_id: Any, now: dt.datetime, *, using: str = "default") -> int:
    """Emit the due ticks of one schedule and advance it; return the number of events written."""
    try:
        with transaction.atomic(using=using):
            return _process_locked(schedule_id, now, using)
    except _Superseded:
        return 0


def _process_locked(schedule_id: Any, now: dt.datetime, using: str) -> int:
    rows = Schedule.objects.using(using).filter(pk=schedule_id, enabled=True)
    if connections[using].features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True)
    schedule = rows.first()
    if schedule is None:
        return 0  # another scheduler holds it, or it was disabled or deleted meanwhile
    try:
        cadence = Cadence.of(schedule)
    except exceptions.ValidationError as exc:
        if (schedule.pk, schedule.updated_at) not in _reported:  # once per process and version of the row
            _reported.add((schedule.pk, schedule.updated_at))
            logger.warning(
                "Schedule %s is invalid: %s", schedule.name, exc.message, extra=log_extra("schedule_invalid")
            )
        return 0
    pending = schedule.next_tick_at
    if pending is None or pending < schedule.updated_at or not cadence.is_tick(pending):
        # New or edited since its pending tick: start from the later of the edit and the last tick.
        base = max(filter(None, [schedule.updated_at, schedule.last_tick_at]))
        pending = cadence.next_after(base)
    if pending > now:
        emitted: list[dt.datetime] = []
        following = pending
    else:
        emitted = _emit_due(schedule, cadence, pending, now, using)
        following = cadence.next_after(emitted[-1] if len(emitted) == MAX_TICKS_PER_PASS else now)
    if following == schedule.next_tick_at and not emitted:
        return 0
    changes: dict[str, Any] = {"next_tick_at": following}
    if emitted:
        changes["last_tick_at"] = emitted[-1]
    swapped = Schedule.objects.using(using).filter(pk=schedule.pk, next_tick_at=schedule.next_tick_at).update(**changes)
    if not swapped:
        raise _Superseded
    return len(emitted)


def _emit_due(
    schedule: Schedule, cadence: Cadence, pending: dt.datetime, now: dt.datetime, using: str
) -> list[dt.datetime]:
    """Emit the ticks due in ``[pending, now]`` according to the catch-up policy; return them."""
    horizon = now - dt.timedelta(seconds=conf.scheduler_grace_seconds())
    late = pending < horizon
    if late and schedule.catch_up == Schedule.CatchUp.RUN_ONCE:
        last = cadence.last_at_or_before(now, floor=pending) or pending
        missed = cadence.count(pending, last, MISSED_CAP) - 1
        logger.info(
            "Schedule %s catches up %s missed ticks with one event",
            schedule.name,
            missed,
            extra=log_extra("schedule_catch_up", missed=missed),
        )
        _emit(schedule, last, missed, using)
        return [last]
    start = pending
    if late:  # skip: drop what is older than the grace period
        start = cadence.first_at_or_after(horizon)
        skipped = cadence.count(pending, start - dt.timedelta(microseconds=1), MISSED_CAP)
        logger.info(
            "Schedule %s skipped %s missed ticks",
            schedule.name,
            skipped,
            extra=log_extra("schedule_skip", missed=skipped),
        )
    emitted = []
    for tick in cadence.ticks(start, now):
        _emit(schedule, tick, 0, using)
        emitted.append(tick)
        if len(emitted) == MAX_TICKS_PER_PASS:
            break
    return emitted


def _emit(schedule: Schedule, tick: dt.datetime, missed: int, using: str) -> None:
    payload = dict(schedule.payload) if isinstance(schedule.payload, dict) else {}
    iso = tick.astimezone(dt.timezone.utc).isoformat()
    payload["schedule"] = {"name": schedule.name, "tick": iso, "missed_ticks": missed}
    trace_id = context.new_trace_id()
    try:
        with context.bind(trace_id=trace_id, tenant=schedule.tenant):
            recorded = record_event(
                type=f"schedule.{schedule.name}",
                payload=payload,
                source=SOURCE,
                tenant=schedule.tenant,
                idempotency_key=tick_key(schedule.name, tick),
                trace_id=trace_id,
                using=using,
            )
    except exceptions.IdempotencyConflict:
        recorded = None  # the tick was already emitted (with other catch-up details): it stands
    if recorded is None or recorded.duplicate:
        logger.info("Tick %s of %s was already emitted", iso, schedule.name, extra=log_extra("schedule_duplicate"))


class Scheduler:
    """Runs passes over the enabled schedules until stopped (or once, with ``once``).

    ``clock`` returns the current time; tests and simulations can inject their own.
    """

    def __init__(
        self,
        *,
        using: str = "default",
        once: bool = False,
        poll_seconds: float | None = None,
        clock: Callable[[], dt.datetime] = timezone.now,
        install_signal_handlers: bool = True,
    ) -> None:
        self.using = using
        self.once = once
        self.poll_seconds = poll_seconds if poll_seconds is not None else conf.scheduler_poll_seconds()
        self.clock = clock
        self.install_signal_handlers = install_signal_handlers
        self.stopping = threading.Event()
        self.emitted = 0
        self._last_pass: dt.datetime | None = None

    def stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Finish the current pass, then exit."""
        self.stopping.set()

    def run(self) -> int:
        """Loop until stopped; return the number of events emitted."""
        if self.install_signal_handlers and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        logger.info("Scheduler started", extra=log_extra("scheduler_start"))
        while not self.stopping.is_set():
            self.emitted += self.run_pass()
            if self.once:
                break
            close_old_connections()
            self.stopping.wait(self.poll_seconds)
        logger.info("Scheduler stopped after %s events", self.emitted, extra=log_extra("scheduler_stop"))
        return self.emitted

    def run_pass(self, now: dt.datetime | None = None) -> int:
        """Handle every enabled schedule once at ``now`` (default: the clock)."""
        moment = now or self.clock()
        rows = Schedule.objects.using(self.using).filter(enabled=True)
        if self._last_pass is not None:
            # Only what is due, new, or edited since the previous pass (with a margin for clock skew).
            rows = rows.filter(
                Q(next_tick_at__isnull=True)
                | Q(next_tick_at__lte=moment)
                | Q(updated_at__gte=self._last_pass - EDIT_MARGIN)
            )
        self._last_pass = moment
        ids = list(rows.order_by("id").values_list("id", flat=True))
        emitted = 0
        for schedule_id in ids:
            if self.stopping.is_set():
                break
            try:
                emitted += process_schedule(schedule_id, moment, using=self.using)
            except DatabaseError as exc:  # e.g. a lock timeout: the next pass retries
                logger.warning("Schedule %s not processed: %s", schedule_id, exc, extra=log_extra("schedule_db_error"))
        return emitted
