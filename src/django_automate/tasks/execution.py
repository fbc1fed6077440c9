"""Running one task's job on a worker: mark it running, call it, store its outcome; every write fenced.

The job's lease fences each write (``outbox.lease``): a worker whose lease expired (its task
ran too long without heartbeats, or it froze) changes nothing, and the worker that recovered
the job runs the task again. A task that raises is ``FAILED`` (Django's Tasks framework has no
automatic retries); its job is done either way.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from django.db import transaction
from django.utils import timezone

from django_automate import conf, exceptions
from django_automate.models import OutboxJob, TaskStatus
from django_automate.models import TaskResult as TaskRow
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.policy.redaction import redact
from django_automate.tasks import compat, results
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

#: Characters of a traceback kept (its end, where the exception is).
TRACEBACK_MAX_CHARS = 16_000


class InvalidReturnValue(exceptions.AutomateError):
    """The task returned a value that cannot be stored as its result."""

    code = "invalid_task_result"


def run_task(job: ClaimedJob, *, using: str = "default") -> None:
    """Process a ``run_task`` job (called by the worker with the job's trace context bound)."""
    row = TaskRow._default_manager.using(using).filter(job_id=job.id).first()
    if row is None:
        with transaction.atomic(using=using):
            lease.dead_letter(job, {"code": "task_missing", "message": "The job's task result is gone."}, using=using)
        return
    with context.bind(task_id=row.id):
        if row.status in (TaskStatus.SUCCESSFUL, TaskStatus.FAILED):
            with transaction.atomic(using=using):
                lease.complete(job, using=using)
            return
        try:
            task = results.load_task(row.task_path)
        except results.UnknownTask as exc:
            _start(job, row, using)
            _finish(job, row, using, error=task_error(exc))
            logger.error("Task %s cannot run: %s", row.id, exc.message, extra=log_extra("task_unknown"))
            return
        _start(job, row, using)
        result = results.to_result(row, task)
        compat.task_started.send(type(task.get_backend()), task_result=result)
        value, error = _call(task, result)
        _finish(job, row, using, value=value, error=error)
        result = results.to_result(row, task)
        compat.task_finished.send(type(task.get_backend()), task_result=result)
        if error is None:
            logger.info("Task %s succeeded", row.task_path, extra=log_extra("task_succeeded", task_id=row.id))
        else:
            logger.warning(
                "Task %s failed: %s",
                row.task_path,
                error["exception_class_path"],
                extra=log_extra("task_failed", task_id=row.id),
            )


def _start(job: ClaimedJob, row: TaskRow, using: str) -> None:
    """Mark the task running, as this attempt of this worker (fenced)."""
    now = timezone.now()
    with transaction.atomic(using=using):
        lease.fence(job, using=using)
        worker_id = OutboxJob.objects.using(using).values_list("leased_by", flat=True).get(pk=job.id)
        row.status = TaskStatus.RUNNING
        row.started_at = row.started_at or now
        row.last_attempted_at = now
        row.attempts += 1
        row.worker_ids = [*(row.worker_ids or []), worker_id]
        row.save(using=using, update_fields=["status", "started_at", "last_attempted_at", "attempts", "worker_ids"])


def _call(task: Any, result: Any) -> tuple[Any, dict[str, str] | None]:
    """Call the task (a coroutine through ``async_to_sync``); ``(stored return value, None)`` or ``(None, error)``."""
    try:
        if task.takes_context:
            value = task.call(compat.TaskContext(task_result=result), *result.args, **result.kwargs)
        else:
            value = task.call(*result.args, **result.kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # as Django's backends do: whatever the task raised is its failure
        return None, task_error(exc)
    try:
        return storable(value, task.module_path), None
    except InvalidReturnValue as exc:
        return None, task_error(exc)


def storable(value: Any, path: str) -> Any:
    """``value`` as stored: JSON (tuples become lists), within ``TASK_MAX_RESULT_BYTES``, redacted."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidReturnValue(
            f"Task {path!r} returned a value that is not JSON-serialisable: {exc}.", details={"task": path}
        ) from exc
    limit = conf.task_max_result_bytes()
    if len(text.encode()) > limit:
        raise InvalidReturnValue(
            f"Task {path!r} returned {len(text.encode())} bytes of JSON; "
            f"AUTOMATE['TASK_MAX_RESULT_BYTES'] allows {limit}.",
            details={"task": path, "limit": limit},
        )
    return redact(json.loads(text))


def task_error(exc: BaseException) -> dict[str, str]:
    kind = type(exc)
    text = "".join(traceback.format_exception(kind, exc, exc.__traceback__))
    if len(text) > TRACEBACK_MAX_CHARS:
        text = "…(truncated)\n" + text[-TRACEBACK_MAX_CHARS:]
    return {"exception_class_path": f"{kind.__module__}.{kind.__qualname__}", "traceback": text}


def _finish(
    job: ClaimedJob, row: TaskRow, using: str, *, value: Any = None, error: dict[str, str] | None = None
) -> None:
    """Complete the job and record the outcome in one transaction; a lost lease discards both."""
    row.status = TaskStatus.FAILED if error else TaskStatus.SUCCESSFUL
    row.finished_at = timezone.now()
    row.return_value = None if error else value
    if error:
        row.errors = [*(row.errors or []), error]
    with transaction.atomic(using=using):
        lease.complete(job, using=using)
        row.save(using=using, update_fields=["status", "finished_at", "return_value", "errors"])
