"""Between stored rows and the framework's objects: loading a task by its path, building a ``TaskResult``."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

from django_automate import exceptions
from django_automate.models import TaskResult as TaskRow
from django_automate.tasks import compat


class UnknownTask(exceptions.AutomateError):
    """The path does not name a task."""

    code = "unknown_task"
    status = 400


def load_task(path: str) -> Any:
    """The ``Task`` object at ``path`` (a function decorated with ``@task``); :class:`UnknownTask` otherwise."""
    try:
        found = import_string(path)
    except ImportError as exc:
        raise UnknownTask(f"Could not import task {path!r}: {exc}.", details={"task": path}) from exc
    if not isinstance(found, compat.Task):
        raise UnknownTask(
            f"{path!r} is not a task: decorate the function with @task (django.tasks).", details={"task": path}
        )
    return found


def for_row(task: Any, row: TaskRow) -> Any:
    """``task`` with the options it was enqueued with (``task.using(...)``)."""
    if (task.priority, task.queue_name, task.run_after, task.backend) == (
        row.priority,
        row.queue,
        row.run_after,
        row.backend,
    ):
        return task
    return task.using(priority=row.priority, queue_name=row.queue, run_after=row.run_after, backend=row.backend)


def to_result(row: TaskRow, task: Any) -> Any:
    """The framework's ``TaskResult`` for ``row`` (its return value readable once it succeeded)."""
    result: Any = compat.TaskResult(
        task=for_row(task, row),
        id=str(row.id),
        status=compat.TaskResultStatus(row.status),
        enqueued_at=row.enqueued_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        last_attempted_at=row.last_attempted_at,
        args=list(row.args),
        kwargs=dict(row.kwargs),
        backend=row.backend,
        errors=[
            compat.TaskError(exception_class_path=e["exception_class_path"], traceback=e["traceback"])
            for e in row.errors or []
        ],
        worker_ids=list(row.worker_ids or []),
    )
    object.__setattr__(result, "_return_value", row.return_value)
    return result
