"""Budget windows: the minute, hour, day or month (UTC) that contains a moment."""

from __future__ import annotations

import datetime as dt

import pytest

from django_automate import exceptions
from django_automate.policy.windows import window

UTC = dt.timezone.utc
MOMENT = dt.datetime(2024, 12, 31, 23, 59, 30, 123, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("minute", dt.datetime(2024, 12, 31, 23, 59, tzinfo=UTC), dt.datetime(2025, 1, 1, tzinfo=UTC)),
        ("hour", dt.datetime(2024, 12, 31, 23, tzinfo=UTC), dt.datetime(2025, 1, 1, tzinfo=UTC)),
        ("day", dt.datetime(2024, 12, 31, tzinfo=UTC), dt.datetime(2025, 1, 1, tzinfo=UTC)),
        ("month", dt.datetime(2024, 12, 1, tzinfo=UTC), dt.datetime(2025, 1, 1, tzinfo=UTC)),
    ],
)
def test_windows_contain_the_moment_and_roll_over_the_year(period, start, end):
    assert window(period, MOMENT) == (start, end)


def test_windows_are_computed_in_utc_whatever_the_moments_zone():
    berlin = dt.timezone(dt.timedelta(hours=1))
    start, _ = window("day", dt.datetime(2024, 3, 1, 0, 30, tzinfo=berlin))
    assert start == dt.datetime(2024, 2, 29, tzinfo=UTC)
    assert window("month", dt.datetime(2024, 2, 29, 12, tzinfo=UTC))[1] == dt.datetime(2024, 3, 1, tzinfo=UTC)


def test_an_unknown_period_is_a_validation_error():
    with pytest.raises(exceptions.ValidationError):
        window("fortnight", MOMENT)
