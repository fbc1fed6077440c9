"""What the dashboard shows over one window, from rollups of the settled buckets and live counts of the rest.

The number of queries is the same for every window (eleven once the rollups are current):
the rollup mark; events from rollups and live; finished runs from rollups (per bucket and
status, per workflow and status, per workflow and duration) and live; open runs by status;
the outbox backlog (two) and its dead letters. Each reads an index range (``received_at``,
``(status, finished_at)``, the rollup and claim indexes); per-workflow rows come from the
fewest rollup blocks that tile the window (about twenty for a week).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q, Sum
from django.db.models.functions import Trunc
from django.utils import timezone

from django_automate.models import Event, ExecutionRun, MetricKind, MetricRollup, RunStatus
from django_automate.observability import queries
from django_automate.observability.dashboard import histogram, rollups
from django_automate.observability.dashboard.windows import LEVELS, UTC, Window, blocks, floor

OPEN = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING)


@dataclass
class WorkflowFigures:
    """Finished runs of one workflow in the window; ``durations`` counts runs per histogram bucket."""

    workflow_id: str
    slug: str
    tenant: str
    finished: dict[str, int] = field(default_factory=lambda: dict.fromkeys(rollups.FINISHED, 0))
    durations: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def failure_rate(self) -> float | None:
        """Failed among succeeded and failed (cancelled runs neither succeeded nor failed)."""
        decided = self.finished[RunStatus.SUCCEEDED] + self.finished[RunStatus.FAILED]
        return self.finished[RunStatus.FAILED] / decided if decided else None

    def percentile_bucket(self, fraction: float) -> int | None:
        return histogram.percentile_bucket(self.durations, fraction)

    def percentile_ms(self, fraction: float) -> float | None:
        bucket = self.percentile_bucket(fraction)
        return None if bucket is None else histogram.representative_ms(bucket)


@dataclass
class DashboardFigures:
    window: Window
    now: dt.datetime
    start: dt.datetime
    bucket_starts: list[dt.datetime]
    events: list[int]
    finished_runs: dict[str, list[int]]
    open_runs: dict[str, int]
    workflows: list[WorkflowFigures]
    queues: dict[str, queries.QueueStats]
    #: Dead jobs whose work is still dead: not those of a run retried since (running again, or dead again later).
    dead_letters: int

    @property
    def events_total(self) -> int:
        return sum(self.events)

    @property
    def events_per_minute(self) -> float:
        minutes = max((self.now - self.start).total_seconds() / 60, 1.0)
        return self.events_total / minutes

    @property
    def finished_totals(self) -> dict[str, int]:
        return {status: sum(counts) for status, counts in self.finished_runs.items()}

    @property
    def waiting_runs(self) -> int:
        return self.open_runs[RunStatus.WAITING]

    @property
    def queue_depth(self) -> int:
        """Jobs ready (due or scheduled) or being worked on."""
        return sum(row.ready + row.claimed for row in self.queues.values())

    @property
    def due_jobs(self) -> int:
        return sum(row.due for row in self.queues.values())

    @property
    def lag_seconds(self) -> float:
        """How long the oldest due job has been waiting for a worker."""
        return max((row.oldest_due_age for row in self.queues.values()), default=0.0)


def build(window: Window, *, now: dt.datetime | None = None, using: str | None = None) -> DashboardFigures:
    """Every figure of the dashboard over ``window`` (ending ``now``)."""
    db = queries.alias(using)
    now = now or timezone.now()
    start = window.start(now)
    rolled_until = rollups.ensure(window.span, now, using=db)
    live_from = max(rolled_until, start)
    starts = window.bucket_starts(now)
    index = {moment: n for n, moment in enumerate(starts)}
    events = [0] * len(starts)
    finished: dict[str, list[int]] = {status: [0] * len(starts) for status in rollups.FINISHED}
    workflows: dict[str, WorkflowFigures] = {}

    rollups_of = MetricRollup.objects.using(db).filter
    closed = {"bucket_start__gte": start, "bucket_start__lt": live_from}
    events_rolled = rollups_of(span=window.span, kind=MetricKind.EVENT, **closed)
    for bucket, n in events_rolled.values_list("bucket_start").annotate(Sum("count")).order_by():
        _add(events, index, bucket, window.span, n)
    live_events = Event.objects.using(db).filter(received_at__gte=live_from, received_at__lte=now)
    live_buckets = live_events.annotate(b=_trunc("received_at", window)).values_list("b").annotate(Count("pk"))
    for bucket, n in live_buckets.order_by():
        _add(events, index, bucket, window.span, n)

    by_status = rollups_of(span=window.span, kind=MetricKind.STATUS, **closed)
    for bucket, status, n in by_status.values_list("bucket_start", "status").annotate(Sum("count")).order_by():
        _add(finished[status], index, bucket, window.span, n)
    in_blocks = _blocks(window, start, live_from)
    per_workflow = rollups_of(in_blocks, kind=MetricKind.RUN).values_list(
        "workflow_id", "workflow__slug", "workflow__tenant", "status"
    )
    for workflow_id, slug, tenant, status, n in per_workflow.annotate(Sum("count")).order_by():
        _count(workflows, workflow_id, slug, tenant, status, histogram.NO_DURATION, n)
    durations = rollups_of(in_blocks, kind=MetricKind.DURATION).values_list("workflow_id", "duration_bucket")
    for workflow_id, duration, n in durations.annotate(Sum("count")).order_by():
        if str(workflow_id) in workflows and duration != histogram.NO_DURATION:
            workflows[str(workflow_id)].durations[duration] += int(n)
    live_runs = (
        ExecutionRun.objects.using(db)
        .filter(status__in=rollups.FINISHED, finished_at__gte=live_from, finished_at__lte=now)
        .annotate(b=_trunc("finished_at", window), d=histogram.bucket_expression())
        .values_list("b", "workflow_id", "workflow__slug", "workflow__tenant", "status", "d")
        .annotate(Count("pk"))
        .order_by()
    )
    for bucket, workflow_id, slug, tenant, status, duration, n in live_runs:
        _add(finished[status], index, bucket, window.span, n)
        _count(workflows, workflow_id, slug, tenant, status, duration, n)

    open_runs: dict[str, int] = dict.fromkeys(OPEN, 0)
    open_rows = ExecutionRun.objects.using(db).filter(status__in=OPEN).values_list("status").annotate(Count("pk"))
    open_runs.update(dict(open_rows.order_by()))
    queues = dict(sorted(queries.outbox(now, using=db).items()))
    return DashboardFigures(
        window=window,
        now=now,
        start=start,
        bucket_starts=starts,
        events=events,
        finished_runs=finished,
        open_runs=open_runs,
        workflows=sorted(workflows.values(), key=lambda w: (w.tenant, w.slug)),
        queues=queues,
        dead_letters=sum(row.dead for row in queues.values()),  # still dead (``outbox.dead``), per queue
    )


def _blocks(window: Window, start: dt.datetime, end: dt.datetime) -> Q:
    """Rollup rows of the fewest blocks that tile ``[start, end)`` (an empty range still makes a query)."""
    spans: dict[int, list[dt.datetime]] = defaultdict(list)
    for span, moment in blocks(start, end, LEVELS[window.span]):
        spans[span].append(moment)
    if not spans:
        return Q(span=window.span, bucket_start__gte=start, bucket_start__lt=start)
    where = Q()
    for span, moments in spans.items():
        where |= Q(span=span, bucket_start__in=moments)
    return where


def _trunc(column: str, window: Window) -> Trunc:
    return Trunc(column, window.trunc_kind, tzinfo=UTC)


def _add(series: list[int], index: dict[dt.datetime, int], bucket: dt.datetime, span: int, n: int) -> None:
    position = index.get(floor(bucket.astimezone(UTC), span))
    if position is not None:
        series[position] += int(n)


def _count(
    workflows: dict[str, WorkflowFigures],
    workflow_id: object,
    slug: str | None,
    tenant: str | None,
    status: str,
    duration: int,
    n: int,
) -> None:
    if not n:  # a retried run's decrement leaves zeros behind
        return
    key = str(workflow_id)
    figures = workflows.get(key)
    if figures is None:
        figures = workflows[key] = WorkflowFigures(key, slug or "(deleted)", tenant or "")
    figures.finished[status] = figures.finished.get(status, 0) + int(n)
    if duration != histogram.NO_DURATION:
        figures.durations[duration] += int(n)


__all__ = ["OPEN", "DashboardFigures", "WorkflowFigures", "build"]
