"""Executing a run: its steps in order (a graph: ``runs.graph``), each attempt recorded, every write fenced."""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import transaction

from django_automate import exceptions
from django_automate.models import Budget, ExecutionRun, JobKind, RunStatus, StepRun
from django_automate.observability import instrument
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.policy import budgets
from django_automate.runs import concurrency, states, waits
from django_automate.runs import graph as graph_runs
from django_automate.runs.context import run_data
from django_automate.runs.loading import run_to_execute
from django_automate.runs.steps import Outcome, StepCall, run_step, settled, start_run
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra
from django_automate.workflows import graph

logger = logging.getLogger(__name__)


@instrument.run
def execute_run(
    job: ClaimedJob,
    *,
    using: str = "default",
    stopping: threading.Event | None = None,
    run: ExecutionRun | None = None,
) -> str:
    """Advance the job's run as far as it can go now; return the run's status afterwards.

    When ``stopping`` is set (graceful shutdown) the job is released after the current step.
    ``run`` is the job's run as routing just created it (a hand-off), else it is loaded.
    A run with a concurrency key starts once it has a slot (``runs.concurrency``), and gives
    the slot on when it ends.
    """
    if job.run_id is None:
        raise exceptions.ValidationError("An execute_run job needs a run.", details={"job_id": job.id})
    if run is None or run.pk != job.run_id:
        run = run_to_execute(job.run_id, using=using)
    if run.concurrency_key and run.status == RunStatus.PENDING and run.admitted_at is None:
        if not concurrency.admit(job, run, using=using):
            return str(run.status)
    status = _execute(job, run, using, stopping)
    if status in states.TERMINAL:
        concurrency.release(run, using=using)
    return status


def _execute(job: ClaimedJob, run: ExecutionRun, using: str, stopping: threading.Event | None) -> str:
    with context.bind(run_id=run.id, event_id=run.event_id, tenant=run.tenant):
        if run.status in states.TERMINAL:
            with transaction.atomic(using=using):
                lease.complete(job, using=using)
                # Cancelled while an attempt was open (or a retry was due): none of them goes on.
                states.close_open_attempts(run, using=using, error=states.ENDED_ATTEMPT)
            return str(run.status)
        history = _history(run, using)
        # Every budget check of this job reuses one load (no query when the tenant has no budgets).
        loaded = budgets.load(run, using=using)
        if run.status == RunStatus.PENDING and loaded:
            stopped = _over_budget(job, run, using, loaded)
            if stopped is not None:
                return stopped
        if graph.is_graph(run.workflow_version.definition):
            return graph_runs.start(job, run, using=using)
        # Otherwise the run goes from pending to running with its first write (steps.start_run).
        data = run_data(run)
        steps: list[dict[str, Any]] = run.workflow_version.definition.get("steps", [])
        for index, step in enumerate(steps):
            if stopping is not None and stopping.is_set():
                _release(job, run, using)
                logger.info("Released run %s at step %s for shutdown", run.id, index, extra=log_extra("job_released"))
                return str(run.status)
            # The run's status was read just now for the first step; later steps look again.
            if index > 0 and _cancelled(run, using):
                with transaction.atomic(using=using):
                    lease.complete(job, using=using)
                    # A sleep cancelled while this job held it is still open: it ends with the run.
                    states.close_open_attempts(run, using=using, error=states.ENDED_ATTEMPT)
                return RunStatus.CANCELLED
            call = StepCall(
                job=job,
                run=run,
                index=index,
                step=step,
                data=data,
                using=using,
                history=history.get(step["id"], []),
                budgets=loaded,
            )
            if index == len(steps) - 1:
                call.finish = lambda: _finish_writes(job, run, RunStatus.SUCCEEDED, using)
            if waits.is_wait(step):
                outcome = waits.run_wait(call)
            else:
                # A step settled by an earlier claim is not run (nor traced) again.
                outcome = settled(call) or run_step(call)
            if call.finished is not None:
                _log_finished(run, call.finished)
                return call.finished
            if outcome in (Outcome.RETRY_SCHEDULED, Outcome.WAITING):
                return str(run.status)
            if outcome is Outcome.FAILED and step.get("on_failure", "fail_run") == "fail_run":
                error = data["steps"][step["id"]].get("error") or {}
                return _finish(job, run, RunStatus.FAILED, using, error={"step_id": step["id"], **error})
        return _finish(job, run, RunStatus.SUCCEEDED, using)


