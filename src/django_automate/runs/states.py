"""Legal run state transitions, applied as conditional updates."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from django_automate import exceptions
from django_automate.models import ExecutionRun, RunStatus

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
    updated = ExecutionRun.objects.using(using).filter(pk=run.pk, status__in=sources).update(status=to, **values)
    if not updated:
        current = ExecutionRun.objects.using(using).values_list("status", flat=True).get(pk=run.pk)
        raise exceptions.IllegalTransition(
            f"A run cannot go from {current} to {to}.", details={"run_id": str(run.pk), "from": current, "to": to}
        )
    run.status = to
    for key, value in values.items():
        setattr(run, key, value)
