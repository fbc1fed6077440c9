"""The scheduler against the database: one event per tick, catch-up policies, edits, concurrency."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from django_automate.ingestion.schedules.loop import MAX_TICKS_PER_PASS, Scheduler, process_schedule, tick_key
from django_automate.models import Event, ExecutionRun, JobKind, OutboxJob, Schedule

pytestmark = pytest.mark.django_db
transactional = pytest.mark.django_db(transaction=True)

MINUTE = dt.timedelta(minutes=1)


def make(name: str = "report", **values: Any) -> Schedule:
    values.setdefault("interval_seconds", 60)
    return Schedule.objects.create(name=name, **values)


def ticks(name: str = "report") -> list[str]:
    events = Event.objects.filter(type=f"schedule.{name}").order_by("idempotency_key")
    return [e.payload["schedule"]["tick"] for e in events]


def pass_at(moment: dt.datetime) -> int:
    return Scheduler(install_signal_handlers=False).run_pass(moment)


def test_a_due_tick_emits_one_event_with_the_schedule_payload():
    schedule = make(payload={"report": "sales"}, tenant="acme")
    assert pass_at(timezone.now()) == 0  # the first tick comes after the schedule was created
    schedule.refresh_from_db()
    tick = schedule.next_tick_at
    assert tick is not None and tick > schedule.created_at
    assert pass_at(tick) == 1
    event = Event.objects.get()
    assert (event.type, event.source, event.tenant) == ("schedule.report", "schedule", "acme")
    assert event.idempotency_key == tick_key("report", tick) == f"schedule:report:{tick.isoformat()}"
    assert event.payload == {
        "report": "sales",
        "schedule": {"name": "report", "tick": tick.isoformat(), "missed_ticks": 0},
    }
    assert OutboxJob.objects.get(event=event).kind == JobKind.ROUTE_EVENT
    schedule.refresh_from_db()
    assert (schedule.last_tick_at, schedule.next_tick_at) == (tick, tick + MINUTE)
    assert pass_at(tick + dt.timedelta(seconds=30)) == 0  # nothing new is due
    assert Event.objects.count() == 1


def anchored(schedule: Schedule, at: dt.datetime) -> None:
    """Pretend the schedule was last edited at ``at`` (so its first tick is the first one after it)."""
    Schedule.objects.filter(pk=schedule.pk).update(updated_at=at, next_tick_at=None)


T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


def test_each_tick_is_emitted_once_over_many_passes():
    anchored(make(interval_seconds=10), T0)
    for second in range(0, 124, 3):  # the first tick is T0 + 10 s; passes until T0 + 123 s
        pass_at(T0 + dt.timedelta(seconds=second))
    emitted = ticks()
    assert len(emitted) == len(set(emitted)) == 12
    instants = sorted(dt.datetime.fromisoformat(t) for t in emitted)
    assert {b - a for a, b in itertools.pairwise(instants)} == {dt.timedelta(seconds=10)}


def test_a_stale_scheduler_cannot_emit_a_tick_twice():
    schedule = make()
    pass_at(timezone.now())
    schedule.refresh_from_db()
    tick = schedule.next_tick_at
    pass_at(tick)
    # A process that acts on the old state (as if it had read the row before the first one wrote):
    Schedule.objects.filter(pk=schedule.pk).update(next_tick_at=tick, last_tick_at=None)
    pass_at(tick + dt.timedelta(seconds=1))
    assert ticks() == [tick.isoformat()]  # the unique idempotency key kept one event


@transactional
def test_concurrent_schedulers_emit_each_tick_exactly_once():
    for n in range(3):
        anchored(make(f"s{n}", interval_seconds=5), T0)
    moments = [T0 + dt.timedelta(seconds=s) for s in range(0, 61, 2)]  # ticks T0 + 5 s … T0 + 60 s
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for moment in moments:
                pass_at(moment)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pass_at(moments[-1])  # a pass that lost every race on SQLite's lock is repeated by the next one
    assert errors == []
    for n in range(3):
        emitted = ticks(f"s{n}")
        assert len(emitted) == len(set(emitted)) == 12, emitted


def test_run_once_catches_up_with_a_single_event_for_the_latest_missed_tick():
    schedule = make(catch_up="run_once")
    pass_at(timezone.now())
    schedule.refresh_from_db()
    first = schedule.next_tick_at
    pass_at(first)
    down_until = first + dt.timedelta(minutes=10, seconds=20)  # ticks first+1 … first+10 were missed
    assert pass_at(down_until) == 1
    event = Event.objects.order_by("-received_at").first()
    assert event.payload["schedule"] == {
        "name": "report",
        "tick": (first + 10 * MINUTE).isoformat(),
        "missed_ticks": 9,
    }
    schedule.refresh_from_db()
    assert schedule.next_tick_at == first + 11 * MINUTE


def test_skip_drops_ticks_older_than_the_grace_period():
    schedule = make(catch_up="skip", interval_seconds=10)
    pass_at(timezone.now())
    schedule.refresh_from_db()
    first = schedule.next_tick_at
    pass_at(first)
    with override_settings(AUTOMATE={**settings.AUTOMATE, "SCHEDULER_GRACE_SECONDS": 25}):
        pass_at(first + dt.timedelta(seconds=95))  # due: +10 … +90; within 25 s: +70, +80, +90
    expected = [first + dt.timedelta(seconds=s) for s in (0, 70, 80, 90)]
    assert ticks() == [t.isoformat() for t in expected]
    assert {e.payload["schedule"]["missed_ticks"] for e in Event.objects.all()} == {0}


def test_late_ticks_within_the_grace_period_are_all_emitted():
    schedule = make(catch_up="skip", interval_seconds=10)
    pass_at(timezone.now())
    schedule.refresh_from_db()
    first = schedule.next_tick_at
    assert pass_at(first + dt.timedelta(seconds=35)) == 4  # +0 … +30, all younger than 60 s


def test_a_long_backlog_is_emitted_over_several_passes():
    schedule = make(catch_up="skip", interval_seconds=1)
    pass_at(timezone.now())
    schedule.refresh_from_db()
    first = schedule.next_tick_at
    with override_settings(AUTOMATE={**settings.AUTOMATE, "SCHEDULER_GRACE_SECONDS": 3600}):
        now = first + dt.timedelta(seconds=149)
        assert pass_at(now) == MAX_TICKS_PER_PASS
        assert pass_at(now) == 150 - MAX_TICKS_PER_PASS
    assert len(set(ticks())) == 150


def test_editing_a_schedule_restarts_its_ticks_without_catching_up():
    now = timezone.now()
    down = make("down", catch_up="run_once")
    edited = make("edited", catch_up="run_once")
    for schedule in (down, edited):  # the scheduler has been down for 10 minutes
        Schedule.objects.filter(pk=schedule.pk).update(
            updated_at=now - 20 * MINUTE, next_tick_at=(now - 10 * MINUTE).replace(second=0, microsecond=0)
        )
    edited.refresh_from_db()
    edited.payload = {"changed": True}
    edited.save()  # an edit restarts the schedule from the time of the edit
    # At the edit's own moment: its first tick is the next minute boundary, whatever second it is now.
    pass_at(edited.updated_at)
    assert len(ticks("down")) == 1  # caught up
    assert ticks("edited") == []
    edited.refresh_from_db()
    assert edited.next_tick_at > edited.updated_at > now


def test_a_running_scheduler_notices_edits_between_passes():
    scheduler = Scheduler(install_signal_handlers=False)
    schedule = make(interval_seconds=None, cron="@yearly")
    anchored(schedule, T0)
    scheduler.run_pass(T0 + MINUTE)
    schedule.refresh_from_db()
    assert schedule.next_tick_at == dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    schedule.cron = "* * * * *"
    schedule.save()
    scheduler.run_pass(T0 + 2 * MINUTE)  # not due under the old expression, but edited since the last pass
    schedule.refresh_from_db()
    assert dt.timedelta(0) < schedule.next_tick_at - schedule.updated_at <= MINUTE


def test_disabled_and_invalid_schedules_emit_nothing_and_do_not_block_others(caplog):
    make("off", enabled=False)
    make("broken", interval_seconds=None, cron="not a cron")
    good = make("good")
    pass_at(timezone.now())
    good.refresh_from_db()
    pass_at(good.next_tick_at)
    assert [e.type for e in Event.objects.all()] == ["schedule.good"]
    assert "Schedule broken is invalid" in caplog.text


def test_cron_schedules_tick_on_local_time_across_spring_forward():
    schedule = make("nightly", interval_seconds=None, cron="30 2 * * *", timezone="Europe/Berlin")
    Schedule.objects.filter(pk=schedule.pk).update(
        updated_at=dt.datetime(2025, 3, 28, tzinfo=dt.timezone.utc), next_tick_at=None
    )
    moment = dt.datetime(2025, 3, 28, tzinfo=dt.timezone.utc)
    while moment < dt.datetime(2025, 4, 1, tzinfo=dt.timezone.utc):
        process_schedule(schedule.pk, moment)
        moment += dt.timedelta(minutes=30)
    assert ticks("nightly") == [
        "2025-03-28T01:30:00+00:00",  # 02:30 CET
        "2025-03-29T01:30:00+00:00",
        "2025-03-30T01:30:00+00:00",  # 02:30 does not exist that day: 03:30 CEST
        "2025-03-31T00:30:00+00:00",  # 02:30 CEST
    ]


@transactional
def test_schedule_events_are_routed_like_any_other(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(), event_type="schedule.*")
    schedule = make()
    pass_at(timezone.now())
    schedule.refresh_from_db()
    pass_at(schedule.next_tick_at)
    run_worker()
    assert ExecutionRun.objects.get().status == "succeeded"


def test_the_command_runs_one_pass_with_once():
    schedule = make(interval_seconds=3600)
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    Schedule.objects.filter(pk=schedule.pk).update(updated_at=hour - MINUTE, next_tick_at=hour)
    out = StringIO()
    call_command("automate", "scheduler", "--once", stdout=out)
    assert out.getvalue() == "scheduler emitted 1 events\n"
    assert ticks() == [hour.isoformat()]
    with pytest.raises(CommandError):
        call_command("automate", "scheduler", "--once", "--poll", "0")