def _history(run: ExecutionRun, using: str) -> dict[str, list[StepRun]]:
    """Every step attempt of the run so far, by step, oldest first: one query per job.

    While this job holds its lease, no other worker writes attempts of this run. A pending
    run has none (its first attempt starts it), so it needs no query at all.
    """
    history: dict[str, list[StepRun]] = {}
    if run.status == RunStatus.PENDING:
        return history
    for attempt in StepRun.objects.using(using).filter(run=run).order_by("step_index", "attempt"):
        history.setdefault(attempt.step_id, []).append(attempt)
    return history


def _release(job: ClaimedJob, run: ExecutionRun, using: str) -> None:
    """Give the job back for shutdown; a pending run starts now so its run budget is not charged twice."""
    with transaction.atomic(using=using):
        if lease.release(job, using=using):
            start_run(run, using=using)


def _over_budget(job: ClaimedJob, run: ExecutionRun, using: str, loaded: list[Budget]) -> str | None:
    """Charge the run to its ``runs`` budgets; a spent one fails the run (block) or waits for its next window (defer).

    A charged run starts in the same transaction, fenced by the lease: a run that is
    ``running`` has been charged, so however often its job is claimed again (a crash, a
    retry, a lost lease) it is never charged twice; a check whose transaction rolls back
    charged nothing.
    """
    if not budgets.applicable(run, Budget.Metric.RUNS, using=using, loaded=loaded):
        return None
    with transaction.atomic(using=using):
        try:
            charged = budgets.check_and_consume_run(run, using=using, loaded=loaded)
        except budgets.BudgetDeferred as exc:
            lease.reschedule(job, exc.until, {"code": exc.code, "message": exc.message}, using=using)
            return str(run.status)
        except exceptions.BudgetExceeded as exc:
            error = {"code": exc.code, "message": exc.message, "details": exc.details}
            final = _finish_writes(job, run, RunStatus.FAILED, using, error=error)
        else:
            if charged:
                lease.fence(job, using=using)
                start_run(run, using=using)
            return None
    _log_finished(run, final)
    return final


def give_up(job: ClaimedJob, error: dict[str, Any], *, using: str = "default") -> None:
    """Dead-letter a job that cannot make progress; a run's job fails its run and closes its open attempts.

    The run can then be retried from its failed step (API, admin, ``manage.py automate retry``).
    """
    with transaction.atomic(using=using):
        if job.kind == JobKind.BACKFILL:  # the backfill's row before the job's, as every backfill write takes them
            from django_automate.runs.backfill.batches import job_dead

            job_dead(job, error, using=using)
        lease.dead_letter(job, error, using=using)
        if job.run_id is None:
            return
        run = ExecutionRun(pk=job.run_id)
        try:
            states.transition(run, RunStatus.FAILED, using=using, error=error, waiting_until=None)
        except exceptions.IllegalTransition:
            pass  # it ended meanwhile (cancelled): that stands
        states.close_open_attempts(run, using=using, error=error)
    if job.run_id is not None:
        ended = ExecutionRun.objects.using(using).select_related("workflow_version").get(pk=job.run_id)
        concurrency.release(ended, using=using)


def _cancelled(run: ExecutionRun, using: str) -> bool:
    status = ExecutionRun.objects.using(using).values_list("status", flat=True).get(pk=run.pk)
    return bool(status == RunStatus.CANCELLED)


def _finish(job: ClaimedJob, run: ExecutionRun, status: str, using: str, error: dict[str, Any] | None = None) -> str:
    with transaction.atomic(using=using):
        final = _finish_writes(job, run, status, using, error)
    _log_finished(run, final)
    return final


def _finish_writes(
    job: ClaimedJob, run: ExecutionRun, status: str, using: str, error: dict[str, Any] | None = None
) -> str:
    """Inside a transaction: move the run to ``status`` and close the job; the status the run ends in.

    The job write is conditional on the lease and comes last: if the lease is lost it raises
    LeaseLost and the whole transaction, run transition included, rolls back.
    """
    try:
        if status == RunStatus.SUCCEEDED:
            start_run(run, using=using)  # a run without steps
        states.transition(run, status, using=using, error=error)
    except exceptions.IllegalTransition:
        # Cancelled meanwhile: the cancellation stands.
        lease.complete(job, using=using)
        return RunStatus.CANCELLED
    if status == RunStatus.FAILED:
        lease.dead_letter(job, error or {}, using=using)
    else:
        lease.complete(job, using=using)
    return status


def _log_finished(run: ExecutionRun, status: str) -> None:
    if status != RunStatus.CANCELLED:
        logger.info("Run %s %s", run.id, status, extra=log_extra(f"run_{status}"))
