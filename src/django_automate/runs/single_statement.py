"""PostgreSQL: the fenced writes around a step attempt, each transaction as one statement.

Recording an attempt (fence the job, start a pending run, insert the attempt) and closing a
successful one (fence or complete the job, end the run after its last step, close the
attempt) are transactions of two or three writes: with BEGIN and COMMIT, five round trips
each. On PostgreSQL each is one statement, a ``WITH`` whose data-modifying parts all depend
on the fence::

    WITH fence AS (UPDATE automate_outboxjob … WHERE id = … AND lease_token = … RETURNING 1),
         started AS (UPDATE automate_executionrun … AND EXISTS (SELECT 1 FROM fence) RETURNING 1),
         inserted AS (INSERT INTO automate_steprun … SELECT … WHERE EXISTS (SELECT 1 FROM fence) …)
    SELECT (SELECT count(*) FROM fence), (SELECT count(*) FROM started)

One statement is one (implicit) transaction: all of it commits or none, and the job's row
stays locked from the fence to the commit, as in the transaction it replaces. When the fence
matches no row (the lease is lost) the other parts change nothing, and the caller gets the
same LeaseLost; when the run or the attempt is not in the state the transition needs, it
gets the same IllegalTransition with nothing written but the lease's extension.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import connections
from django.utils import timezone

from django_automate import conf, exceptions
from django_automate.internal import sql
from django_automate.models import ExecutionRun, JobStatus, OutboxJob, RunStatus, StepRun, StepStatus
from django_automate.outbox.claim import ClaimedJob
from django_automate.runs import states
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

_FENCED = "EXISTS (SELECT 1 FROM fence)"


def available(using: str) -> bool:
    """Whether these statements may replace the transactions here: PostgreSQL, and no save receiver on StepRun."""
    return connections[using].vendor == "postgresql" and not sql.has_save_receivers(StepRun)


def record(job: ClaimedJob, run: ExecutionRun, step_run: StepRun, *, using: str) -> None:
    """Insert ``step_run`` if this worker still holds ``job`` (extending the lease), starting ``run`` if pending."""
    now = timezone.now()
    fence, params = fence_sql(job, now, using)
    parts, guard = [f"fence AS ({fence} RETURNING 1)"], _FENCED
    start = run.status == RunStatus.PENDING
    if start:
        text, values = _run_transition(run, RunStatus.RUNNING, using, started_at=now)
        parts.append(f"started AS ({text} AND {guard} RETURNING 1)")
        params += values
        guard = f"{guard} AND EXISTS (SELECT 1 FROM started)"
    text, values = sql.insert_select_sql(step_run, using)
    parts.append(f"inserted AS ({text} WHERE {guard} RETURNING 1)")
    params += values
    started = "(SELECT count(*) FROM started)" if start else "1"
    fenced, moved = _execute(f"WITH {', '.join(parts)} SELECT (SELECT count(*) FROM fence), {started}", params, using)
    if not fenced:
        raise exceptions.LeaseLost(details={"job_id": job.id})
    if not moved:
        raise states.illegal_run_transition(run, RunStatus.RUNNING, using)
    step_run._state.adding, step_run._state.db = False, using
    if start:
        run.status, run.started_at = RunStatus.RUNNING, now
        logger.info("Run %s started", run.id, extra=log_extra("run_started"))


def close_succeeded(
    job: ClaimedJob, run: ExecutionRun, step_run: StepRun, *, last: bool, using: str, **values: Any
) -> str | None:
    """Close the running attempt as succeeded, fenced by ``job``; with ``last``, the run succeeds and the job completes.

    Returns the run's status after its last step: succeeded, or cancelled if it was
    cancelled meanwhile (the cancellation stands; the job completes and the attempt is closed).
    """
    now = timezone.now()
    values = {"status": StepStatus.SUCCEEDED, "finished_at": now, **values, "success_guard": True}
    sources = [
        state
        for state, targets in states.STEP_TRANSITIONS.items()
        if StepStatus.SUCCEEDED in targets and state != StepStatus.PENDING
    ]
    # The job write waits for the attempt to be running, so an attempt closed already changes nothing;
    # "held" (read, not written) tells a lost lease from that, as the transaction's first write did.
    held, params = sql.exists_sql(OutboxJob, using, _held(job, now))
    running, running_params = sql.exists_sql(StepRun, using, {"id": step_run.pk, "status__in": sources})
    parts = [f"held AS ({held}), running AS ({running})"]
    params += running_params
    text, job_params = _complete(job, now, using) if last else fence_sql(job, now, using)
    parts.append(f"fence AS ({text} AND EXISTS (SELECT 1 FROM running) RETURNING 1)")
    params += job_params
    if last:
        text, run_params = _run_transition(run, RunStatus.SUCCEEDED, using, finished_at=now)
        parts.append(f"ended AS ({text} AND {_FENCED} RETURNING 1)")
        params += run_params
    text, step_params = sql.update_sql(StepRun, using, {"id": step_run.pk, "status__in": sources}, values)
    parts.append(f"closed AS ({text} AND {_FENCED} RETURNING 1)")
    params += step_params
    ended = "(SELECT count(*) FROM ended)" if last else "1"
    counts = "(SELECT count(*) FROM held), (SELECT count(*) FROM running), (SELECT count(*) FROM fence)"
    still_held, still_running, fenced, moved = _execute(
        f"WITH {', '.join(parts)} SELECT {counts}, {ended}", params, using
    )
    if not still_held:
        raise exceptions.LeaseLost(details={"job_id": job.id})
    if not still_running:
        raise exceptions.IllegalTransition(
            "A step attempt cannot go to succeeded from its current state.",
            details={"step_run_id": str(step_run.pk), "to": StepStatus.SUCCEEDED},
        )
    if not fenced:
        raise exceptions.LeaseLost(details={"job_id": job.id})
    step_run.status = StepStatus.SUCCEEDED
    if not last:
        return None
    if not moved:
        return RunStatus.CANCELLED
    run.status, run.finished_at = RunStatus.SUCCEEDED, now
    return RunStatus.SUCCEEDED


def insert_succeeded(
    job: ClaimedJob, run: ExecutionRun, step_run: StepRun, *, last: bool, using: str, **values: Any
) -> str | None:
    """Write an attempt recorded once (``runs.steps.records_once``) as succeeded, fenced by ``job``.

    The same writes as :func:`close_succeeded`, the attempt inserted instead of updated, and a
    pending run started with it: with ``last``, a pending run starts and succeeds in one update.
    Returns the run's status after its last step (succeeded, or cancelled meanwhile), else None.
    """
    now = timezone.now()
    pending = run.status == RunStatus.PENDING
    step_run.status, step_run.finished_at, step_run.success_guard = StepStatus.SUCCEEDED, now, True
    for name, value in values.items():
        setattr(step_run, name, value)
    text, params = _complete(job, now, using) if last else fence_sql(job, now, using)
    parts, guard, moved = [f"fence AS ({text} RETURNING 1)"], _FENCED, "1"
    started = {"started_at": now} if pending else {}
    if last:
        text, run_params = _run_transition(run, RunStatus.SUCCEEDED, using, finished_at=now, **started)
        parts.append(f"ended AS ({text} AND {_FENCED} RETURNING 1)")
        moved = "(SELECT count(*) FROM ended)"
    elif pending:
        text, run_params = _run_transition(run, RunStatus.RUNNING, using, **started)
        parts.append(f"started AS ({text} AND {_FENCED} RETURNING 1)")
        guard, moved = f"{guard} AND EXISTS (SELECT 1 FROM started)", "(SELECT count(*) FROM started)"
    else:
        run_params = []
    params += run_params
    text, step_params = sql.insert_select_sql(step_run, using)
    parts.append(f"inserted AS ({text} WHERE {guard} RETURNING 1)")
    params += step_params
    fenced, changed = _execute(f"WITH {', '.join(parts)} SELECT (SELECT count(*) FROM fence), {moved}", params, using)
    if not fenced:
        raise exceptions.LeaseLost(details={"job_id": job.id})
    if not last:
        if pending and not changed:
            raise states.illegal_run_transition(run, RunStatus.RUNNING, using)
        step_run._state.adding, step_run._state.db = False, using
        if pending:
            run.status, run.started_at = RunStatus.RUNNING, now
            logger.info("Run %s started", run.id, extra=log_extra("run_started"))
        return None
    step_run._state.adding, step_run._state.db = False, using
    if not changed:
        return RunStatus.CANCELLED  # cancelled meanwhile: that stands; the job completes, the attempt is kept
    run.status, run.finished_at = RunStatus.SUCCEEDED, now
    if pending:
        run.started_at = now
    return RunStatus.SUCCEEDED


def _held(job: ClaimedJob, now: dt.datetime) -> dict[str, Any]:
    """The job is still this worker's: same token, claimed, unexpired by the database's clock."""
    return {
        "id": job.id,
        "lease_token": job.lease_token,
        "status": JobStatus.CLAIMED,
        "lease_expires_at__gt": sql.DATABASE_NOW,
    }


def fence_sql(job: ClaimedJob, now: dt.datetime, using: str) -> tuple[str, list[Any]]:
    """The lease extension that :func:`~django_automate.outbox.lease.fence` runs."""
    extended = {"lease_expires_at": now + dt.timedelta(seconds=conf.lease_seconds()), "updated_at": now}
    return sql.update_sql(OutboxJob, using, _held(job, now), extended)


def _complete(job: ClaimedJob, now: dt.datetime, using: str) -> tuple[str, list[Any]]:
    """The job's completion that :func:`~django_automate.outbox.lease.complete` runs."""
    done = {"lease_token": None, "lease_expires_at": None, "updated_at": now, "status": JobStatus.DONE}
    return sql.update_sql(OutboxJob, using, _held(job, now), {**done, "finished_at": now, "last_error": None})


def _run_transition(run: ExecutionRun, to: str, using: str, **values: Any) -> tuple[str, list[Any]]:
    """The update of :func:`~django_automate.runs.states.transition`, same conditions, to embed in a statement."""
    return sql.update_sql(ExecutionRun, using, states.run_where(run, to, values), {"status": to, **values})


def _execute(statement: str, params: list[Any], using: str) -> tuple[int, ...]:
    with sql.hot_cursor(using) as cursor:
        cursor.execute(statement, params)
        return tuple(int(count) for count in cursor.fetchone())
