"""Writing jobs in the caller's transaction, and waking workers once it commits."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import connections, transaction
from django.utils import timezone

from django_automate import conf
from django_automate.models import JobKind, OutboxJob

if TYPE_CHECKING:
    from django_automate.models import Event, ExecutionRun

NOTIFY_CHANNEL = "automate_jobs"


def enqueue(
    kind: JobKind,
    *,
    trace_id: str,
    tenant: str = "",
    event: Event | None = None,
    run: ExecutionRun | None = None,
    queue: str = "default",
    priority: int = 0,
    available_at: dt.datetime | None = None,
    using: str = "default",
) -> OutboxJob:
    """Create a job in the current transaction of ``using``; it becomes visible when that commits."""
    job = OutboxJob.objects.using(using).create(
        kind=kind,
        tenant=tenant,
        queue=queue,
        priority=priority,
        event=event,
        run=run,
        trace_id=trace_id,
        available_at=available_at or timezone.now(),
    )
    connection = connections[using]
    if connection.vendor == "postgresql":
        # NOTIFY is transactional: listeners hear it only if the job commits.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, queue])
    backend = conf.execution_backend()
    if backend != "database":
        from django_automate.worker import backends

        transaction.on_commit(lambda: backends.dispatch(job.pk, backend=backend, using=using), using=using)
    return job
