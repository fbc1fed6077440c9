"""Closed time buckets counted once into ``MetricRollup``; a page view then reads sums of a few rows.

A bucket is rolled up once it closed ``SETTLE_SECONDS`` ago (rows written by a transaction
still open at the bucket's end have landed by then). ``RollupMark`` remembers up to where
each span is done; the process that advances it with a conditional update is the one that
counts the new buckets, in one ``INSERT … SELECT`` per table, inside the same transaction.
The only change to a counted run is a retry (failed → running): :func:`forget_run` takes it
back out of its bucket.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connections, transaction
from django.db.models import Count, F, QuerySet, UUIDField, Value
from django.db.models.functions import Trunc

from django_automate.models import Event, ExecutionRun, MetricKind, MetricRollup, RollupMark, RunStatus
from django_automate.observability.dashboard import histogram
from django_automate.observability.dashboard.windows import HORIZON, UTC, floor

SETTLE_SECONDS = 60
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
#: ``MetricRollup`` columns, by the annotation names the rollup queries select.
COLUMNS = {
    "r_span": "span",
    "r_bucket": "bucket_start",
    "r_kind": "kind",
    "r_workflow": "workflow_id",
    "r_status": "status",
    "r_duration": "duration_bucket",
    "r_count": "count",
}
TRUNC = {60: "minute", 3600: "hour"}


def ensure(span: int, now: dt.datetime, *, using: str) -> dt.datetime:
    """Roll up every settled bucket of ``span`` the dashboard may show; return where the rollups end.

    Everything from the returned moment on is not rolled up and must be counted live.
    """
    horizon = floor(now, span) - dt.timedelta(seconds=span * HORIZON[span])
    end = floor(now - dt.timedelta(seconds=SETTLE_SECONDS), span)
    mark = read_mark(span, using=using)
    if mark is None:
        RollupMark.objects.using(using).bulk_create(
            [RollupMark(span=span, rolled_until=horizon)], ignore_conflicts=True
        )
        mark = horizon
    start = max(mark, horizon)
    if end <= start:
        return mark
    with transaction.atomic(using=using):
        # The claim comes first: on SQLite it takes the write lock before anything is read.
        claimed = RollupMark.objects.using(using).filter(span=span, rolled_until=mark).update(rolled_until=end)
        if not claimed:  # another process rolled these buckets up meanwhile
            return RollupMark.objects.using(using).values_list("rolled_until", flat=True).get(span=span)
        insert(event_counts(span, start, end, using=using), using=using)
        insert(run_counts(span, start, end, using=using), using=using)
        MetricRollup.objects.using(using).filter(span=span, bucket_start__lt=horizon).delete()
    return end


def read_mark(span: int, *, using: str) -> dt.datetime | None:
    """Where the rollups of ``span`` end (``None`` before the first)."""
    return RollupMark.objects.using(using).filter(span=span).values_list("rolled_until", flat=True).first()


def event_counts(span: int, start: dt.datetime, end: dt.datetime, *, using: str) -> QuerySet[Event]:
    """Events received in ``[start, end)``, per bucket (the ``received_at`` index)."""
    return (
        Event.objects.using(using)
        .filter(received_at__gte=start, received_at__lt=end)
        .annotate(
            r_span=Value(span),
            r_bucket=Trunc("received_at", TRUNC[span], tzinfo=UTC),
            r_kind=Value(MetricKind.EVENT.value),
            r_workflow=Value(None, output_field=UUIDField()),
            r_status=Value(""),
            r_duration=Value(histogram.NO_DURATION),
        )
        .values(*list(COLUMNS)[:-1])
        .annotate(r_count=Count("pk"))
        .order_by()
    )


def run_counts(span: int, start: dt.datetime, end: dt.datetime, *, using: str) -> QuerySet[ExecutionRun]:
    """Runs finished in ``[start, end)`` per bucket, workflow, status and duration bucket (the finished index)."""
    return (
        ExecutionRun.objects.using(using)
        .filter(status__in=FINISHED, finished_at__gte=start, finished_at__lt=end)
        .annotate(
            r_span=Value(span),
            r_bucket=Trunc("finished_at", TRUNC[span], tzinfo=UTC),
            r_kind=Value(MetricKind.RUN.value),
            r_workflow=F("workflow_id"),
            r_status=F("status"),
            r_duration=histogram.bucket_expression(),
        )
        .values(*list(COLUMNS)[:-1])
        .annotate(r_count=Count("pk"))
        .order_by()
    )


def insert(queryset: QuerySet[Any], *, using: str) -> None:
    """``INSERT INTO automate_metricrollup (…) SELECT …``: the counts never travel through Python."""
    compiler = queryset.query.get_compiler(using)
    select_sql, params = compiler.as_sql()
    columns = [COLUMNS[alias] for _, _, alias in compiler.select]
    connection = connections[using]
    table = connection.ops.quote_name(MetricRollup._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names}) {select_sql}", params)


def forget_run(run: ExecutionRun, *, using: str) -> None:
    """Take a finished run that is about to run again (a retry) out of the buckets it was counted in."""
    if run.finished_at is None or run.status not in FINISHED:
        return
    marks = dict(RollupMark.objects.using(using).select_for_update().values_list("span", "rolled_until"))
    duration = (
        histogram.bucket_of(run.finished_at - run.started_at) if run.started_at is not None else histogram.NO_DURATION
    )
    for span, rolled_until in sorted(marks.items()):
        bucket = floor(run.finished_at, span)
        if bucket < rolled_until:
            MetricRollup.objects.using(using).filter(
                span=span,
                kind=MetricKind.RUN,
                bucket_start=bucket,
                workflow_id=run.workflow_id,
                status=run.status,
                duration_bucket=duration,
                count__gt=0,
            ).update(count=F("count") - 1)
