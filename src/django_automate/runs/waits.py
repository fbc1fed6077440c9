"""Steps that make a run wait: sleeps here, ``wait_for`` and ``approval`` in their own modules.

Sleep steps: a sleeping run holds no worker, thread or lease, only its row and a job due later.

A ``sleep`` step's attempt is recorded ``running`` with its due time (``input =
{"until": …}``) in the transaction that moves the run to ``waiting`` and reschedules its job
for that time, conditional on the lease (the reschedule releases it). The job's next claim at
or after the due time closes the attempt as ``succeeded`` (output ``{"slept_until": …}``)
and moves the run back to ``running`` in one transaction, and the run goes on with its next
step. A claim before the due time (a job hurried by hand, another worker's clock) only
reschedules the job for the same due time: a sleep never ends early.

These writes are rare (two per sleep) and use ordinary transactions on every database,
through :func:`django_automate.runs.states.transition` like every other run state change.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from django_automate import exceptions
from django_automate.internal import sql
from django_automate.models import RunStatus, StepRun, StepStatus
from django_automate.outbox import lease
from django_automate.runs import approvals, states, wait_for
from django_automate.runs.steps import (
    Outcome,
    StepCall,
    condition,
    fail_attempt,
    new_attempt,
    record_attempt,
    settled,
    start_run,
)
from django_automate.tracing.logging import log_extra
from django_automate.workflows.definition import parse_until
from django_automate.workflows.templating import render_string

logger = logging.getLogger(__name__)

#: Where a sleep's due time comes from, as named in errors (``details.field``).
UNTIL_FIELD = "sleep.until"


def is_sleep(step: dict[str, Any]) -> bool:
    return "sleep" in step


def is_wait(step: dict[str, Any]) -> bool:
    """Whether the step makes its run wait (``sleep``, ``wait_for``, ``approval``) instead of calling a connector."""
    return is_sleep(step) or wait_for.is_wait_for(step) or approvals.is_approval(step)


def run_wait(call: StepCall) -> Outcome:
    """Start, continue or end the wait of ``call.step``, whichever kind it is; ``Outcome.WAITING`` while it lasts."""
    if wait_for.is_wait_for(call.step):
        return wait_for.run_wait_for(call)
    if approvals.is_approval(call.step):
        return approvals.run_approval(call)
    return run_sleep(call)


def run_sleep(call: StepCall) -> Outcome:
    """Start, continue or end the sleep of ``call.step``; ``Outcome.WAITING`` while it lasts.

    ``call.finished`` is set when the run ended here (its last step woke up, or it was
    cancelled meanwhile), as for the last step of :func:`~django_automate.runs.steps.run_step`.
    """
    last = call.history[-1] if call.history else None
    if last is not None and last.status == StepStatus.RUNNING:
        return _resume(call, last)
    done = settled(call)
    if done is not None:
        return done
    attempt = len(call.history) + 1
    decided = condition(call, attempt)
    if decided is not None:
        return decided
    now = timezone.now()
    try:
        due = due_time(call.step["sleep"], call.data, now)
    except exceptions.AutomateError as exc:
        details = {**(exc.details or {}), "field": UNTIL_FIELD}
        return fail_attempt(call, attempt, {"code": exc.code, "message": exc.message, "details": details})
    if due <= now:
        # Nothing to wait for (0 seconds, or a time already past): the step succeeds at once.
        return _wake(call, record_attempt(call, attempt, StepStatus.RUNNING, input={"until": _iso(due)}), due)
    return _sleep(call, attempt, due)


def due_time(sleep: dict[str, Any], data: dict[str, Any], now: dt.datetime) -> dt.datetime:
    """When a sleep started ``now`` ends: ``now + seconds``, or ``until`` rendered and parsed (ISO 8601)."""
    if "seconds" in sleep:
        return now + dt.timedelta(seconds=float(sleep["seconds"]))
    value = render_string(str(sleep["until"]), data)
    return parse_until(value)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat()


def _sleep(call: StepCall, attempt: int, due: dt.datetime) -> Outcome:
    """Record the running attempt, move the run to waiting and release its job until ``due``: one transaction."""
    step_run = new_attempt(call, attempt, StepStatus.RUNNING, input={"until": _iso(due)})
    try:
        with transaction.atomic(using=call.using):
            # The reschedule is the lease check (LeaseLost rolls everything back) and gives the job up until due.
            lease.reschedule(call.job, due, None, using=call.using)
            start_run(call.run, using=call.using)
            states.transition(call.run, RunStatus.WAITING, using=call.using, waiting_until=due)
            sql.insert(step_run, call.using)
    except exceptions.IllegalTransition:
        return _ended_meanwhile(call)
    call.data["steps"][call.step_id] = {"status": "running", "output": None}
    logger.info("Run %s sleeps until %s", call.run.id, _iso(due), extra=log_extra("run_waiting", step_id=call.step_id))
    return Outcome.WAITING


def _resume(call: StepCall, sleeping: StepRun) -> Outcome:
    """The job of a sleeping run was claimed: wake it up if the sleep is over, else put the job back until it is."""
    try:
        due = parse_until((sleeping.input or {}).get("until"))
    except exceptions.ValidationError:
        due = timezone.now()  # not written by this module: nothing to wait for
    if timezone.now() < due:
        with transaction.atomic(using=call.using):
            lease.reschedule(call.job, due, None, using=call.using)
        logger.info("Run %s still sleeps until %s", call.run.id, _iso(due), extra=log_extra("run_still_waiting"))
        return Outcome.WAITING
    return _wake(call, sleeping, due)


def _wake(call: StepCall, sleeping: StepRun, due: dt.datetime) -> Outcome:
    """Close the sleep as succeeded and let the run go on (or end, after its last step), fenced by the lease."""
    output = {"slept_until": _iso(due)}
    finished = timezone.now()
    started = sleeping.started_at or finished
    duration_ms = max(0, int((finished - started).total_seconds() * 1000))
    try:
        with transaction.atomic(using=call.using):
            if call.finish is None:
                lease.fence(call.job, using=call.using)
            if call.run.status == RunStatus.WAITING:
                states.transition(call.run, RunStatus.RUNNING, using=call.using)
            if call.finish is not None:
                # The last step: the run ends and the job completes in this transaction (the lease check).
                call.finished = call.finish()
            states.close_step(sleeping, StepStatus.SUCCEEDED, using=call.using, output=output, duration_ms=duration_ms)
    except exceptions.IllegalTransition:
        return _ended_meanwhile(call)
    call.data["steps"][call.step_id] = {"status": "succeeded", "output": output}
    logger.info("Step %s slept until %s", call.step_id, output["slept_until"], extra=log_extra("step_succeeded"))
    return Outcome.SUCCEEDED


def _ended_meanwhile(call: StepCall) -> Outcome:
    """The run was cancelled while this job held it: the cancellation stands, the job completes, the sleep closes."""
    with transaction.atomic(using=call.using):
        lease.complete(call.job, using=call.using)
        states.close_open_attempts(call.run, using=call.using, error=states.ENDED_ATTEMPT, step_id=call.step_id)
    call.finished = RunStatus.CANCELLED
    return Outcome.FAILED
