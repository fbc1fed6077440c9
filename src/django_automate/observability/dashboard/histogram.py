"""Run durations in log-scale buckets, so p50/p95 come from summed bucket counts.

Bucket ``i`` (0 ≤ i ≤ ``LAST``) holds durations shorter than ``BOUNDS_US[i]`` and at least
``BOUNDS_US[i - 1]``; bucket ``LAST + 1`` holds the longer ones; ``NO_DURATION`` (-1) the runs
that never started. The bounds grow by 2^¼ (about 19 %) from 1 ms to 2^27 ms (37 hours), so a
percentile read from the buckets is off by at most that much.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from django.db.models import Case, Expression, F, IntegerField, Q, Value, When

BOUNDS_US: tuple[int, ...] = tuple(round(1000 * 2 ** (k / 4)) for k in range(109))
LAST = len(BOUNDS_US) - 1
NO_DURATION = -1


def bucket_of(duration: dt.timedelta) -> int:
    """The bucket of ``duration`` (what the SQL expression computes)."""
    micros = duration // dt.timedelta(microseconds=1)
    for index, bound in enumerate(BOUNDS_US):
        if micros < bound:
            return index
    return LAST + 1


def bounds_ms(bucket: int) -> tuple[float, float]:
    """``(lower, upper)`` milliseconds of a bucket; the last one's upper bound is infinite."""
    lower = 0.0 if bucket == 0 else BOUNDS_US[bucket - 1] / 1000
    upper = BOUNDS_US[bucket] / 1000 if bucket <= LAST else math.inf
    return lower, upper


def representative_ms(bucket: int) -> float:
    """The value shown for a bucket: the geometric middle of its bounds (the lower bound at either end)."""
    lower, upper = bounds_ms(bucket)
    if bucket == 0 or math.isinf(upper):
        return upper if bucket == 0 else lower
    return math.sqrt(lower * upper)


def percentile_bucket(counts: Mapping[int, int], fraction: float) -> int | None:
    """The bucket holding the nearest-rank ``fraction`` percentile of the counted durations."""
    timed = sorted((bucket, n) for bucket, n in counts.items() if bucket >= 0 and n > 0)
    total = sum(n for _, n in timed)
    if not total:
        return None
    rank = max(math.ceil(fraction * total), 1)
    seen = 0
    for bucket, n in timed:
        seen += n
        if seen >= rank:
            return bucket
    return timed[-1][0]


def bucket_expression(start: str = "started_at", end: str = "finished_at") -> Expression:
    """SQL for the bucket of ``end - start``: a balanced tree of comparisons (7 per row, not 110)."""

    def node(low: int, high: int) -> Expression:
        if low == high:
            return Value(low)
        middle = (low + high) // 2
        shorter = Q(**{f"{end}__lt": F(start) + dt.timedelta(microseconds=BOUNDS_US[middle])})
        return Case(When(shorter, then=node(low, middle)), default=node(middle + 1, high), output_field=IntegerField())

    return Case(
        When(Q(**{f"{start}__isnull": True}) | Q(**{f"{end}__isnull": True}), then=Value(NO_DURATION)),
        default=node(0, LAST + 1),
        output_field=IntegerField(),
    )
