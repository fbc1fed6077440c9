"""Claiming ready jobs: ``SELECT … FOR UPDATE SKIP LOCKED`` where supported, a conditional update elsewhere."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from django_automate import conf
from django_automate.models import JobStatus, OutboxJob

CANDIDATES = 8


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds; ``lease_token`` fences every later write."""

    id: int
    kind: str
    lease_token: uuid.UUID
    attempts: int
    trace_id: str
    tenant: str
    event_id: uuid.UUID | None
    run_id: uuid.UUID | None


def _lease_until(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=conf.lease_seconds())


def _ready(using: str, queues: list[str], now: dt.datetime):  # type: ignore[no-untyped-def]
    return (
        OutboxJob.objects.using(using)
        .filter(status=JobStatus.READY, queue__in=queues, available_at__lte=now)
        .order_by("-priority", "available_at", "id")
    )


def claim_one(*, worker_id: str, queues: list[str], using: str = "default") -> ClaimedJob | None:
    """Claim the oldest ready job of ``queues`` with a fresh lease token, or return ``None``."""
    now = timezone.now()
    token = uuid.uuid4()
    values = {
        "status": JobStatus.CLAIMED,
        "lease_token": token,
        "leased_by": worker_id,
        "lease_expires_at": _lease_until(now),
        "updated_at": now,
        "attempts": F("attempts") + 1,
    }
    if connections[using].features.has_select_for_update_skip_locked:
        with transaction.atomic(using=using):
            # A few candidates, not one: MariaDB applies LIMIT before skipping locked rows, so
            # "LIMIT 1 … SKIP LOCKED" finds nothing while another worker holds the oldest job.
            candidates = _ready(using, queues, now).select_for_update(skip_locked=True).values_list("id", flat=True)
            job_id = next(iter(candidates[:CANDIDATES]), None)
            if job_id is None:
                return None
            OutboxJob.objects.using(using).filter(id=job_id).update(**values)
    else:
        # Single-writer backends (SQLite): a conditional update decides who wins a candidate.
        for job_id in _ready(using, queues, now).values_list("id", flat=True)[:5]:
            if OutboxJob.objects.using(using).filter(id=job_id, status=JobStatus.READY).update(**values):
                break
        else:
            return None
    return _claimed(job_id, token, using)


def claim_by_id(job_id: int, *, worker_id: str, using: str = "default") -> ClaimedJob | None:
    """Claim one specific job if it is ready (Celery and inline backends); ``None`` if someone else has it."""
    now = timezone.now()
    token = uuid.uuid4()
    updated = (
        OutboxJob.objects.using(using)
        .filter(id=job_id, status=JobStatus.READY, available_at__lte=now)
        .update(
            status=JobStatus.CLAIMED,
            lease_token=token,
            leased_by=worker_id,
            lease_expires_at=_lease_until(now),
            updated_at=now,
            attempts=F("attempts") + 1,
        )
    )
    return _claimed(job_id, token, using) if updated else None


def _claimed(job_id: int, token: uuid.UUID, using: str) -> ClaimedJob:
    job = OutboxJob.objects.using(using).get(id=job_id)
    return ClaimedJob(job.id, job.kind, token, job.attempts, job.trace_id, job.tenant, job.event_id, job.run_id)


def recover_expired(*, using: str = "default") -> int:
    """Make jobs whose lease expired claimable again; clearing the token fences the old holder out."""
    return (
        OutboxJob.objects.using(using)
        .filter(status=JobStatus.CLAIMED, lease_expires_at__lt=timezone.now())
        .update(
            status=JobStatus.READY, lease_token=None, leased_by="", lease_expires_at=None, updated_at=timezone.now()
        )
    )
