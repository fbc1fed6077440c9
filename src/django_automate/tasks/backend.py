"""``AutomateBackend``: ``task.enqueue()`` writes an outbox job in the caller's transaction; workers run it.

Tasks run under the same leases, trace_id and fencing as workflow steps. As Django's Tasks
framework defines it, a task that raises is ``FAILED`` with its error recorded; it is not
retried. A worker that dies mid-task leaves its lease to expire, and another worker runs the
task again: delivery is at-least-once, so tasks should be idempotent (docs/tasks.md).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from django_automate.models import JobKind, OutboxJob, TaskStatus
from django_automate.models import TaskResult as TaskRow
from django_automate.outbox import enqueue as outbox
from django_automate.tasks import compat, ended, results
from django_automate.tracing import context

TASK_PATH_MAX_LENGTH = TaskRow._meta.get_field("task_path").max_length or 255
QUEUE_MAX_LENGTH = OutboxJob._meta.get_field("queue").max_length or 64


class AutomateBackend(compat.BaseTaskBackend):
    """Django's Tasks framework on django-automate's outbox and workers.

    ``OPTIONS``: ``DATABASE`` (the alias holding the outbox, default ``"default"``). ``QUEUES``
    limits the queue names tasks may use, as for every backend; run workers with
    ``--queues`` naming them.
    """

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.using = str(self.options.get("DATABASE", "default"))

    def validate_task(self, task: Any) -> None:
        super().validate_task(task)
        if len(task.queue_name) > QUEUE_MAX_LENGTH:
            raise compat.InvalidTask(f"Queue names are at most {QUEUE_MAX_LENGTH} characters.")
        if len(task.module_path) > TASK_PATH_MAX_LENGTH:
            raise compat.InvalidTask(f"Task paths are at most {TASK_PATH_MAX_LENGTH} characters.")

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        """Store the task and its job in the current transaction: a rollback enqueues nothing."""
        self.validate_task(task)
        now = timezone.now()
        result: Any = compat.TaskResult(
            task=task,
            id=str(uuid.uuid4()),
            status=compat.TaskResultStatus.READY,
            enqueued_at=now,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args,  # made JSON here (tuples to lists); anything else raises TypeError
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        trace_id = context.current_trace_id() or context.new_trace_id()
        with transaction.atomic(using=self.using):
            job = outbox.enqueue(
                JobKind.RUN_TASK,
                trace_id=trace_id,
                queue=task.queue_name,
                priority=task.priority,
                available_at=task.run_after,
                using=self.using,
            )
            TaskRow._default_manager.using(self.using).create(
                id=uuid.UUID(result.id),
                task_path=task.module_path,
                backend=self.alias,
                args=result.args,
                kwargs=result.kwargs,
                queue=task.queue_name,
                priority=task.priority,
                run_after=task.run_after,
                status=TaskStatus.READY,
                job=job,
                trace_id=trace_id,
                enqueued_at=now,
            )
        compat.task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> Any:
        """The stored result, read from the database (any process, any thread).

        A task whose job was dead-lettered or cancelled is ``FAILED`` (``tasks.ended``).
        """
        try:
            row = TaskRow._default_manager.using(self.using).get(pk=result_id)
        except (TaskRow.DoesNotExist, ValueError, TypeError, DjangoValidationError):
            raise compat.TaskResultDoesNotExist(result_id) from None
        return results.to_result(ended.settled(row, using=self.using), results.load_task(row.task_path))
