"""The worker's ``backfill`` job: one batch of a backfill, then the job of the next one.

A batch reads the next ``BACKFILL_BATCH_SIZE`` events after the cursor, starts the runs their
current rules match (as ``replay_event`` would), advances the cursor and enqueues the next
batch's job, all in one transaction fenced by the job's lease: a worker killed mid-batch
leaves nothing of it, and the recovered job does the batch again. The next job is due when
the batch's events fit ``BACKFILL_EVENTS_PER_SECOND``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from typing import Any

from django.db import transaction
from django.utils import timezone

from django_automate import conf, exceptions
from django_automate.audit import log as audit
from django_automate.models import Backfill, BackfillStatus, JobKind
from django_automate.models.backfill import ACTIVE_STATUSES
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.outbox.enqueue import enqueue, enqueue_claimed
from django_automate.rules import generation
from django_automate.runs.backfill import filters, planning
from django_automate.runs.starting import start_runs
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)


def run_batch(job: ClaimedJob, *, using: str = "default", worker_id: str | None = None) -> ClaimedJob | None:
    """Process a ``backfill`` job (called by the worker with the job's trace context bound).

    With ``worker_id`` (``manage.py automate replay`` processing a backfill itself), the next
    batch's job is created claimed by it and returned; ``None`` once there is no next batch.
    Should that process die, the job's lease expires and any worker carries on.
    """
    began = timezone.now()
    with transaction.atomic(using=using):
        # The backfill's row first, then the job's: the order ``services.cancel`` takes them in.
        backfill = Backfill.objects.using(using).select_for_update().filter(job_id=job.id).first()
        lease.fence(job, using=using)
        if backfill is None or backfill.status not in ACTIVE_STATUSES:
            lease.complete(job, using=using)  # cancelled meanwhile, or superseded by a resume
            return None
        try:
            with transaction.atomic(using=using):
                finished = _batch(backfill, using)
        except exceptions.LeaseLost:
            raise
        except exceptions.AutomateError as exc:
            lease.complete(job, using=using)
            backfill.refresh_from_db(using=using)  # the batch's writes were rolled back
            _stop(
                backfill, BackfillStatus.FAILED, using, error={"code": exc.code, "message": exc.message, **exc.details}
            )
            logger.warning("Backfill %s failed: %s", backfill.pk, exc.message, extra=log_extra("backfill_failed"))
            return None
        lease.complete(job, using=using)
        if finished:
            _stop(backfill, BackfillStatus.DONE, using)
            logger.info("Backfill %s done", backfill.pk, extra=log_extra("backfill_done"))
            return None
        backfill.status = BackfillStatus.RUNNING
        following = None
        if worker_id is not None:  # its process paces itself (see ``next_batch_at``)
            following = enqueue_claimed(
                JobKind.BACKFILL,
                worker_id=worker_id,
                trace_id=backfill.trace_id,
                tenant=backfill.tenant,
                queue=conf.backfill_queue(),
                using=using,
            )
            backfill.job_id = following.id
        else:
            backfill.job = enqueue(
                JobKind.BACKFILL,
                trace_id=backfill.trace_id,
                tenant=backfill.tenant,
                queue=conf.backfill_queue(),
                available_at=next_batch_at(began),
                using=using,
            )
        backfill.save(using=using)
    return following


def job_dead(job: ClaimedJob, error: dict[str, Any], *, using: str = "default") -> None:
    """The worker dead-lettered the backfill's job (it crashed ``MAX_JOB_CRASHES`` times): the backfill fails.

    Called in the transaction that dead-letters the job; ``resume`` continues from the cursor.
    """
    backfill = Backfill.objects.using(using).select_for_update().filter(job_id=job.id).first()
    if backfill is not None and backfill.status in ACTIVE_STATUSES:
        _stop(backfill, BackfillStatus.FAILED, using, error=error)


def _batch(backfill: Backfill, using: str) -> bool:
    """Replay the next batch after the cursor and advance it; whether the backfill is finished."""
    size = conf.backfill_batch_size()
    selection = filters.select(filters.from_json(backfill.filter), backfill.tenant, redacted=backfill.redacted)
    after = None
    if backfill.cursor_received_at is not None and backfill.cursor_event_id is not None:
        after = (backfill.cursor_received_at, backfill.cursor_event_id)
    events = next(selection.chunks(after=after, size=size, using=using), [])
    generations = generation.read(backfill.tenant, using=using)
    planned = [
        (event, planning.plan(event, using=using, generations=generations))
        for event in events
        if selection.matches(event)
    ]
    runs = planning.replay_runs(planned, using=using)
    start_runs(runs, using=using)
    by_workflow = Counter(run.workflow.slug for run in runs)
    backfill.workflows = dict(Counter(backfill.workflows) + by_workflow)
    backfill.processed += len(events)
    backfill.matched += len(planned)
    backfill.started += len(runs)
    if events:
        backfill.cursor_received_at, backfill.cursor_event_id = events[-1].received_at, events[-1].id
    backfill.save(using=using)
    return len(events) < size


def next_batch_at(began: dt.datetime) -> dt.datetime | None:
    """When the batch after one that began at ``began`` may start to keep ``BACKFILL_EVENTS_PER_SECOND``.

    ``None``: at once (no limit).
    """
    rate = conf.backfill_events_per_second()
    if rate is None:
        return None
    return began + dt.timedelta(seconds=conf.backfill_batch_size() / rate)


def _stop(backfill: Backfill, status: str, using: str, error: dict[str, Any] | None = None) -> None:
    backfill.status, backfill.job, backfill.error, backfill.finished_at = status, None, error, timezone.now()
    backfill.save(using=using)
    audit.record(
        "backfill.finished" if status == BackfillStatus.DONE else "backfill.failed",
        object_type="backfill",
        object_id=str(backfill.pk),
        tenant=backfill.tenant,
        trace_id=backfill.trace_id,
        data={
            "processed": backfill.processed,
            "matched": backfill.matched,
            "started": backfill.started,
            "workflows": backfill.workflows,
            **({"error": error} if error else {}),
        },
        using=using,
    )
