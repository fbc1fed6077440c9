"""Writing jobs in the caller's transaction, and waking workers once it commits."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from django_automate import conf
from django_automate.internal import sql
from django_automate.models import JobKind, JobStatus, OutboxJob
from django_automate.outbox import handoff
from django_automate.outbox.claim import ClaimedJob
from django_automate.outbox.notify import LATER_PAYLOAD, notify

if TYPE_CHECKING:
    from django_automate.models import Event, ExecutionRun


def enqueue(
    kind: JobKind,
    *,
    trace_id: str,
    tenant: str = "",
    event: Event | None = None,
    run: ExecutionRun | None = None,
    step_id: str = "",
    queue: str = "default",
    priority: int = 0,
    available_at: dt.datetime | None = None,
    using: str = "default",
) -> OutboxJob:
    """Create a job in the current transaction of ``using``; it becomes visible when that commits."""
    job = new_job(
        kind,
        trace_id=trace_id,
        tenant=tenant,
        event=event,
        run=run,
        queue=queue,
        priority=priority,
        available_at=available_at,
    )
    job.step_id = step_id
    sql.insert(job, using)
    notify(using, queue if job.available_at <= timezone.now() else LATER_PAYLOAD)
    backend = conf.execution_backend()
    if backend != "database":
        transaction.on_commit(lambda: handoff.after_commit(job.pk, backend=backend, using=using), using=using)
    return job


def enqueue_runs(
    runs: list[ExecutionRun],
    *,
    queue: str = "default",
    using: str = "default",
    priorities: list[int] | None = None,
) -> None:
    """:func:`enqueue` an ``execute_run`` job for each run, in as few statements as the setup allows.

    With the database backend and no ``pre_save``/``post_save`` receiver on OutboxJob, the
    jobs go in with one multi-row INSERT and one NOTIFY; otherwise each through :func:`enqueue`.
    ``priorities`` (one per run) are the jobs' priorities, 0 without it.
    """
    ranks = priorities or [0] * len(runs)
    if len(runs) < 2 or conf.execution_backend() != "database" or sql.has_save_receivers(OutboxJob):
        for run, rank in zip(runs, ranks, strict=True):
            enqueue(
                JobKind.EXECUTE_RUN,
                run=run,
                tenant=run.tenant,
                trace_id=run.trace_id,
                queue=queue,
                priority=rank,
                using=using,
            )
        return
    now = timezone.now()
    jobs = [
        new_job(
            JobKind.EXECUTE_RUN,
            run=run,
            tenant=run.tenant,
            trace_id=run.trace_id,
            queue=queue,
            priority=rank,
            available_at=now,
        )
        for run, rank in zip(runs, ranks, strict=True)
    ]
    OutboxJob.objects.using(using).bulk_create(jobs)
    notify(using, queue)


def new_job(
    kind: JobKind,
    *,
    trace_id: str,
    tenant: str = "",
    event: Event | None = None,
    run: ExecutionRun | None = None,
    queue: str = "default",
    priority: int = 0,
    available_at: dt.datetime | None = None,
) -> OutboxJob:
    """A ready job, not saved yet."""
    return OutboxJob(
        kind=kind,
        tenant=tenant,
        queue=queue,
        priority=priority,
        event=event,
        run=run,
        trace_id=trace_id,
        available_at=available_at or timezone.now(),
    )


def enqueue_claimed(
    kind: JobKind,
    *,
    worker_id: str,
    trace_id: str,
    tenant: str = "",
    run: ExecutionRun | None = None,
    queue: str = "default",
    priority: int = 0,
    using: str = "default",
) -> ClaimedJob:
    """Create a job already claimed by ``worker_id``, in the current transaction: a hand-off.

    The worker that writes it processes it right after the commit, without a claim round
    trip, a NOTIFY or another worker waking up. It is an ordinary claimed job with a fresh
    lease token: if that worker dies first, the lease expires and any worker recovers it.
    """
    now = timezone.now()
    token = uuid.uuid4()
    job = new_job(kind, trace_id=trace_id, tenant=tenant, run=run, queue=queue, priority=priority, available_at=now)
    job.status, job.attempts, job.lease_token, job.leased_by = JobStatus.CLAIMED, 1, token, worker_id
    job.lease_expires_at = now + dt.timedelta(seconds=conf.lease_seconds())
    sql.insert(job, using)
    return ClaimedJob(
        id=job.pk,
        kind=kind.value,
        lease_token=token,
        attempts=1,
        trace_id=trace_id,
        tenant=tenant,
        event_id=None,
        run_id=run.pk if run is not None else None,
    )
