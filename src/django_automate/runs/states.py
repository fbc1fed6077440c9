"""Legal run state transitions, applied as conditional updates."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from django_automate import exceptions
from django_automate.internal import sql
from django_automate.models import ExecutionRun, RunStatus, StepRun, StepStatus

RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    # Pending → succeeded in one write: a run whose only step is recorded once, after its call
    # (``runs.steps``), starts and ends with that write (``started_at`` set with it).
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.SUCCEEDED, RunStatus.CANCELLED, RunStatus.FAILED}),
    # In a graph (``runs.graph``) branches run side by side: a branch waking up finds the run
    # running already (another woke it), and one starting to wait finds it waiting already.
    RunStatus.RUNNING: frozenset(
        {RunStatus.RUNNING, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.WAITING}
    ),
    # Sleeping (``runs.waits``): it wakes up (running), is cancelled, or fails when its job is given up.
    RunStatus.WAITING: frozenset({RunStatus.RUNNING, RunStatus.WAITING, RunStatus.CANCELLED, RunStatus.FAILED}),
    RunStatus.FAILED: frozenset({RunStatus.RUNNING}),  # retry from the failed step
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}
TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


def transition(run: ExecutionRun, to: str, *, using: str = "default", **values: Any) -> None:
    """Move ``run`` to ``to`` if that is legal from its current state, else raise IllegalTransition.

    A run starts once: pending → running stamps ``started_at``; running again after a retry
    (failed → running) or a wait (waiting → running) keeps it, so the run's duration counts
    from its first start. A run leaving ``waiting`` (as far as ``run.status`` knows) has its
    ``waiting_until`` cleared; moving to ``waiting`` needs one.
    """
    now = timezone.now()
    if to in TERMINAL:
        values.setdefault("finished_at", now)
    if to == RunStatus.WAITING and values.get("waiting_until") is None:
        raise ValueError("A run waits until a given time (waiting_until).")
    if to != RunStatus.WAITING and run.status == RunStatus.WAITING:
        values.setdefault("waiting_until", None)
    updated = 0
    if to == RunStatus.RUNNING and "started_at" not in values:
        first = {**values, "started_at": now}
        updated = sql.update(ExecutionRun, using, run_where(run, to, first), {"status": to, **first})
        values = first if updated else values
    if not updated:
        updated = sql.update(ExecutionRun, using, run_where(run, to, values), {"status": to, **values})
    if not updated:
        raise illegal_run_transition(run, to, using)
    run.status = to
    for key, value in values.items():
        setattr(run, key, value)


def run_where(run: ExecutionRun, to: str, values: dict[str, Any]) -> dict[str, Any]:
    """The conditions of the update moving ``run`` to ``to`` with ``values``: the legal sources of ``to``.

    Written once for the ORM path and the single-statement one (``runs.single_statement``).
    Moving to running with a ``started_at`` is the first start, from pending only; without
    one it is a resumption (a retry from failed, a wake-up from waiting), from the other sources only.
    Succeeding from pending needs a ``started_at``: the run starts and ends in one write.
    """
    sources = [state for state, targets in RUN_TRANSITIONS.items() if to in targets]
    first = "started_at" in values
    if to == RunStatus.RUNNING:
        sources = [state for state in sources if (state == RunStatus.PENDING) == first]
    elif to == RunStatus.SUCCEEDED and not first:
        sources = [state for state in sources if state != RunStatus.PENDING]
    return {"id": run.pk, "status__in": sources}


def illegal_run_transition(run: ExecutionRun, to: str, using: str) -> exceptions.IllegalTransition:
    """The error for a run that could not move to ``to``, naming the state it is in now."""
    current = ExecutionRun.objects.using(using).values_list("status", flat=True).get(pk=run.pk)
    return exceptions.IllegalTransition(
        f"A run cannot go from {current} to {to}.", details={"run_id": str(run.pk), "from": current, "to": to}
    )


# A StepRun is one attempt: created running (or directly skipped/failed), then closed once;
# an attempt closed as retrying becomes failed if its run ends before the next attempt.
STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    StepStatus.PENDING: frozenset({StepStatus.RUNNING, StepStatus.SKIPPED, StepStatus.FAILED}),
    StepStatus.RUNNING: frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.RETRYING}),
    # A retry that will not come (the run ended first): the attempt's own error stays.
    StepStatus.RETRYING: frozenset({StepStatus.FAILED}),
    StepStatus.SUCCEEDED: frozenset(),
    StepStatus.FAILED: frozenset(),
    StepStatus.SKIPPED: frozenset(),
}


def close_step(step_run: StepRun, to: str, *, using: str = "default", **values: Any) -> None:
    """Close a running attempt as ``to``; raise IllegalTransition if it is not running any more."""
    sources = [StepStatus.RUNNING] if to in STEP_TRANSITIONS[StepStatus.RUNNING] else []
    values.setdefault("finished_at", timezone.now())
    if to == StepStatus.SUCCEEDED:
        values["success_guard"] = True
    updated = sql.update(StepRun, using, {"id": step_run.pk, "status__in": sources}, {"status": to, **values})
    if not updated:
        raise exceptions.IllegalTransition(
            f"A step attempt cannot go to {to} from its current state.",
            details={"step_run_id": str(step_run.pk), "to": to},
        )
    step_run.status = to


def insert_closed_step(step_run: StepRun, to: str, *, using: str = "default", **values: Any) -> None:
    """Write an attempt recorded once, after its call, already closed as ``to`` (no running row before it)."""
    if to not in STEP_TRANSITIONS[StepStatus.RUNNING]:
        raise ValueError(f"An attempt is closed as one of {sorted(STEP_TRANSITIONS[StepStatus.RUNNING])}, not {to}.")
    step_run.status = to
    step_run.finished_at = values.pop("finished_at", None) or timezone.now()
    step_run.success_guard = True if to == StepStatus.SUCCEEDED else None
    for name, value in values.items():
        setattr(step_run, name, value)
    sql.insert(step_run, using)


#: The error of an attempt still marked running when its run ended (cancelled, or its job given up).
ENDED_ATTEMPT = {"code": "run_ended", "message": "The run ended before this attempt finished."}


def close_open_attempts(
    run: ExecutionRun, *, using: str = "default", error: dict[str, Any], running: bool = True, step_id: str = ""
) -> int:
    """The run ended: each step's last attempt still waiting for a retry, or with ``running`` still running, fails.

    Only the holder of the run's job (or the canceller, when no job of the run is claimed)
    closes running attempts: a worker still executing one closes it itself. An attempt that
    was retrying keeps its own error; a running one gets ``error``. With ``step_id`` (the
    holder of one step's job, in a graph) only that step's attempts. Returns the attempts closed.
    """
    last: dict[str, tuple[Any, str]] = {}
    rows = StepRun.objects.using(using).filter(run=run.pk).order_by("step_index", "attempt")
    if step_id:
        rows = rows.filter(step_id=step_id)
    for pk, step_id, status in rows.values_list("pk", "step_id", "status"):
        last[step_id] = (pk, status)
    waiting = [pk for pk, status in last.values() if status == StepStatus.RETRYING]
    closed = 0
    if waiting:
        where = {"id__in": waiting, "status": StepStatus.RETRYING}
        closed += sql.update(StepRun, using, where, {"status": StepStatus.FAILED})
    unfinished = [pk for pk, status in last.values() if status == StepStatus.RUNNING] if running else []
    if unfinished:
        values = {"status": StepStatus.FAILED, "finished_at": timezone.now(), "error": error}
        closed += sql.update(StepRun, using, {"id__in": unfinished, "status": StepStatus.RUNNING}, values)
    return closed
