"""Metrics computed from the database at scrape time: the same truth from whichever process answers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from django_automate import conf
from django_automate.models import AuditEntry, Event, EventStatus, ExecutionRun, RunStatus, StepRun, StepStatus
from django_automate.observability import queries


def _by_status(
    name: str, documentation: str, counts: dict[tuple[Any, ...], int], labels: list[str], statuses: Iterable[str]
) -> GaugeMetricFamily:
    """A gauge with one series per (other labels, status), zero-filled so that series never vanish."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    groups = {key[:-1] for key in counts} or ({()} if len(labels) == 1 else set())
    for group in sorted(groups, key=str):
        for status in statuses:
            family.add_metric([*(str(v) for v in group), status], counts.get((*group, status), 0))
    return family


class DatabaseCollector:
    """A prometheus-client collector: outbox, events, runs, steps, workers and budget blocks.

    Its queries are grouped counts; ``AUTOMATE["METRICS_ROW_COUNTS"] = False`` leaves out the
    event, run and step counts when those tables are too large to count on every scrape. A
    database error yields ``automate_database_up 0`` instead of failing the whole scrape.
    """

    def __init__(self, *, using: str | None = None) -> None:
        self.using = using

    def describe(self) -> list[Metric]:
        return []  # computed at collect time only (no queries when the collector is registered)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("automate_database_up", "Whether the metrics queries could read the database.")
        try:
            families = list(self._families())
        except DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from self._outbox(now)
        yield from self._workers(now)
        if conf.metrics_row_counts():
            yield _by_status(
                "automate_events",
                "Stored events by source and routing status.",
                queries.grouped_counts(Event, "source", "status", using=self.using),
                ["source", "status"],
                EventStatus.values,
            )
            yield _by_status(
                "automate_runs",
                "Execution runs by status.",
                queries.grouped_counts(ExecutionRun, "status", using=self.using),
                ["status"],
                RunStatus.values,
            )
            yield _by_status(
                "automate_steps",
                "Step attempts by connector and status.",
                queries.grouped_counts(StepRun, "connector", "status", using=self.using),
                ["connector", "status"],
                StepStatus.values,
            )
        blocks = CounterMetricFamily(
            "automate_budget_exceeded",
            "Runs and steps stopped by an exhausted budget (audit entries budget.exceeded), by on_exceed.",
            labels=["on_exceed"],
        )
        entries = AuditEntry.objects.using(queries.alias(self.using)).filter(action="budget.exceeded")
        for on_exceed in ("block", "defer"):
            blocks.add_metric([on_exceed], entries.filter(data__on_exceed=on_exceed).count())
        yield blocks

    def _outbox(self, now: Any) -> Iterator[Metric]:
        stats = queries.outbox(now, using=self.using)
        jobs = GaugeMetricFamily("automate_outbox_jobs", "Outbox jobs by queue and status.", labels=["queue", "status"])
        depth = GaugeMetricFamily(
            "automate_outbox_depth", "Ready outbox jobs that are due (waiting for a worker).", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "automate_outbox_oldest_ready_age_seconds",
            "How long the oldest due ready job has been waiting (0 when none is).",
            labels=["queue"],
        )
        for queue in sorted(stats):
            row = stats[queue]
            for status in queries.OPEN_JOB_STATUSES:
                jobs.add_metric([queue, str(status)], getattr(row, str(status)))
            depth.add_metric([queue], row.due)
            age.add_metric([queue], row.oldest_due_age)
        yield from (jobs, depth, age)

    def _workers(self, now: Any) -> Iterator[Metric]:
        alive, stale = queries.workers(now, using=self.using)
        family = GaugeMetricFamily(
            "automate_workers", "Worker processes by heartbeat state (alive or stale).", labels=["state"]
        )
        family.add_metric(["alive"], alive)
        family.add_metric(["stale"], stale)
        yield family
