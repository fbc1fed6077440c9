"""Legal run state transitions, applied as conditional updates."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from django_automate import exceptions
from django_automate.internal import sql
from django_automate.models import ExecutionRun, RunStatus, StepRun, StepStatus

RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED}),
    RunStatus.RUNNING: frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.FAILED: frozenset({RunStatus.RUNNING}),  # retry from the failed step
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}
TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


def transition(run: ExecutionRun, to: str, *, using: str = "default", **values: Any) -> None:
    """Move ``run`` to ``to`` if that is legal from its current state, else raise IllegalTransition."""
    sources = [state for state, targets in RUN_TRANSITIONS.items() if to in targets]
    now = timezone.now()
    if to == RunStatus.RUNNING:
        values.setdefault("started_at", now)
    if to in TERMINAL:
        values.setdefault("finished_at", now)
    updated = sql.update(ExecutionRun, using, {"id": run.pk, "status__in": sources}, {"status": to, **values})
    if not updated:
        raise illegal_run_transition(run, to, using)
    run.status = to
    for key, value in values.items():
        setattr(run, key, value)


def illegal_run_transition(run: ExecutionRun, to: str, using: str) -> exceptions.IllegalTransition:
    """The error for a run that could not move to ``to``, naming the state it is in now."""
    current = ExecutionRun.objects.using(using).values_list("status", flat=True).get(pk=run.pk)
    return exceptions.IllegalTransition(
        f"A run cannot go from {current} to {to}.", details={"run_id": str(run.pk), "from": current, "to": to}
    )


# A StepRun is one attempt: created running (or directly skipped/failed), then closed once.
STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    StepStatus.PENDING: frozenset({StepStatus.RUNNING, StepStatus.SKIPPED, StepStatus.FAILED}),
    StepStatus.RUNNING: frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.RETRYING}),
    StepStatus.RETRYING: frozenset(),
    StepStatus.SUCCEEDED: frozenset(),
    StepStatus.FAILED: frozenset(),
    StepStatus.SKIPPED: frozenset(),
}


def close_step(step_run: StepRun, to: str, *, using: str = "default", **values: Any) -> None:
    """Close a running attempt as ``to``; raise IllegalTransition if it is not running any more."""
    sources = [state for state, targets in STEP_TRANSITIONS.items() if to in targets and state != StepStatus.PENDING]
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
