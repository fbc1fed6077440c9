"""Fenced writes: every state change by a worker is conditional on its lease token.

A worker whose lease expired (or was taken over) matches no row, so it changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from django_automate import conf, exceptions
from django_automate.internal import sql
from django_automate.models import JobStatus, OutboxJob
from django_automate.outbox.claim import ClaimedJob
from django_automate.outbox.notify import LATER_PAYLOAD, notify

#: ``last_error["code"]`` of a job whose processing raised (a bug, or a write the database rejects).
CRASHED = "internal_error"


def _held_update(job: ClaimedJob, using: str, values: dict[str, Any]) -> int:
    """Update the job if this worker still holds its lease (same token, claimed, unexpired); rows changed.

    Unexpired by the database's clock when the statement runs, not by the worker's when it was sent.
    """
    where = {"id": job.id, "lease_token": job.lease_token, "status": JobStatus.CLAIMED}
    where["lease_expires_at__gt"] = sql.DATABASE_NOW
    return sql.update(OutboxJob, using, where, values)


def heartbeat(job: ClaimedJob, *, using: str = "default") -> bool:
    """Extend the lease; ``False`` means the lease is lost and the worker must stop writing."""
    now = timezone.now()
    lease_until = now + dt.timedelta(seconds=conf.lease_seconds())
    return bool(_held_update(job, using, {"lease_expires_at": lease_until, "updated_at": now}))


def fence(job: ClaimedJob, *, using: str = "default") -> None:
    """Inside a transaction: lock the job row if we still hold it (extending the lease), else raise LeaseLost.

    The row lock lasts until commit, so recovery cannot hand the job to another worker
    between this check and the writes it guards.
    """
    if not heartbeat(job, using=using):
        raise exceptions.LeaseLost(details={"job_id": job.id})


def _finish(job: ClaimedJob, using: str, **values: Any) -> None:
    now = timezone.now()
    updated = _held_update(job, using, {"lease_token": None, "lease_expires_at": None, "updated_at": now, **values})
    if not updated:
        raise exceptions.LeaseLost(details={"job_id": job.id})


def complete(job: ClaimedJob, *, using: str = "default") -> None:
    _finish(job, using, status=JobStatus.DONE, finished_at=timezone.now(), last_error=None)


def complete_all(jobs: list[ClaimedJob], *, using: str = "default") -> None:
    """:func:`complete` for several jobs in one statement; LeaseLost unless every one of them is still held.

    The tokens are this worker's own (fresh UUIDs per claim), so a row matching any of them
    is one it holds.
    """
    if len(jobs) == 1:
        complete(jobs[0], using=using)
        return
    now = timezone.now()
    where = {
        "id__in": [job.id for job in jobs],
        "lease_token__in": list({job.lease_token for job in jobs}),
        "status": JobStatus.CLAIMED,
        "lease_expires_at__gt": sql.DATABASE_NOW,
    }
    values = {
        "lease_token": None,
        "lease_expires_at": None,
        "updated_at": now,
        "status": JobStatus.DONE,
        "finished_at": now,
        "last_error": None,
    }
    if sql.update(OutboxJob, using, where, values) != len(jobs):
        raise exceptions.LeaseLost(details={"job_ids": [job.id for job in jobs]})


def dead_letter(job: ClaimedJob, error: dict[str, Any], *, using: str = "default") -> None:
    _finish(job, using, status=JobStatus.DEAD, finished_at=timezone.now(), last_error=error)


def reschedule(
    job: ClaimedJob, available_at: dt.datetime, error: dict[str, Any] | None, *, using: str = "default"
) -> None:
    """Release the job to be claimed again at ``available_at`` (a retry); idle workers learn when."""
    _finish(job, using, status=JobStatus.READY, available_at=available_at, last_error=error, leased_by="")
    notify(using, LATER_PAYLOAD)


def crashes(job: ClaimedJob, *, using: str = "default") -> int:
    """How many claims of the job in a row ended in an unexpected error (counted in its ``last_error``).

    A retry or a budget deferral rescheduled in between records its own error, which starts the count again.
    """
    last = OutboxJob.objects.using(using).filter(id=job.id).values_list("last_error", flat=True).first()
    if isinstance(last, dict) and last.get("code") == CRASHED:
        return int(last.get("crashes") or 0)
    return 0


def release(job: ClaimedJob, *, using: str = "default") -> bool:
    """Give the job back untouched (graceful shutdown); ``False`` if it was no longer ours."""
    now = timezone.now()
    values = {
        "status": JobStatus.READY,
        "lease_token": None,
        "lease_expires_at": None,
        "leased_by": "",
        "updated_at": now,
    }
    return bool(_held_update(job, using, values))
