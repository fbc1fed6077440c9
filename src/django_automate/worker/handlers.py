"""Processing one claimed job: dispatch by kind, with the trace context bound."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from django.db import DatabaseError, InterfaceError, transaction

from django_automate import exceptions
from django_automate.models import JobKind
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra

if TYPE_CHECKING:
    from django_automate.models import ExecutionRun
    from django_automate.rules.routing import Handoff

logger = logging.getLogger(__name__)

# Claims of one job that may end in an unexpected exception before it is dead-lettered.
MAX_CRASHES = 5


def process(
    job: ClaimedJob,
    *,
    using: str = "default",
    stopping: threading.Event | None = None,
    handoff: Handoff | None = None,
    run: ExecutionRun | None = None,
) -> None:
    """Run a claimed job. A lost lease discards the work; other failures release it for a retry.

    With ``handoff``, routing gives the worker one run it creates (see
    :class:`~django_automate.rules.routing.Handoff`); ``run`` is that run, loaded, for its job.
    """
    from django_automate.rules.routing import route_event
    from django_automate.runs.executor import execute_run

    with context.bind(trace_id=job.trace_id, job_id=job.id, tenant=job.tenant):
        try:
            if job.kind == JobKind.ROUTE_EVENT:
                route_event(job, using=using, handoff=handoff)
            elif job.kind == JobKind.EXECUTE_RUN:
                execute_run(job, using=using, stopping=stopping, run=run)
            else:
                with transaction.atomic(using=using):
                    lease.dead_letter(job, {"code": "unknown_job_kind", "message": job.kind}, using=using)
        except exceptions.LeaseLost:
            logger.warning("Lost the lease on job %s; its writes were discarded", job.id, extra=log_extra("lease_lost"))
        except (DatabaseError, InterfaceError):
            # The database went away: give the job back (or let its lease expire); claims back off.
            logger.exception("Job %s hit a database error; releasing it", job.id, extra=log_extra("job_db_error"))
            _release_quietly(job, using)
        except Exception as exc:
            # A bug or poison input: retried a few times, then dead-lettered so it cannot loop forever.
            logger.exception("Job %s failed unexpectedly", job.id, extra=log_extra("job_crashed"))
            if job.attempts < MAX_CRASHES:
                _release_quietly(job, using)
                return
            error = {"code": "internal_error", "message": f"{exc.__class__.__name__} after {job.attempts} claims"}
            try:
                with transaction.atomic(using=using):
                    lease.dead_letter(job, error, using=using)
            except Exception:
                logger.exception("Could not dead-letter job %s", job.id, extra=log_extra("dead_letter_failed"))


def route_together(
    jobs: list[ClaimedJob], *, using: str = "default", handoff: Handoff | None = None
) -> list[ClaimedJob]:
    """Route several claimed routing jobs in one transaction; return the jobs left to :func:`process` one by one.

    Those are the jobs whose event is missing, or all of them if routing them together
    failed (a lost lease, a conflict, a bug or bad data in one event): one at a time, each
    gets its own outcome (retried, dead-lettered or discarded) instead of sharing another's.
    """
    from django_automate.rules.routing import route_events

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


def _release_quietly(job: ClaimedJob, using: str) -> None:
    try:
        lease.release(job, using=using)
    except Exception:
        logger.exception("Could not release job %s; its lease will expire", job.id, extra=log_extra("release_failed"))
