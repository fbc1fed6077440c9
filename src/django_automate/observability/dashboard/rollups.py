"""Closed time buckets counted once into ``MetricRollup``; a page view then reads sums of a few rows.

A bucket is rolled up once it closed ``SETTLE_SECONDS`` ago (rows written by a transaction
still open at the bucket's end have landed by then). ``RollupMark`` remembers up to where
each window span is done; the process that advances it with a conditional update is the one
that counts the new buckets, inside the same transaction, with a fixed list of
``INSERT … SELECT`` statements (the counts never travel through Python):

1. events per bucket; finished runs per bucket, workflow, status and duration (staging rows);
2. from the staging rows: runs per bucket and status (the chart), per workflow and status, and
   per workflow and duration bucket;
3. the last two again over blocks of 4 and 16 buckets that closed, so a week's per-workflow
   figures add up some twenty blocks instead of 168 hours.

The only change to a counted run is a retry (failed → running): :func:`forget_run` takes it
back out of its blocks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connections, transaction
from django.db.models import Case, Count, DateTimeField, F, Q, QuerySet, Sum, UUIDField, Value, When
from django.db.models.functions import Trunc

from django_automate.models import Event, ExecutionRun, MetricKind, MetricRollup, RollupMark, RunStatus
from django_automate.observability.dashboard import histogram
from django_automate.observability.dashboard.windows import HORIZON, LEVELS, UTC, floor

SETTLE_SECONDS = 60
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
#: ``MetricRollup`` columns, by the names the rollup queries select them under (not clashing with fields).
COLUMNS = {f"r_{column}": column for column in ("span", "bucket_start", "kind", "workflow_id", "status")}
COLUMNS.update(r_duration_bucket="duration_bucket", r_count="count")
TRUNC = {60: "minute", 3600: "hour"}
#: What each derived kind keeps of a staging row (the others become blank).
DERIVED = {
    MetricKind.STATUS: ("status",),
    MetricKind.RUN: ("workflow_id", "status"),
    MetricKind.DURATION: ("workflow_id", "duration_bucket"),
}
BLANK: dict[str, Any] = {
    "workflow_id": Value(None, output_field=UUIDField()),
    "status": Value(""),
    "duration_bucket": Value(histogram.NO_DURATION),
}


def ensure(span: int, now: dt.datetime, *, using: str) -> dt.datetime:
    """Roll up every settled bucket of ``span`` the dashboard may show; return where the rollups end.

    Everything from the returned moment on is not rolled up and must be counted live.
    """
    horizon = floor(now, span) - dt.timedelta(seconds=span * HORIZON[span])
    end = floor(now - dt.timedelta(seconds=SETTLE_SECONDS), span)
    mark = read_mark(span, using=using)
    if mark is None:
        first = RollupMark(span=span, rolled_until=horizon)
        RollupMark.objects.using(using).bulk_create([first], ignore_conflicts=True)
        mark = horizon
    start = max(mark, horizon)
    if end <= start:
        return mark
    rollups = MetricRollup.objects.using(using)
    with transaction.atomic(using=using):
        # The claim comes first: on SQLite it takes the write lock before anything is read.
        claimed = RollupMark.objects.using(using).filter(span=span, rolled_until=mark).update(rolled_until=end)
        if not claimed:  # another process rolled these buckets up meanwhile
            return RollupMark.objects.using(using).values_list("rolled_until", flat=True).get(span=span)
        insert(event_counts(span, start, end, using=using), using=using)
        insert(run_details(span, start, end, using=using), using=using)
        for kind in DERIVED:
            insert(derived(kind, span, start, end, using=using), using=using)
        for level in LEVELS[span][1:]:
            insert(level_counts(span, level, start, end, using=using), using=using)
        rollups.filter(span=span, kind=MetricKind.DETAIL).delete()
        rollups.filter(span__in=LEVELS[span], bucket_start__lt=horizon).delete()
    return end


def read_mark(span: int, *, using: str) -> dt.datetime | None:
    """Where the rollups of ``span`` end (``None`` before the first)."""
    return RollupMark.objects.using(using).filter(span=span).values_list("rolled_until", flat=True).first()


def event_counts(span: int, start: dt.datetime, end: dt.datetime, *, using: str) -> QuerySet[Any]:
    """Events received in ``[start, end)``, per bucket (the ``received_at`` index)."""
    return _select(
        Event.objects.using(using).filter(received_at__gte=start, received_at__lt=end),
        span=Value(span),
        bucket_start=Trunc("received_at", TRUNC[span], tzinfo=UTC),
        kind=Value(MetricKind.EVENT.value),
        **BLANK,
        count=Count("pk"),
    )


def run_details(span: int, start: dt.datetime, end: dt.datetime, *, using: str) -> QuerySet[Any]:
    """Runs finished in ``[start, end)`` per bucket, workflow, status and duration bucket (the finished index)."""
    return _select(
        ExecutionRun.objects.using(using).filter(status__in=FINISHED, finished_at__gte=start, finished_at__lt=end),
        span=Value(span),
        bucket_start=Trunc("finished_at", TRUNC[span], tzinfo=UTC),
        kind=Value(MetricKind.DETAIL.value),
        workflow_id=F("workflow_id"),
        status=F("status"),
        duration_bucket=histogram.bucket_expression(),
        count=Count("pk"),
    )


def derived(kind: str, span: int, start: dt.datetime, end: dt.datetime, *, using: str) -> QuerySet[Any]:
    """The staging rows of ``[start, end)`` summed over what ``kind`` leaves out."""
    kept = DERIVED[MetricKind(kind)]
    staging = MetricRollup.objects.using(using).filter(
        span=span, kind=MetricKind.DETAIL, bucket_start__gte=start, bucket_start__lt=end
    )
    columns = {name: F(name) if name in kept else BLANK[name] for name in BLANK}
    return _select(
        staging, span=Value(span), bucket_start=F("bucket_start"), kind=Value(kind), **columns, count=Sum("count")
    )


def level_counts(span: int, level: int, start: dt.datetime, end: dt.datetime, *, using: str) -> QuerySet[Any]:
    """Per-workflow rows of the ``level``-second blocks that closed in ``(start, end]``, from their buckets.

    Always one statement, even when no block closed (its range is then empty), so the number
    of queries of a rollup never changes.
    """
    step = dt.timedelta(seconds=level)
    first = floor(start, level)  # the first block ending after start
    starts = []
    while first + step <= end:
        starts.append(first)
        first += step
    low, high = (starts[0], starts[-1] + step) if starts else (end, end)
    block = Case(
        *[When(bucket_start__lt=moment + step, then=Value(moment)) for moment in starts[:-1]],
        default=Value(starts[-1] if starts else end),
        output_field=DateTimeField(),
    )
    bases = MetricRollup.objects.using(using).filter(
        span=span, kind__in=[MetricKind.RUN, MetricKind.DURATION], bucket_start__gte=low, bucket_start__lt=high
    )
    return _select(
        bases,
        span=Value(level),
        bucket_start=block,
        kind=F("kind"),
        workflow_id=F("workflow_id"),
        status=F("status"),
        duration_bucket=F("duration_bucket"),
        count=Sum("count"),
    )


def _select(queryset: QuerySet[Any], *, count: Any, **columns: Any) -> QuerySet[Any]:
    """``queryset`` grouped by ``columns`` (named as ``MetricRollup``'s) with ``count``, ready for :func:`insert`."""
    renamed = {f"r_{name}": expression for name, expression in columns.items()}
    return queryset.annotate(**renamed).values(*renamed).annotate(r_count=count).order_by()


def insert(queryset: QuerySet[Any], *, using: str) -> None:
    """``INSERT INTO automate_metricrollup (…) SELECT …``."""
    compiler = queryset.query.get_compiler(using)
    select_sql, params = compiler.as_sql()
    columns = [COLUMNS[alias] for _, _, alias in compiler.select]
    connection = connections[using]
    table = connection.ops.quote_name(MetricRollup._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names}) {select_sql}", params)


def forget_run(run: ExecutionRun, *, using: str) -> None:
    """Take a finished run that is about to run again (a retry) out of the blocks it was counted in.

    The marks are locked first, so a rollup in progress either finished (and its rows are
    corrected here) or starts after this transaction (and no longer sees the run as finished).
    """
    if run.finished_at is None or run.status not in FINISHED:
        return
    list(RollupMark.objects.using(using).select_for_update().values_list("span"))
    duration = (
        histogram.bucket_of(run.finished_at - run.started_at) if run.started_at is not None else histogram.NO_DURATION
    )
    keys: dict[str, dict[str, Any]] = {
        MetricKind.STATUS: {"status": run.status},
        MetricKind.RUN: {"workflow_id": run.workflow_id, "status": run.status},
        MetricKind.DURATION: {"workflow_id": run.workflow_id, "duration_bucket": duration},
    }
    for kind, values in keys.items():
        spans = list(LEVELS) if kind == MetricKind.STATUS else [span for levels in LEVELS.values() for span in levels]
        where = Q()
        for span in spans:
            where |= Q(span=span, bucket_start=floor(run.finished_at, span))
        MetricRollup.objects.using(using).filter(where, kind=kind, count__gt=0, **values).update(count=F("count") - 1)
