"""``automate prune-events``: delete old events (and with them their idempotency keys).

Never deleted: events younger than the retention, events with a ready or claimed job
(routing not finished), events with a run that is not finished, and events whose runs still
have a ready or claimed job (a retry on its way). Pruning is the only thing that makes an
idempotency key usable again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from django_automate import conf
from django_automate.audit import log as audit_log
from django_automate.models import Event, ExecutionRun, JobStatus, OutboxJob, RunStatus
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

HELP = "Delete events older than the idempotency retention whose processing is finished."
FINISHED_RUNS = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
ACTIVE_JOBS = (JobStatus.READY, JobStatus.CLAIMED)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--older-than-hours",
        type=float,
        default=None,
        help="Age threshold; default and minimum: AUTOMATE['IDEMPOTENCY_RETENTION_HOURS'].",
    )
    parser.add_argument("--batch-size", type=int, default=500, help="Events deleted per transaction.")
    parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted.")
    parser.add_argument("--database", default="default", help="Database alias holding the events.")


def handle(command: BaseCommand, **options: Any) -> None:
    retention = conf.idempotency_retention_hours()
    hours = retention if options["older_than_hours"] is None else options["older_than_hours"]
    if hours < retention:
        raise CommandError(
            f"--older-than-hours must be at least AUTOMATE['IDEMPOTENCY_RETENTION_HOURS'] ({retention})."
        )
    if options["batch_size"] < 1:
        raise CommandError("--batch-size must be positive.")
    cutoff = timezone.now() - dt.timedelta(hours=hours)
    using = options["database"]
    if options["dry_run"]:
        count = prunable(using, cutoff).count()
        command.stdout.write(f"would prune {count} events received before {cutoff.isoformat()}")
        return
    count = prune_events(cutoff, batch_size=options["batch_size"], using=using)
    command.stdout.write(f"pruned {count} events received before {cutoff.isoformat()}")


def prunable(using: str, cutoff: dt.datetime) -> QuerySet[Event]:
    """Events received before ``cutoff`` whose processing is over."""
    unfinished_runs = ExecutionRun.objects.using(using).filter(event=OuterRef("pk")).exclude(status__in=FINISHED_RUNS)
    active_jobs = OutboxJob.objects.using(using).filter(event=OuterRef("pk"), status__in=ACTIVE_JOBS)
    active_run_jobs = OutboxJob.objects.using(using).filter(run__event=OuterRef("pk"), status__in=ACTIVE_JOBS)
    return (
        Event.objects.using(using)
        .filter(received_at__lt=cutoff)
        .filter(~Exists(unfinished_runs), ~Exists(active_jobs), ~Exists(active_run_jobs))
    )


def prune_events(cutoff: dt.datetime, *, batch_size: int = 500, using: str = "default") -> int:
    """Delete prunable events in batches; each batch locks its events and checks them again."""
    total = 0
    while True:
        seen, deleted = _prune_batch(cutoff, batch_size, using)
        total += deleted
        if seen < batch_size:
            break
    if total:
        logger.info("Pruned %s events", total, extra=log_extra("prune_events", count=total))
        audit_log.record("events.pruned", data={"count": total, "received_before": cutoff.isoformat()})
    return total


def _prune_batch(cutoff: dt.datetime, batch_size: int, using: str) -> tuple[int, int]:
    """Lock up to ``batch_size`` candidates and delete those still prunable: (locked, deleted)."""
    skip_locked = connections[using].features.has_select_for_update_skip_locked
    with transaction.atomic(using=using):
        locked = list(
            prunable(using, cutoff)
            .order_by("received_at")
            .select_for_update(skip_locked=skip_locked)
            .values_list("pk", flat=True)[:batch_size]
        )
        if not locked:
            return 0, 0
        # Checked again now that the rows are locked: a run or job may have arrived meanwhile.
        ids = list(prunable(using, cutoff).filter(pk__in=locked).values_list("pk", flat=True))
        runs = ExecutionRun.objects.using(using).filter(event_id__in=ids)
        # A replay protects the run it replays: delete the ends of replay chains first.
        while runs.exists():
            deleted, _ = runs.filter(replays__isnull=True).delete()
            if not deleted:
                raise CommandError("Some runs of these events are replayed by runs of other events.")
        Event.objects.using(using).filter(pk__in=ids).delete()
    return len(locked), len(ids)
