"""The database questions health checks and metrics ask: outbox backlog, worker liveness, row counts."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import router
from django.db.models import Count, Min, Model

from django_automate import conf
from django_automate.models import JobStatus, OutboxJob, WorkerHeartbeat
from django_automate.outbox import dead

#: Outbox statuses worth counting (``done`` and ``cancelled`` only grow); ``dead`` counts only the
#: dead letters nothing has retried since (:func:`django_automate.outbox.dead.still_dead`).
OPEN_JOB_STATUSES = (JobStatus.READY, JobStatus.CLAIMED, JobStatus.DEAD)


def alias(using: str | None = None) -> str:
    """The database the app's tables are read from (the router decides, like everywhere else)."""
    return using or router.db_for_read(OutboxJob) or "default"


@dataclass
class QueueStats:
    """One queue's backlog; ``due`` counts ready jobs whose ``available_at`` has passed."""

    ready: int = 0
    due: int = 0
    claimed: int = 0
    dead: int = 0
    oldest_due_age: float = 0.0  # seconds the oldest due job has been waiting


def outbox(now: dt.datetime, *, using: str | None = None) -> dict[str, QueueStats]:
    """Backlog per queue, in three grouped queries (the first two served by the claim index)."""
    db = alias(using)
    stats: dict[str, QueueStats] = defaultdict(QueueStats)
    rows = (
        OutboxJob.objects.using(db)
        .filter(status__in=(JobStatus.READY, JobStatus.CLAIMED))
        .values_list("queue", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for queue, status, n in rows:
        setattr(stats[queue], str(status), n)
    due = (
        OutboxJob.objects.using(db)
        .filter(status=JobStatus.READY, available_at__lte=now)
        .values_list("queue")
        .annotate(n=Count("id"), oldest=Min("available_at"))
        .order_by()
    )
    for queue, n, oldest in due:
        stats[queue].due = n
        stats[queue].oldest_due_age = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    for queue, n in dead.dead_counts(OutboxJob.objects.using(db)).items():
        stats[queue].dead = n
    return dict(stats)


def workers(now: dt.datetime, *, using: str | None = None) -> tuple[int, int]:
    """``(alive, stale)``: running workers with a fresh heartbeat, and those silent for too long."""
    cutoff = now - dt.timedelta(seconds=conf.health_worker_stale_seconds())
    running = WorkerHeartbeat.objects.using(alias(using)).filter(stopped_at__isnull=True)
    alive = running.filter(last_seen_at__gte=cutoff).count()
    stale = running.filter(last_seen_at__lt=cutoff).count()
    return alive, stale


def grouped_counts(model: type[Model], *fields: str, using: str | None = None) -> dict[tuple[Any, ...], int]:
    """Row counts of ``model`` grouped by ``fields`` (one ``GROUP BY`` query)."""
    rows = model._default_manager.using(alias(using)).values_list(*fields).annotate(n=Count("pk")).order_by()
    return {tuple(row[:-1]): int(row[-1]) for row in rows}
