"""``approval`` steps: the run waits for a person to approve or reject, once, or for the timeout.

:func:`decide` is the one service the API and the admin call: it checks the permission the
step names, records the decision on the wait's row by a conditional update (a second
decision finds it taken: ``Conflict``), appends the audit entry with the user, and makes the
run's job due, all in one transaction. The job's next claim closes the attempt: an approval
succeeds with ``{"decision", "by", "comment", "at", "timed_out"}``; a rejection fails the step
with the code ``approval_rejected`` and the same object in ``error.details``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from django_automate import exceptions
from django_automate.audit import log as audit
from django_automate.models import Decision, ExecutionRun, RunStatus, RunWait, StepStatus, WaitKind
from django_automate.runs import held
from django_automate.runs.steps import Outcome, StepCall
from django_automate.workflows.schema import MAX_WAIT_SECONDS
from django_automate.workflows.templating import render

#: The permission an approval step needs when it names none.
DEFAULT_PERMISSION = "automate.approve_run"
MAX_COMMENT = 2000


#: The states of a run whose approval can still be decided: waiting, or running (another branch of a graph is).
OPEN_RUN = (RunStatus.WAITING, RunStatus.RUNNING)


def is_approval(step: dict[str, Any]) -> bool:
    return "approval" in step


def run_approval(call: StepCall) -> Outcome:
    return held.run(call, ApprovalWait())


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.timezone.utc).isoformat() if moment is not None else None


def decision_output(wait: RunWait) -> dict[str, Any]:
    """The step's output (or, for a rejection, its error's details)."""
    return {
        "decision": wait.decision,
        "by": wait.decided_by or None,
        "comment": wait.comment,
        "at": _iso(wait.decided_at),
        "timed_out": not wait.decided_by,
    }


class ApprovalWait:
    """The :class:`~django_automate.runs.held.WaitHandler` of ``approval``."""

    kind = "approval"

    def prepare(self, call: StepCall, now: dt.datetime) -> tuple[RunWait, dict[str, Any]]:
        spec = call.step["approval"]
        title = render(spec["title"], call.data)
        title = title if isinstance(title, str) else str(title)
        timeout_at = now + dt.timedelta(seconds=float(spec.get("timeout_seconds", MAX_WAIT_SECONDS)))
        wait = RunWait(
            kind=WaitKind.APPROVAL,
            title=title[:500],
            permission=str(spec.get("permission", DEFAULT_PERMISSION)),
            on_timeout=str(spec.get("on_timeout", Decision.REJECT)),
            timeout_at=timeout_at,
        )
        shown = {
            "title": wait.title,
            "permission": wait.permission,
            "on_timeout": wait.on_timeout,
            "timeout_at": _iso(timeout_at),
        }
        return wait, shown

    def before_insert(self, wait: RunWait, using: str) -> None:
        return None

    def registered(self, wait: RunWait, using: str) -> None:
        return None

    def resolution(self, wait: RunWait, now: dt.datetime, using: str) -> held.Resolution | None:
        if not wait.decision:
            if now < wait.timeout_at:
                return None
            # Timed out: the step's on_timeout decides, by nobody; recorded on the row like a decision.
            wait.decision, wait.decided_at = wait.on_timeout or Decision.REJECT, now
            RunWait.objects.using(using).filter(pk=wait.pk, decision="").update(decision=wait.decision, decided_at=now)
        result = decision_output(wait)
        if wait.decision == Decision.APPROVE:
            return held.Resolution(StepStatus.SUCCEEDED, output=result)
        who = "the timeout" if result["timed_out"] else str(wait.decided_by)
        error = {"code": "approval_rejected", "message": f"Rejected by {who}.", "details": result}
        return held.Resolution(StepStatus.FAILED, error=error)


def pending(tenant: str, *, using: str = "default") -> Any:
    """The approvals waiting for a decision in ``tenant``, newest first."""
    return (
        RunWait.objects.using(using)
        .filter(tenant=tenant, kind=WaitKind.APPROVAL, resolved_at__isnull=True, decision="")
        .filter(run__status__in=OPEN_RUN)
        .select_related("run", "run__workflow")
    )


def open_wait(run: ExecutionRun, step_id: str, *, using: str = "default") -> RunWait:
    """The latest approval wait of the run's step; ResourceNotFound when the step has none (yet)."""
    wait = (
        RunWait.objects.using(using)
        .filter(run=run.pk, step_id=step_id, kind=WaitKind.APPROVAL)
        .order_by("-attempt")
        .first()
    )
    if wait is None:
        raise exceptions.ResourceNotFound(
            f"Run {run.pk} has no approval {step_id!r}.", details={"run_id": str(run.pk), "step_id": step_id}
        )
    return wait


def check_permission(user: Any, wait: RunWait) -> None:
    """PermissionDenied unless ``user`` holds the permission the step names."""
    if not user.has_perm(wait.permission):
        raise exceptions.PermissionDenied(
            f"You need the permission {wait.permission}.",
            details={"reason": "approval_permission", "permission": wait.permission},
        )


def decide(
    run: ExecutionRun, step_id: str, decision: str, *, user: Any, actor: str, comment: str = "", using: str = "default"
) -> RunWait:
    """Approve or reject the waiting approval ``step_id`` of ``run``, once; audited with ``actor``.

    ResourceNotFound (no such approval), PermissionDenied (the step's permission is missing),
    ValidationError (a decision other than approve/reject), Conflict (decided already, timed
    out, or the run no longer waits).
    """
    if decision not in (Decision.APPROVE, Decision.REJECT):
        raise exceptions.ValidationError(
            "decision must be approve or reject.", details={"fields": {"decision": ["Must be approve or reject."]}}
        )
    wait = open_wait(run, step_id, using=using)
    check_permission(user, wait)
    now = timezone.now()
    with transaction.atomic(using=using):
        locked = RunWait.objects.using(using).select_for_update().filter(pk=wait.pk).first()
        status = ExecutionRun.objects.using(using).values_list("status", flat=True).get(pk=run.pk)
        if locked is None or locked.decision or locked.resolved_at is not None or status not in OPEN_RUN:
            shown = (locked.decision if locked else "") or status
            raise exceptions.Conflict(
                f"Approval {step_id!r} of run {run.pk} was decided already or no longer waits ({shown}).",
                details={"reason": "already_decided", "run_id": str(run.pk), "step_id": step_id, "state": shown},
            )
        values = {"decision": decision, "decided_by": actor[:150], "comment": comment, "decided_at": now}
        RunWait.objects.using(using).filter(pk=wait.pk, decision="").update(**values)
        for name, value in values.items():
            setattr(locked, name, value)
        audit.record(
            f"run.approval_{'approved' if decision == Decision.APPROVE else 'rejected'}",
            actor=actor,
            object_type="run",
            object_id=str(run.pk),
            tenant=run.tenant,
            trace_id=run.trace_id,
            data={"step_id": step_id, "decision": decision, "comment": comment, "attempt": locked.attempt},
            using=using,
        )
        held.wake([(run.pk, step_id)], using=using)
    return locked
