"""The dashboard's figures equal what the database says, over every window, cold and warm.

A known history is seeded (events at known ages, runs of three workflows with known statuses
and durations, ready/claimed/dead jobs, waiting runs); every figure is compared with an
independent ORM query over the window the dashboard reports.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_automate.models import (
    Event,
    ExecutionRun,
    JobKind,
    JobStatus,
    MetricRollup,
    OutboxJob,
    RollupMark,
    RunStatus,
    Workflow,
)
from django_automate.observability import dashboard
from django_automate.observability.dashboard import histogram, rollups
from django_automate.runs import operations

pytestmark = pytest.mark.django_db
_keys = itertools.count()
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
EVENT_AGES = [
    dt.timedelta(seconds=5),
    dt.timedelta(seconds=50),
    3 * MINUTE,
    3 * MINUTE,
    17 * MINUTE,
    58 * MINUTE,
    2 * HOUR,
    20 * HOUR,
    30 * HOUR,
    3 * 24 * HOUR,
    6 * 24 * HOUR,
    8 * 24 * HOUR,  # outside every window
]


def event_at(age: dt.timedelta, now: dt.datetime) -> Event:
    event = Event.objects.create(type="order.created", source="app", idempotency_key=f"k{next(_keys)}")
    Event.objects.filter(pk=event.pk).update(received_at=now - age)
    return event


class History:
    def __init__(self, now: dt.datetime, workflow_factory: Callable[..., Workflow]) -> None:
        self.now = now
        self.workflows = [workflow_factory(slug=slug, name=slug) for slug in ("billing", "orders", "ship")]
        self.carrier = event_at(8 * 24 * HOUR, now)  # the runs' event, outside every window
        self.seq = itertools.count()

    def run(
        self,
        workflow: Workflow,
        status: str,
        *,
        finished_ago: dt.timedelta | None = None,
        duration: dt.timedelta | None = None,
    ) -> ExecutionRun:
        finished = None if finished_ago is None else self.now - finished_ago
        started = None if finished is None or duration is None else finished - duration
        return ExecutionRun.objects.create(
            event=self.carrier,
            workflow=workflow,
            workflow_version=workflow.current_version,
            status=status,
            replay_seq=next(self.seq),
            started_at=started,
            finished_at=finished,
            waiting_until=self.now + HOUR if status == RunStatus.WAITING else None,
        )


def job(status: str, *, available_ago: dt.timedelta, run: ExecutionRun | None = None, queue: str = "default") -> None:
    now = timezone.now()
    OutboxJob.objects.create(
        kind=JobKind.EXECUTE_RUN if run else JobKind.ROUTE_EVENT,
        run=run,
        queue=queue,
        status=status,
        available_at=now - available_ago,
        trace_id=str(uuid.uuid4()),
    )


@pytest.fixture
def history(workflow_factory) -> History:
    now = timezone.now()
    history = History(now, workflow_factory)
    for age in EVENT_AGES:
        event_at(age, now)
    billing, orders, ship = history.workflows
    ms = dt.timedelta(milliseconds=1)
    for n, ago in enumerate([20 * dt.timedelta(seconds=1), 4 * MINUTE, 40 * MINUTE, 3 * HOUR, 2 * 24 * HOUR]):
        history.run(orders, RunStatus.SUCCEEDED, finished_ago=ago, duration=(100 + 150 * n) * ms)
        history.run(orders, RunStatus.SUCCEEDED, finished_ago=ago + MINUTE, duration=(120 + 900 * n) * ms)
        history.run(billing, RunStatus.FAILED, finished_ago=ago + 2 * MINUTE, duration=(3000 + 40 * n) * ms)
    history.run(billing, RunStatus.SUCCEEDED, finished_ago=10 * MINUTE, duration=2 * dt.timedelta(seconds=1))
    history.run(ship, RunStatus.CANCELLED, finished_ago=6 * MINUTE)  # never started: no duration
    history.run(ship, RunStatus.SUCCEEDED, finished_ago=9 * 24 * HOUR, duration=ms)  # outside every window
    for status in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING, RunStatus.WAITING):
        history.run(ship, status)
    job(JobStatus.READY, available_ago=dt.timedelta(seconds=90))
    job(JobStatus.READY, available_ago=-HOUR, queue="later")  # not due yet
    job(JobStatus.CLAIMED, available_ago=dt.timedelta(seconds=10))
    job(JobStatus.DEAD, available_ago=HOUR)
    return history


def expected(figures: dashboard.DashboardFigures) -> dict[str, Any]:
    """The figures recomputed from the tables, over the window the dashboard reports."""
    start, now = figures.start, figures.now
    finished = ExecutionRun.objects.filter(finished_at__gte=start, finished_at__lte=now)
    workflows = {}
    for workflow in Workflow.objects.all():
        runs = finished.filter(workflow=workflow)
        counts = {s: runs.filter(status=s).count() for s in ("succeeded", "failed", "cancelled")}
        if sum(counts.values()):
            durations = sorted(r.finished_at - r.started_at for r in runs.exclude(started_at=None))
            workflows[workflow.slug] = (counts, durations)
    due = OutboxJob.objects.filter(status=JobStatus.READY, available_at__lte=now).order_by("available_at").first()
    return {
        "events": Event.objects.filter(received_at__gte=start, received_at__lte=now).count(),
        "finished": {s: finished.filter(status=s).count() for s in ("succeeded", "failed", "cancelled")},
        "open": {s: ExecutionRun.objects.filter(status=s).count() for s in ("pending", "running", "waiting")},
        "workflows": workflows,
        "depth": OutboxJob.objects.filter(status__in=[JobStatus.READY, JobStatus.CLAIMED]).count(),
        "lag": (now - due.available_at).total_seconds() if due else 0.0,
    }


def nearest_rank(values: list[dt.timedelta], fraction: float) -> dt.timedelta:
    return values[max(math.ceil(fraction * len(values)), 1) - 1]


def assert_matches_database(figures: dashboard.DashboardFigures) -> None:
    want = expected(figures)
    assert figures.events_total == want["events"]
    assert figures.finished_totals == want["finished"]
    assert figures.open_runs == want["open"]
    assert figures.waiting_runs == want["open"]["waiting"]
    assert figures.queue_depth == want["depth"]
    assert figures.lag_seconds == pytest.approx(want["lag"], abs=0.01)
    assert {w.slug: w.finished for w in figures.workflows} == {s: c for s, (c, _) in want["workflows"].items()}
    for workflow in figures.workflows:
        counts, durations = want["workflows"][workflow.slug]
        decided = counts["succeeded"] + counts["failed"]
        assert workflow.failure_rate == (counts["failed"] / decided if decided else None)
        for fraction in (0.5, 0.95):
            bucket = workflow.percentile_bucket(fraction)
            if not durations:
                assert bucket is None
                continue
            true_ms = nearest_rank(durations, fraction) / dt.timedelta(milliseconds=1)
            lower, upper = histogram.bounds_ms(bucket)  # type: ignore[arg-type]
            assert lower <= true_ms < upper, (workflow.slug, fraction, true_ms, lower, upper)


def test_window_starts_where_its_first_bucket_starts(history):
    now = history.now
    for name, span, buckets in (("1h", 60, 60), ("24h", 3600, 24), ("7d", 3600, 168)):
        figures = dashboard.build(dashboard.parse_window(name), now=now)
        epoch = int(now.timestamp())
        first = dt.datetime.fromtimestamp(epoch - epoch % span - span * (buckets - 1), tz=dt.timezone.utc)
        assert figures.start == first
        assert len(figures.events) == len(figures.bucket_starts) == buckets
        assert figures.bucket_starts[-1] <= now < figures.bucket_starts[-1] + dt.timedelta(seconds=span)


@pytest.mark.parametrize("name", ["1h", "24h", "7d"])
def test_figures_equal_database_counts_cold_and_warm(history, name):
    window = dashboard.parse_window(name)
    cold = dashboard.build(window, now=history.now)
    assert MetricRollup.objects.filter(span=window.span).exists()  # the settled buckets were rolled up
    assert_matches_database(cold)
    assert (cold.waiting_runs, cold.dead_letters) == (2, 1)
    warm = dashboard.build(window, now=history.now)
    assert (warm.events, warm.finished_runs) == (cold.events, cold.finished_runs)
    assert_matches_database(warm)


@pytest.mark.parametrize("name", ["1h", "24h", "7d"])
def test_events_per_bucket_match_received_times(history, name):
    figures = dashboard.build(dashboard.parse_window(name), now=history.now)
    span = figures.window.span
    per_bucket = [0] * len(figures.bucket_starts)
    for received in Event.objects.filter(received_at__gte=figures.start, received_at__lte=figures.now).values_list(
        "received_at", flat=True
    ):
        per_bucket[int((received - figures.start).total_seconds()) // span] += 1
    assert figures.events == per_bucket
    assert figures.events_per_minute == pytest.approx(sum(per_bucket) / ((figures.now - figures.start) / MINUTE))


def test_data_arriving_after_the_rollup_is_counted(history):
    window = dashboard.parse_window("24h")
    dashboard.build(window, now=history.now)
    billing = history.workflows[0]
    later = history.now + 2 * MINUTE
    event_at(-2 * MINUTE + dt.timedelta(seconds=1), history.now)
    history.run(billing, RunStatus.FAILED, finished_ago=-MINUTE, duration=dt.timedelta(seconds=1))
    assert_matches_database(dashboard.build(window, now=later))


@pytest.mark.parametrize(("name", "earlier"), [("7d", 37 * HOUR), ("24h", 5 * HOUR), ("1h", 23 * MINUTE)])
def test_rollups_made_in_several_steps_add_up_like_one(history, name, earlier):
    """Blocks of 4 and 16 buckets closing in a later rollup sum buckets counted by an earlier one."""
    window = dashboard.parse_window(name)
    dashboard.build(window, now=history.now - earlier)
    assert_matches_database(dashboard.build(window, now=history.now))


def test_a_retried_run_leaves_its_failed_bucket_and_its_dead_letter_stops_counting(history):
    orders = history.workflows[1]
    failed = history.run(orders, RunStatus.FAILED, finished_ago=30 * MINUTE, duration=dt.timedelta(seconds=4))
    job(JobStatus.DEAD, available_ago=HOUR, run=failed)
    window = dashboard.parse_window("1h")
    before = dashboard.build(window, now=history.now)
    dashboard.build(dashboard.parse_window("7d"), now=history.now)  # hourly rollups hold it too
    assert before.dead_letters == 2
    assert next(w for w in before.workflows if w.slug == "orders").finished["failed"] == 1

    operations.retry_run(failed, actor="ops")

    for name in ("1h", "7d"):
        after = dashboard.build(dashboard.parse_window(name), now=history.now)
        assert next(w for w in after.workflows if w.slug == "orders").finished["failed"] == 0
        assert after.dead_letters == 1  # the retried run's job is superseded; the other dead job remains
        assert_matches_database(after)


@pytest.mark.parametrize(("name", "ago"), [("7d", 50 * HOUR), ("24h", 9 * HOUR), ("1h", 40 * MINUTE)])
def test_a_retried_run_leaves_the_larger_blocks_too(history, workflow_factory, name, ago):
    refunds = workflow_factory(slug="refunds", name="refunds")
    failed = history.run(refunds, RunStatus.FAILED, finished_ago=ago, duration=dt.timedelta(seconds=9))
    window = dashboard.parse_window(name)
    dashboard.build(window, now=history.now)
    larger = MetricRollup.objects.filter(span__gt=window.span, workflow=refunds, count=1)
    assert set(larger.values_list("kind", flat=True)) == {"run", "duration"}  # counted in a block of 4 or 16 buckets
    operations.retry_run(failed, actor="ops")
    assert not MetricRollup.objects.filter(workflow=refunds, count__gt=0).exists()
    after = dashboard.build(window, now=history.now)
    assert "refunds" not in {w.slug for w in after.workflows}
    assert_matches_database(after)


def test_a_process_that_read_an_old_mark_does_not_count_the_buckets_again(history, monkeypatch):
    window = dashboard.parse_window("7d")
    now = history.now
    stale = rollups.read_mark(3600, using="default")
    dashboard.build(window, now=now)  # another process claims and rolls up those buckets first
    rows = MetricRollup.objects.count()
    monkeypatch.setattr(rollups, "read_mark", lambda span, using: stale)
    assert_matches_database(dashboard.build(window, now=now + HOUR))
    assert MetricRollup.objects.count() == rows


def test_query_count_does_not_depend_on_the_window(history):
    def queries(name: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            dashboard.build(dashboard.parse_window(name), now=history.now)
        return len(captured.captured_queries)

    cold = {name: queries(name) for name in ("1h", "24h")}
    MetricRollup.objects.all().delete()
    RollupMark.objects.filter(span=3600).delete()
    cold["7d"] = queries("7d")
    warm = {name: queries(name) for name in ("1h", "24h", "7d")}
    assert len(set(warm.values())) == 1, warm
    assert len(set(cold.values())) == 1, cold
    assert warm["1h"] == 11  # docs/admin.md promises it


@pytest.mark.django_db(transaction=True)
def test_two_views_racing_for_the_same_buckets_count_them_once(workflow_factory, monkeypatch):
    """Both read the same mark, then both try to claim: one rolls up, the other counts on its rows."""
    now = timezone.now()
    history = History(now, workflow_factory)
    for age in EVENT_AGES:
        event_at(age, now)
    for n in range(6):
        history.run(history.workflows[n % 3], RunStatus.SUCCEEDED, finished_ago=n * 7 * HOUR, duration=n * HOUR / 900)
    read_mark = rollups.read_mark
    both_read = threading.Barrier(2, timeout=30)

    def read_then_wait(span: int, *, using: str) -> dt.datetime | None:
        mark = read_mark(span, using=using)
        both_read.wait()
        return mark

    monkeypatch.setattr(rollups, "read_mark", read_then_wait)
    results: list[dashboard.DashboardFigures] = []
    errors: list[BaseException] = []

    def view() -> None:
        try:
            results.append(dashboard.build(dashboard.parse_window("7d"), now=now))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=view) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert RollupMark.objects.count() == 1
    monkeypatch.setattr(rollups, "read_mark", read_mark)
    for figures in results:
        assert_matches_database(figures)
    assert_matches_database(dashboard.build(dashboard.parse_window("7d"), now=now))
