"""Tick computation: intervals on the epoch, cron on local wall-clock time, safe across DST changes.

Pure computations (no database); they live with the other trigger tests.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from django_automate import exceptions
from django_automate.ingestion.schedules.ticks import UTC, Cadence
from django_automate.ingestion.schedules.validation import validate_schedule

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def series(cadence: Cadence, start: dt.datetime, count: int) -> list[dt.datetime]:
    ticks, moment = [], start
    for _ in range(count):
        moment = cadence.next_after(moment)
        ticks.append(moment)
    return ticks


def local(ticks: list[dt.datetime], tz: ZoneInfo) -> list[str]:
    return [t.astimezone(tz).strftime("%m-%d %H:%M%z") for t in ticks]


def test_intervals_are_aligned_to_the_epoch_whatever_the_timezone():
    cadence = Cadence.build(None, 300, "Europe/Berlin")
    assert cadence.next_after(utc(2025, 3, 30, 0, 58, 12)) == utc(2025, 3, 30, 1, 0)
    assert cadence.next_after(utc(2025, 3, 30, 1, 0)) == utc(2025, 3, 30, 1, 5)  # strictly after
    assert cadence.first_at_or_after(utc(2025, 3, 30, 1, 0)) == utc(2025, 3, 30, 1, 0)
    assert cadence.is_tick(utc(2025, 1, 1, 0, 5)) and not cadence.is_tick(utc(2025, 1, 1, 0, 5, 1))
    # real time: the DST change in between does not bend the 5-minute rhythm
    assert series(cadence, utc(2025, 3, 30, 0, 55), 3) == [
        utc(2025, 3, 30, 1, 0),
        utc(2025, 3, 30, 1, 5),
        utc(2025, 3, 30, 1, 10),
    ]


def test_intervals_that_do_not_divide_a_day_are_still_deterministic():
    cadence = Cadence.build(None, 7)
    first = cadence.next_after(utc(2025, 1, 1))
    assert (first - dt.datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() % 7 == 0
    assert cadence.count(utc(2025, 1, 1), utc(2025, 1, 1, 0, 1, 10), 1000) == 10


def test_cron_follows_local_time_in_winter_and_summer():
    cadence = Cadence.build("0 9 * * 1-5", None, "Europe/Berlin")
    assert cadence.next_after(utc(2025, 1, 6)) == utc(2025, 1, 6, 8, 0)  # 09:00 CET
    assert cadence.next_after(utc(2025, 7, 7)) == utc(2025, 7, 7, 7, 0)  # 09:00 CEST
    assert cadence.next_after(utc(2025, 1, 10, 9)) == utc(2025, 1, 13, 8, 0)  # Friday after 9 → Monday


def test_a_daily_time_skipped_by_spring_forward_fires_after_the_gap_once():
    cadence = Cadence.build("30 2 * * *", None, "Europe/Berlin")
    ticks = series(cadence, utc(2025, 3, 28), 4)
    assert local(ticks, BERLIN) == ["03-28 02:30+0100", "03-29 02:30+0100", "03-30 03:30+0200", "03-31 02:30+0200"]


def test_a_daily_time_repeated_by_fall_back_fires_once():
    cadence = Cadence.build("30 1 * * *", None, "America/New_York")
    ticks = series(cadence, utc(2025, 11, 1), 3)
    assert local(ticks, NEW_YORK) == ["11-01 01:30-0400", "11-02 01:30-0400", "11-03 01:30-0500"]


def test_every_15_minutes_stays_every_15_minutes_of_real_time_across_both_changes():
    cadence = Cadence.build("*/15 * * * *", None, "Europe/Berlin")
    spring = series(cadence, utc(2025, 3, 30, 0, 30), 4)  # 01:30 CET; clocks jump 02:00 → 03:00
    assert local(spring, BERLIN) == ["03-30 01:45+0100", "03-30 03:00+0200", "03-30 03:15+0200", "03-30 03:30+0200"]
    autumn = series(cadence, utc(2025, 10, 26, 0, 20), 8)  # 02:20 CEST; 03:00 CEST → 02:00 CET
    assert [b - a for a, b in itertools.pairwise(autumn)] == [dt.timedelta(minutes=15)] * 7
    assert local(autumn, BERLIN)[:4] == ["10-26 02:30+0200", "10-26 02:45+0200", "10-26 02:00+0100", "10-26 02:15+0100"]


def test_hourly_cron_at_a_fixed_minute_fires_in_both_passes_of_the_repeated_hour():
    cadence = Cadence.build("@hourly", None, "America/New_York")
    ticks = series(cadence, utc(2025, 11, 2, 4, 30), 3)  # 00:30 EDT
    assert local(ticks, NEW_YORK) == ["11-02 01:00-0400", "11-02 01:00-0500", "11-02 02:00-0500"]


def test_last_tick_before_a_moment_and_counting():
    cadence = Cadence.build("0 12 * * *", None, "UTC")
    assert cadence.last_at_or_before(utc(2025, 5, 10, 11), floor=utc(2025, 1, 1)) == utc(2025, 5, 9, 12)
    assert cadence.last_at_or_before(utc(2025, 5, 10, 11), floor=utc(2025, 5, 10)) is None
    assert cadence.count(utc(2025, 5, 1), utc(2025, 5, 10, 11), cap=1000) == 9
    assert cadence.count(utc(2025, 5, 1), utc(2025, 5, 10, 11), cap=3) == 3
    yearly = Cadence.build("@yearly", None, "UTC")
    assert yearly.last_at_or_before(utc(2030, 6, 1), floor=utc(2020, 1, 1)) == utc(2030, 1, 1)


@pytest.mark.parametrize(
    ("cron", "interval", "tz", "fragment"),
    [
        ("* * * *", None, "UTC", "5 fields"),
        ("* * * * * *", None, "UTC", "5 fields"),
        ("61 * * * *", None, "UTC", "not a valid cron expression"),
        ("R * * * *", None, "UTC", "random"),
        ("H * * * *", None, "UTC", "hashed"),
        ("0 0 31 2 *", None, "UTC", "never fires"),
        ("", None, "UTC", "exactly one of cron or interval_seconds"),
        ("* * * * *", 60, "UTC", "exactly one of cron or interval_seconds"),
        ("", 0, "UTC", "at least 1"),
        ("", True, "UTC", "whole number"),
        ("@daily", None, "Mars/Olympus", "not a known IANA timezone"),
        ("@daily", None, "../../etc/passwd", "not a known IANA timezone"),
    ],
)
def test_invalid_cadences_are_rejected(cron, interval, tz, fragment):
    with pytest.raises(exceptions.ValidationError) as info:
        Cadence.build(cron, interval, tz)
    assert fragment in info.value.message


def test_schedule_validation_lists_every_problem_by_field():
    with pytest.raises(exceptions.ValidationError) as info:
        validate_schedule(name="bad name", cron="nope", catch_up="later", payload={"schedule": 1}, timezone="UTC")
    fields = [e["field"] for e in info.value.details["errors"]]
    assert fields == ["name", "catch_up", "payload", "cron"]
    cadence = validate_schedule(name="nightly.report", cron="@daily", timezone="Europe/Paris", payload={"x": 1})
    assert cadence.cron == "0 0 * * *"
    for payload in ([1], {"x": float("nan")}, {"x": object()}):
        with pytest.raises(exceptions.ValidationError):
            validate_schedule(name="x", interval_seconds=60, payload=payload)
