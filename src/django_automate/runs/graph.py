"""Executing a run whose definition is a graph (``needs``): each ready step is a job of its own, on any worker.

The run's job (``execute_run``) starts the graph: it writes a job for each step that needs
nothing. Each step's job (``execute_step``) runs its step exactly as the ordered executor
runs one (the same attempts, retries, sleeps, budgets, idempotency key and fencing), then
*advances* the run. An advance locks the run's row, reads which steps have finished, writes
a job for each step whose needs have all finished and that has none yet, and ends the run
once every step has finished; a step that failed with ``on_failure: fail_run`` fails the run
instead, and the jobs of steps not started yet are cancelled (steps in flight finish and are
recorded). The lock serialises the advances of one run: two branches finishing together
start their join once. An advance is idempotent, so a worker that dies between recording its
step and advancing is followed by the next claim of its job, which finds the step settled
(it is not run again) and advances.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import transaction
from django.utils import timezone

from django_automate import exceptions
from django_automate.models import ExecutionRun, JobKind, JobStatus, OutboxJob, RunStatus, StepRun, StepStatus
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.outbox.enqueue import enqueue
from django_automate.policy import budgets
from django_automate.runs import concurrency, items, states, waits
from django_automate.runs.context import run_data
from django_automate.runs.loading import run_to_execute
from django_automate.runs.steps import Outcome, StepCall, run_step, settled, start_run
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra
from django_automate.workflows import graph
from django_automate.workflows.versions import priority_of

logger = logging.getLogger(__name__)

#: Jobs that still stand for their step: it is started (or about to be) and must not get another.
LIVE = (JobStatus.READY, JobStatus.CLAIMED)


def steps_of(run: ExecutionRun) -> list[dict[str, Any]]:
    return list(run.workflow_version.definition.get("steps", []))


def start(job: ClaimedJob, run: ExecutionRun, *, using: str = "default") -> str:
    """The run's own job: start the run and the steps that are ready (after a retry, the failed ones again)."""
    return advance(job, run, using=using)


def execute_step(job: ClaimedJob, *, using: str = "default", stopping: threading.Event | None = None) -> str:
    """Run the job's step (one attempt, or the rest of a sleep), then advance the run; the run's status after."""
    if job.run_id is None or not job.step_id:
        raise exceptions.ValidationError("An execute_step job needs a run and a step.", details={"job_id": job.id})
    run = run_to_execute(job.run_id, using=using)
    terminal_before = run.status in states.TERMINAL
    status = _execute_step(job, run, using)
    if status in states.TERMINAL and not terminal_before:
        concurrency.release(run, using=using)  # the run ended here: its slot goes to the next run of its key
    return status


def _execute_step(job: ClaimedJob, run: ExecutionRun, using: str) -> str:
    with context.bind(run_id=run.id, event_id=run.event_id, tenant=run.tenant, step_id=job.step_id):
        if run.status in states.TERMINAL:
            with transaction.atomic(using=using):
                lease.complete(job, using=using)
                # The run ended (failed elsewhere, or cancelled): this step does not start, an open attempt closes.
                states.close_open_attempts(run, using=using, error=states.ENDED_ATTEMPT, step_id=job.step_id)
            return str(run.status)
        steps = steps_of(run)
        item = items.parse(job.step_id)
        step_id = item[0] if item else job.step_id
        index = next((n for n, step in enumerate(steps) if step.get("id") == step_id), None)
        if index is None or (item is not None and "for_each" not in steps[index]):
            # A version is immutable: only a hand-written job can name another step.
            error = {"code": "unknown_step", "message": f"The run's workflow version has no step {job.step_id!r}."}
            with transaction.atomic(using=using):
                lease.dead_letter(job, error, using=using)
            return str(run.status)
        history = _history(run, using)
        data = run_data(run)
        data["steps"].update(finished_outputs(steps, history))
        step = steps[index]
        call = StepCall(
            job=job,
            run=run,
            index=index,
            step=step,
            data=data,
            using=using,
            history=history.get(step_id, []),
            budgets=budgets.load(run, using=using),
        )
        if item is not None:
            return _run_item(call, item[1], history.get(job.step_id, []))
        if "for_each" in step:
            outcome = items.expand(call)
        elif waits.is_wait(step):
            outcome = waits.run_wait(call)
        else:
            outcome = settled(call) or run_step(call)
        if call.finished is not None:
            return call.finished
        if outcome in (Outcome.RETRY_SCHEDULED, Outcome.WAITING):
            return str(run.status)
        return advance(job, run, using=using)


def _run_item(call: StepCall, index: int, history: list[StepRun]) -> str:
    """One item of a ``for_each`` step: an attempt like any step's, then more items or the step's end."""
    try:
        values = items.render_items(call.step, call.data)
    except exceptions.AutomateError:
        values = []  # the list rendered before (its inputs are settled): only a changed setting gets here
    if index >= len(values):
        error = {"code": "unknown_step", "message": f"Step {call.step_id!r} has no item {index}."}
        with transaction.atomic(using=call.using):
            lease.dead_letter(call.job, error, using=call.using)
        return str(call.run.status)
    item = items.item_call(call, index, values[index], history)
    outcome = settled(item) or run_step(item)
    if outcome is Outcome.RETRY_SCHEDULED:
        return str(call.run.status)
    return advance(call.job, call.run, using=call.using)


def _history(run: ExecutionRun, using: str) -> dict[str, list[StepRun]]:
    history: dict[str, list[StepRun]] = {}
    for attempt in StepRun.objects.using(using).filter(run=run).order_by("step_index", "attempt"):
        history.setdefault(attempt.step_id, []).append(attempt)
    return history


