"""Waits with a row (``wait_for``, ``approval``): the run is a row, a due job and a :class:`RunWait`.

Like a sleep (:mod:`django_automate.runs.waits`), the attempt is recorded ``running`` in the
transaction that moves the run to ``waiting`` and releases its job until the timeout, and
here that transaction also inserts the wait's row. What resolves the wait (an event, a
decision) sets it on the row by a conditional update and makes the run's job due now
(:func:`wake`); the job's next claim locks the row, and closes the attempt with the
resolution, or on a timeout with the step's timeout outcome, or else puts the job back
until the timeout. Lock order is the same on every path (wait row, then job), so a
resolution arriving while the job is held is never lost: the holder sees it once the
resolver commits.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone

from django_automate import exceptions
from django_automate.internal import sql
from django_automate.models import JobKind, JobStatus, OutboxJob, RunStatus, RunWait, StepRun, StepStatus
from django_automate.outbox import lease
from django_automate.outbox.notify import notify
from django_automate.policy.redaction import redact
from django_automate.runs import states
from django_automate.runs.steps import (
    Outcome,
    StepCall,
    condition,
    fail_attempt,
    new_attempt,
    settled,
    start_run,
)
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

#: The queue of run jobs (as routing enqueues them): a woken run's job is announced on it.
RUN_QUEUE = "default"


@dataclass(frozen=True)
class Resolution:
    """How a wait ends: the attempt's final status and its output or error."""

    status: str
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class WaitHandler(Protocol):
    """What one kind of wait adds to the shared mechanics."""

    kind: str

    def prepare(self, call: StepCall, now: dt.datetime) -> tuple[RunWait, dict[str, Any]]:
        """The wait's row (unsaved; run, step and times are filled in) and the attempt's input to store."""
        ...

    def before_insert(self, wait: RunWait, using: str) -> None:
        """Inside the registering transaction, before the row is inserted."""
        ...

    def registered(self, wait: RunWait, using: str) -> None:
        """After the registering transaction committed."""
        ...

    def resolution(self, wait: RunWait, now: dt.datetime, using: str) -> Resolution | None:
        """How the (locked) wait ends now, or None while it goes on."""
        ...


def run(call: StepCall, handler: WaitHandler) -> Outcome:
    """Start, continue or end the wait of ``call.step``; ``Outcome.WAITING`` while it lasts."""
    last = call.history[-1] if call.history else None
    if last is not None and last.status == StepStatus.RUNNING:
        return _resume(call, last, handler)
    done = settled(call)
    if done is not None:
        return done
    attempt = len(call.history) + 1
    decided = condition(call, attempt)
    if decided is not None:
        return decided
    now = timezone.now()
    try:
        wait, shown = handler.prepare(call, now)
    except exceptions.AutomateError as exc:
        return fail_attempt(call, attempt, {"code": exc.code, "message": exc.message, "details": exc.details})
    wait.tenant, wait.run, wait.step_id, wait.attempt = call.run.tenant, call.run, call.step_id, attempt
    wait.after = call.run.created_at
    step_run = new_attempt(call, attempt, StepStatus.RUNNING, input=redact(shown))
    step_run.action = handler.kind
    try:
        with transaction.atomic(using=call.using):
            # The reschedule is the lease check (LeaseLost rolls it all back) and gives the job up until the timeout.
            lease.reschedule(call.job, wait.timeout_at, None, using=call.using)
            start_run(call.run, using=call.using)
            states.transition(call.run, RunStatus.WAITING, using=call.using, waiting_until=wait.timeout_at)
            sql.insert(step_run, call.using)
            handler.before_insert(wait, call.using)
            wait.save(using=call.using, force_insert=True)
    except exceptions.IllegalTransition:
        return _ended_meanwhile(call)
    call.data["steps"][call.step_id] = {"status": "running", "output": None}
    logger.info(
        "Run %s waits (%s) until %s",
        call.run.id,
        handler.kind,
        wait.timeout_at.isoformat(),
        extra=log_extra("run_waiting", step_id=call.step_id),
    )
    handler.registered(wait, call.using)
    return Outcome.WAITING


