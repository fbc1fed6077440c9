"""Tasks whose job ended without them: a dead-lettered or cancelled job leaves its task ``FAILED``.

Django's Tasks framework has four statuses and no cancellation: a task that will never run
(again) is ``FAILED``, with an error naming why (:class:`TaskDeadLettered`,
:class:`TaskCancelled`) so ``get_result()`` never reports ``READY`` or ``RUNNING`` forever.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from django_automate import exceptions
from django_automate.models import JobStatus, OutboxJob, TaskStatus
from django_automate.models import TaskResult as TaskRow
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.tasks.execution import task_error

OPEN = (TaskStatus.READY, TaskStatus.RUNNING)


class TaskDeadLettered(exceptions.AutomateError):
    """The task's job was dead-lettered: processing it kept failing outside the task."""


class TaskCancelled(exceptions.AutomateError):
    """The task's job was cancelled before the task finished."""


ENDED_JOBS: dict[str, type[exceptions.AutomateError]] = {
    JobStatus.DEAD: TaskDeadLettered,
    JobStatus.CANCELLED: TaskCancelled,
}


def give_up(job: ClaimedJob, cause: BaseException, error: dict[str, Any], *, using: str = "default") -> None:
    """Dead-letter a task's job that keeps crashing and fail its task, in one transaction (fenced by the lease).

    The task's error is a :class:`TaskDeadLettered` caused by ``cause``: its traceback shows both.
    """
    dead = TaskDeadLettered(str(error.get("message") or ""))
    dead.__cause__ = cause
    with transaction.atomic(using=using):
        lease.dead_letter(job, error, using=using)
        row = TaskRow._default_manager.using(using).select_for_update().filter(job_id=job.id).first()
        if row is not None and row.status in OPEN:
            _fail(row, task_error(dead), timezone.now())
            row.save(using=using, update_fields=["status", "finished_at", "return_value", "errors"])


def settled(row: TaskRow, *, using: str = "default") -> TaskRow:
    """``row`` as its job left it: still ``READY``/``RUNNING`` while its job is dead or cancelled, it is ``FAILED``.

    Read-only (the row is not saved): covers jobs ended by hand or before tasks were failed with them.
    """
    if row.status not in OPEN or row.job_id is None:
        return row
    job = OutboxJob._default_manager.using(using).filter(pk=row.job_id).values("status", "last_error", "finished_at")
    found = job.first()
    if found is None or found["status"] not in ENDED_JOBS:
        return row
    kind = ENDED_JOBS[found["status"]]
    message = (found["last_error"] or {}).get("message") if isinstance(found["last_error"], dict) else None
    _fail(row, task_error(kind(message or None)), found["finished_at"] or timezone.now())
    return row


def _fail(row: TaskRow, error: dict[str, str], when: Any) -> None:
    row.status = TaskStatus.FAILED
    row.finished_at = when
    row.return_value = None
    row.errors = [*(row.errors or []), error]
