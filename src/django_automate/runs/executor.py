"""Executing a run: its steps in order, each attempt recorded, every write fenced by the job's lease."""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import transaction

from django_automate import exceptions
from django_automate.models import ExecutionRun, RunStatus
from django_automate.observability import instrument
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.policy import budgets
from django_automate.runs import states
from django_automate.runs.context import run_data
from django_automate.runs.steps import Outcome, StepCall, run_step
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)


@instrument.run
def execute_run(job: ClaimedJob, *, using: str = "default", stopping: threading.Event | None = None) -> str:
    """Advance the job's run as far as it can go now; return the run's status afterwards.

    When ``stopping`` is set (graceful shutdown) the job is released after the current step.
    """
    if job.run_id is None:
        raise exceptions.ValidationError("An execute_run job needs a run.", details={"job_id": job.id})
    run = ExecutionRun.objects.using(using).select_related("event", "workflow", "workflow_version").get(id=job.run_id)
    with context.bind(run_id=run.id, event_id=run.event_id, tenant=run.tenant):
        if run.status in states.TERMINAL:
            with transaction.atomic(using=using):
                lease.complete(job, using=using)
            return str(run.status)
        if run.status == RunStatus.PENDING:
            stopped = _over_budget(job, run, using)
            if stopped is not None:
                return stopped
            with transaction.atomic(using=using):
                lease.fence(job, using=using)
                states.transition(run, RunStatus.RUNNING, using=using)
            logger.info("Run %s started", run.id, extra=log_extra("run_started"))
        data = run_data(run)
        steps: list[dict[str, Any]] = run.workflow_version.definition.get("steps", [])
        for index, step in enumerate(steps):
            if stopping is not None and stopping.is_set():
                lease.release(job, using=using)
                logger.info("Released run %s at step %s for shutdown", run.id, index, extra=log_extra("job_released"))
                return str(run.status)
            if _cancelled(run, using):
                with transaction.atomic(using=using):
                    lease.complete(job, using=using)
                return RunStatus.CANCELLED
            outcome = run_step(StepCall(job=job, run=run, index=index, step=step, data=data, using=using))
            if outcome is Outcome.RETRY_SCHEDULED:
                return str(run.status)
            if outcome is Outcome.FAILED and step.get("on_failure", "fail_run") == "fail_run":
                error = data["steps"][step["id"]].get("error") or {}
                return _finish(job, run, RunStatus.FAILED, using, error={"step_id": step["id"], **error})
        return _finish(job, run, RunStatus.SUCCEEDED, using)


def _over_budget(job: ClaimedJob, run: ExecutionRun, using: str) -> str | None:
    """Charge the run to its budgets; a spent one fails the run (block) or waits for its next window (defer)."""
    try:
        budgets.check_and_consume_run(run, using=using)
    except budgets.BudgetDeferred as exc:
        with transaction.atomic(using=using):
            lease.reschedule(job, exc.until, {"code": exc.code, "message": exc.message}, using=using)
        return str(run.status)
    except exceptions.BudgetExceeded as exc:
        return _finish(
            job, run, RunStatus.FAILED, using, error={"code": exc.code, "message": exc.message, "details": exc.details}
        )
    return None


def _cancelled(run: ExecutionRun, using: str) -> bool:
    status = ExecutionRun.objects.using(using).values_list("status", flat=True).get(pk=run.pk)
    return bool(status == RunStatus.CANCELLED)


def _finish(job: ClaimedJob, run: ExecutionRun, status: str, using: str, error: dict[str, Any] | None = None) -> str:
    with transaction.atomic(using=using):
        lease.fence(job, using=using)
        try:
            states.transition(run, status, using=using, error=error)
        except exceptions.IllegalTransition:
            # Cancelled meanwhile: the cancellation stands.
            lease.complete(job, using=using)
            return RunStatus.CANCELLED
        if status == RunStatus.FAILED:
            lease.dead_letter(job, error or {}, using=using)
        else:
            lease.complete(job, using=using)
    logger.info("Run %s %s", run.id, status, extra=log_extra(f"run_{status}"))
    return status