def finished_outputs(steps: list[dict[str, Any]], history: dict[str, list[StepRun]]) -> dict[str, dict[str, Any]]:
    """What later steps read of each finished step: ``{"status", "output"}`` (and ``error`` for a failed one)."""
    outputs: dict[str, dict[str, Any]] = {}
    for step in steps:
        attempts = history.get(str(step.get("id")), [])
        if not attempts:
            continue
        last = attempts[-1]
        if last.status == StepStatus.SUCCEEDED:
            outputs[last.step_id] = {"status": "succeeded", "output": last.output}
        elif last.status == StepStatus.SKIPPED:
            outputs[last.step_id] = {"status": "skipped", "output": None}
        elif last.status == StepStatus.FAILED:
            outputs[last.step_id] = {"status": "failed", "output": None, "error": last.error}
    return outputs


def _last_statuses(run: ExecutionRun, using: str) -> dict[str, tuple[str, Any]]:
    """Each step id -> (status, error) of its last attempt."""
    last: dict[str, tuple[str, Any]] = {}
    rows = StepRun.objects.using(using).filter(run=run.pk).order_by("step_index", "attempt")
    for step_id, status, error in rows.values_list("step_id", "status", "error"):
        last[step_id] = (status, error)
    return last


def advance(job: ClaimedJob, run: ExecutionRun, *, using: str = "default") -> str:
    """Under a lock on the run: start the ready steps, or end the run; complete ``job``. The run's status after."""
    with transaction.atomic(using=using):
        # A write first (SQLite takes its write lock now, not halfway through), then the run's lock:
        # what this transaction reads next includes every advance committed before it.
        lease.fence(job, using=using)
        status = ExecutionRun.objects.using(using).select_for_update().values_list("status", flat=True).get(pk=run.pk)
        run.status = status
        if status in states.TERMINAL:
            lease.complete(job, using=using)
            return str(status)
        steps = steps_of(run)
        by_id = {str(step["id"]): step for step in steps}
        item = items.parse(job.step_id)
        step_id = item[0] if item else job.step_id
        if item is not None and not items.after_item(job, run, by_id[step_id], using):
            return str(run.status)  # more items to go: the job completed there
        # Item attempts (``id[index]``) are not steps of the graph: their step's own attempt speaks for them.
        last = {sid: value for sid, value in _last_statuses(run, using).items() if sid in by_id}
        failing = [
            sid
            for sid, (step_status, _) in last.items()
            if step_status == StepStatus.FAILED and by_id[sid].get("on_failure", "fail_run") == "fail_run"
        ]
        jobs = OutboxJob.objects.using(using).filter(run=run.pk, kind=JobKind.EXECUTE_STEP)
        live = set(jobs.filter(status__in=LIVE).exclude(id=job.id).values_list("step_id", flat=True))
        if failing and job.kind == JobKind.EXECUTE_STEP and step_id in failing:
            return _fail(job, run, step_id, last[step_id][1], using)
        finished = {
            step_id
            for step_id, (step_status, _) in last.items()
            if step_status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
            or (step_status == StepStatus.FAILED and step_id not in failing)
        }
        if len(finished) == len(steps):
            final = _end(job, run, RunStatus.SUCCEEDED, using)
            if final == RunStatus.SUCCEEDED:
                logger.info("Run %s succeeded", run.id, extra=log_extra("run_succeeded"))
            return final
        start_run(run, using=using)
        # A failed step (fail_run) with no job is run again: the run was retried from it.
        for step_id in graph.ready(graph.needs_of(steps), finished, live):
            enqueue(
                JobKind.EXECUTE_STEP,
                run=run,
                step_id=step_id,
                tenant=run.tenant,
                trace_id=run.trace_id,
                priority=priority_of(run.workflow_version_id, using=using),
                using=using,
            )
        lease.complete(job, using=using)
        return str(run.status)


def _fail(job: ClaimedJob, run: ExecutionRun, step_id: str, error: Any, using: str) -> str:
    """Inside the advance: the run fails for ``step_id``; steps not started are cancelled, this job dead-lettered."""
    run_error = {"step_id": step_id, **(error or {})}
    states.transition(run, RunStatus.FAILED, using=using, error=run_error)
    now = timezone.now()
    jobs = OutboxJob.objects.using(using).filter(run=run.pk, kind=JobKind.EXECUTE_STEP).exclude(id=job.id)
    jobs.filter(status=JobStatus.READY).update(status=JobStatus.CANCELLED, finished_at=now, updated_at=now)
    # A sleep, a retry that will not come, a for_each step whose items stop: their attempts close now.
    # Attempts whose job another worker holds are closed by that worker when it sees the run ended.
    held = set(jobs.filter(status=JobStatus.CLAIMED).values_list("step_id", flat=True))
    open_steps = (
        StepRun.objects.using(using)
        .filter(run=run.pk, status__in=(StepStatus.RUNNING, StepStatus.RETRYING))
        .values_list("step_id", flat=True)
    )
    for open_step in set(open_steps) - held - {job.step_id}:
        states.close_open_attempts(run, using=using, error=states.ENDED_ATTEMPT, step_id=open_step)
    lease.dead_letter(job, run_error, using=using)
    logger.info("Run %s failed", run.id, extra=log_extra("run_failed"))
    return RunStatus.FAILED


def _end(job: ClaimedJob, run: ExecutionRun, status: str, using: str) -> str:
    try:
        states.transition(run, status, using=using)
    except exceptions.IllegalTransition:
        lease.complete(job, using=using)
        return RunStatus.CANCELLED
    lease.complete(job, using=using)
    return status
