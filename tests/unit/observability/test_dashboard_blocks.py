"""The dashboard's arithmetic: windows, the blocks that tile them, and percentiles from duration buckets."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from django_automate import exceptions
from django_automate.observability.dashboard import histogram
from django_automate.observability.dashboard.windows import LEVELS, blocks, floor, parse_window

UTC = dt.timezone.utc
HOUR = dt.timedelta(hours=1)


@pytest.mark.parametrize("seed", range(40))
def test_blocks_tile_any_hour_range_with_aligned_blocks_and_few_of_them(seed):
    rng = random.Random(seed)
    start = dt.datetime(2026, 3, 1, tzinfo=UTC) + HOUR * rng.randrange(0, 500)
    end = start + HOUR * rng.randrange(0, 169)
    found = blocks(start, end, LEVELS[3600])
    moment = start
    for span, block_start in found:
        assert block_start == moment and floor(block_start, span) == block_start
        moment += dt.timedelta(seconds=span)
    assert moment == end
    assert len(found) <= 3 + 3 + 168 // 16 + 3 + 3


def test_unknown_windows_are_refused_and_an_empty_one_is_the_hour():
    assert parse_window(None).name == parse_window("").name == "1h"
    with pytest.raises(exceptions.ValidationError) as caught:
        parse_window("30d")
    assert caught.value.details["valid"] == ["1h", "24h", "7d"]


def test_duration_buckets_grow_by_a_fourth_power_of_two_and_hold_their_bounds():
    for micros in (0, 999, 1000, 1189, 5_000, 123_456, 60_000_000, 10**12):
        bucket = histogram.bucket_of(dt.timedelta(microseconds=micros))
        lower, upper = histogram.bounds_ms(bucket)
        assert lower <= micros / 1000 < upper
    widths = [histogram.BOUNDS_US[n + 1] / histogram.BOUNDS_US[n] for n in range(10, 100)]
    assert all(abs(w - 2**0.25) < 0.001 for w in widths)


def test_percentiles_from_buckets_are_the_nearest_rank_bucket():
    rng = random.Random(7)
    durations = sorted(dt.timedelta(milliseconds=rng.lognormvariate(5, 1.5)) for _ in range(1001))
    counts: dict[int, int] = {}
    for duration in durations:
        bucket = histogram.bucket_of(duration)
        counts[bucket] = counts.get(bucket, 0) + 1
    counts[histogram.NO_DURATION] = 50  # never started: ignored
    for fraction in (0.5, 0.95, 0.99):
        exact = durations[math.ceil(fraction * len(durations)) - 1] / dt.timedelta(milliseconds=1)
        bucket = histogram.percentile_bucket(counts, fraction)
        assert bucket is not None
        lower, upper = histogram.bounds_ms(bucket)
        assert lower <= exact < upper
        assert abs(histogram.representative_ms(bucket) - exact) / exact < 0.2
    assert histogram.percentile_bucket({histogram.NO_DURATION: 3}, 0.5) is None