def _resume(call: StepCall, running: StepRun, handler: WaitHandler) -> Outcome:
    """The waiting run's job was claimed: close the attempt if the wait is resolved or timed out, else wait on."""
    try:
        with transaction.atomic(using=call.using):
            waits = RunWait.objects.using(call.using).select_for_update()
            wait = waits.filter(run=call.run.pk, step_id=call.step_id, attempt=running.attempt).first()
            now = timezone.now()
            found: Resolution | None = None
            if wait is None:  # not written by this module: nothing to wait for
                found = Resolution(StepStatus.FAILED, error={"code": "wait_missing", "message": "The wait is gone."})
            else:
                found = handler.resolution(wait, now, call.using)
                if found is None:
                    lease.reschedule(call.job, wait.timeout_at, None, using=call.using)
                    logger.info("Run %s still waits", call.run.id, extra=log_extra("run_still_waiting"))
                    return Outcome.WAITING
            _close(call, running, wait, found, now)
    except exceptions.IllegalTransition:
        return _ended_meanwhile(call)
    if found.status == StepStatus.SUCCEEDED:
        call.data["steps"][call.step_id] = {"status": "succeeded", "output": found.output}
        logger.info("Step %s resumed", call.step_id, extra=log_extra("step_succeeded"))
        return Outcome.SUCCEEDED
    call.data["steps"][call.step_id] = {"status": "failed", "output": None, "error": found.error}
    logger.info("Step %s failed", call.step_id, extra=log_extra("step_failed"))
    return Outcome.FAILED


def _close(call: StepCall, running: StepRun, wait: RunWait | None, found: Resolution, now: dt.datetime) -> None:
    """Inside the transaction: the run goes on (or ends, after its last step), the attempt and the wait close."""
    last = call.finish is not None and found.status == StepStatus.SUCCEEDED
    if not last:
        lease.fence(call.job, using=call.using)
    if call.run.status == RunStatus.WAITING:
        states.transition(call.run, RunStatus.RUNNING, using=call.using)
    if last:
        assert call.finish is not None
        # The run ends and the job completes in this transaction (the lease check).
        call.finished = call.finish()
    started = running.started_at or now
    duration_ms = max(0, int((now - started).total_seconds() * 1000))
    values: dict[str, Any] = {"duration_ms": duration_ms}
    if found.output is not None:
        values["output"] = redact(found.output)
    if found.error is not None:
        values["error"] = redact(found.error)
    states.close_step(running, found.status, using=call.using, **values)
    if wait is not None:
        RunWait.objects.using(call.using).filter(pk=wait.pk).update(resolved_at=now)


def wake(waits: list[tuple[Any, str]], *, using: str) -> int:
    """Make the jobs waiting on these (run, step) pairs due now (a ready job only: a held or ended one is left alone).

    In an ordered run that is the run's job; in a graph (``runs.graph``), the job of the waiting
    step only, so the other branches' sleeps and retries keep their times.
    """
    if not waits:
        return 0
    wanted = {(str(run_id), str(step_id)) for run_id, step_id in waits}
    now = timezone.now()
    ready = OutboxJob.objects.using(using).filter(
        run_id__in=sorted({run_id for run_id, _ in wanted}),
        kind__in=(JobKind.EXECUTE_RUN, JobKind.EXECUTE_STEP),
        status=JobStatus.READY,
    )
    ids = [
        job_id
        for job_id, kind, run_id, step_id in ready.values_list("id", "kind", "run_id", "step_id")
        if kind == JobKind.EXECUTE_RUN or (str(run_id), step_id) in wanted
    ]
    woken = (
        OutboxJob.objects.using(using)
        .filter(id__in=ids, status=JobStatus.READY)
        .update(available_at=now, updated_at=now)
    )
    if woken:
        notify(using, RUN_QUEUE)
    return woken


def _ended_meanwhile(call: StepCall) -> Outcome:
    """The run was cancelled while this job held it: the cancellation stands, the job completes, the wait closes."""
    with transaction.atomic(using=call.using):
        lease.complete(call.job, using=call.using)
        states.close_open_attempts(call.run, using=call.using, error=states.ENDED_ATTEMPT, step_id=call.step_id)
    call.finished = RunStatus.CANCELLED
    return Outcome.FAILED
