"""Processing one claimed job: dispatch by kind, with the trace context bound."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from django_automate import conf, exceptions
from django_automate.models import JobKind
from django_automate.outbox import lease, retry
from django_automate.outbox.claim import ClaimedJob
from django_automate.runs.executor import execute_run, give_up
from django_automate.runs.graph import execute_step
from django_automate.runs.routing import Handoff, route_event, route_events
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra

if TYPE_CHECKING:
    from django_automate.models import ExecutionRun

logger = logging.getLogger(__name__)


def process(
    job: ClaimedJob,
    *,
    using: str = "default",
    stopping: threading.Event | None = None,
    handoff: Handoff | None = None,
    run: ExecutionRun | None = None,
) -> None:
    """Run a claimed job. A lost lease discards the work; other failures reschedule it with a backoff.

    With ``handoff``, routing gives the worker one run it creates (see
    :class:`~django_automate.runs.routing.Handoff`); ``run`` is that run, loaded, for its job.
    """
    with context.bind(trace_id=job.trace_id, job_id=job.id, tenant=job.tenant):
        try:
            if job.kind == JobKind.ROUTE_EVENT:
                route_event(job, using=using, handoff=handoff)
            elif job.kind == JobKind.EXECUTE_RUN:
                execute_run(job, using=using, stopping=stopping, run=run)
            elif job.kind == JobKind.EXECUTE_STEP:
                execute_step(job, using=using, stopping=stopping)
            elif job.kind == JobKind.FIRE_DEBOUNCE:
                from django_automate.runs.debounce import fire

                fire(job, using=using)
            elif job.kind == JobKind.RUN_TASK:
                from django_automate.tasks.execution import run_task

                run_task(job, using=using)
            elif job.kind == JobKind.BACKFILL:
                from django_automate.runs.backfill.batches import run_batch

                run_batch(job, using=using)
            else:
                with transaction.atomic(using=using):
                    lease.dead_letter(job, {"code": "unknown_job_kind", "message": job.kind}, using=using)
        except exceptions.LeaseLost:
            logger.warning("Lost the lease on job %s; its writes were discarded", job.id, extra=log_extra("lease_lost"))
        except Exception as exc:
            # A bug, poison input or a write the database rejects (or the database gone): never a tight loop.
            logger.exception("Job %s failed unexpectedly", job.id, extra=log_extra("job_crashed"))
            _crashed(job, exc, using)


def _crashed(job: ClaimedJob, exc: Exception, using: str) -> None:
    """Reschedule a job that raised after a growing delay; dead-letter it after ``MAX_JOB_CRASHES`` in a row.

    A run's job dead-lettered this way fails its run, which can then be retried like any failed run.
    If the database is gone, nothing can be written: the lease expires and the job is recovered.
    """
    try:
        crashes = lease.crashes(job, using=using) + 1
        cause = f"{exc.__class__.__name__}: {(str(exc).splitlines() or [''])[0]}"[:300]
        error: dict[str, Any] = {"code": lease.CRASHED, "message": cause, "crashes": crashes}
        if crashes >= conf.max_job_crashes():
            error["message"] = f"{cause} (dead-lettered after {crashes} claims in a row that failed)"
            if job.kind == JobKind.RUN_TASK:  # its task is FAILED with it: get_result() says so
                from django_automate.tasks.ended import give_up as give_up_task

                give_up_task(job, exc, error, using=using)
            else:
                give_up(job, error, using=using)
            logger.error("Job %s dead-lettered after %s failed claims", job.id, crashes, extra=log_extra("job_dead"))
            return
        delay = retry.crash_delay(crashes)
        error["message"] = f"{cause} (claim {crashes} in a row that failed; next claim in {delay:.1f}s)"
        lease.reschedule(job, timezone.now() + dt.timedelta(seconds=delay), error, using=using)
    except Exception:
        logger.exception(
            "Could not reschedule job %s; its lease will expire", job.id, extra=log_extra("crash_unrecorded")
        )


def route_together(
    jobs: list[ClaimedJob], *, using: str = "default", handoff: Handoff | None = None
) -> list[ClaimedJob]:
    """Route several claimed routing jobs in one transaction; return the jobs left to :func:`process` one by one.

    Those are the jobs whose event is missing, or all of them if routing them together
    failed (a lost lease, a conflict, a bug or bad data in one event): one at a time, each
    gets its own outcome (retried, dead-lettered or discarded) instead of sharing another's.
    """
    try:
        routed = set(route_events(jobs, using=using, handoff=handoff))
    except Exception:
        logger.warning(
            "Routing %s events together failed; routing them one at a time",
            len(jobs),
            exc_info=True,
            extra=log_extra("route_batch_failed"),
        )
        return jobs
    return [job for job in jobs if job.event_id not in routed]
