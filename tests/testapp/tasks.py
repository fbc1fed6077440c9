"""Tasks of Django's Tasks framework, used by the tests of AutomateBackend and the ``task`` connector."""

from __future__ import annotations

import datetime as dt
from typing import Any

try:
    from django.tasks import TaskContext, task
except ImportError:  # Django < 6.0: the django-tasks backport
    from django_tasks import TaskContext, task  # type: ignore[no-redef]

#: Labels of ``record`` in the order the (in-process) worker ran them.
RECORDED: list[str] = []


@task
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@task
def fail(message: str) -> None:
    raise ValueError(message)


@task(queue_name="emails")
def send_email(to: str) -> dict[str, Any]:
    return {"sent_to": to}


@task
def record(label: str) -> str:
    RECORDED.append(label)
    return label


@task(takes_context=True)
def with_context(context: Any, x: int) -> dict[str, Any]:
    return {"attempt": context.attempt, "id": context.task_result.id, "x": x}


@task
async def async_double(x: int) -> int:
    return x * 2


@task
def not_json() -> Any:
    return {"when": dt.datetime(2026, 1, 1)}


@task
def returns_secret() -> dict[str, Any]:
    return {"token": "s3cr3t", "ok": True}


@task
def big(size: int) -> str:
    return "x" * size


@task(takes_context=True)
def loses_lease_once(context: Any) -> int:
    """On its first attempt, the worker's lease expires while the task runs (a frozen worker, simulated)."""
    from django.utils import timezone

    from django_automate.models import OutboxJob
    from django_automate.models import TaskResult as TaskRow

    if context.attempt == 1:
        job_id = TaskRow.objects.get(pk=context.task_result.id).job_id
        OutboxJob.objects.filter(pk=job_id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    return context.attempt


# -- the conformance tests (tests/integration/tasks/test_conformance.py), after Django's tests/tasks/tasks.py --


@task
def echo(value: Any) -> Any:
    return value


@task
def exits() -> None:
    raise SystemExit("This Task failed due to SystemExit")


@task
def interrupted() -> None:
    raise KeyboardInterrupt("This Task failed due to KeyboardInterrupt")


@task
def complex_exception() -> None:
    raise ValueError(ValueError("This task failed"))


@task(takes_context=True)
def observes_itself(context: Any) -> dict[str, Any]:
    """What the task sees of itself while it runs: its context and its stored result."""
    stored = context.task_result.task.get_result(context.task_result.id)
    return {
        "context_is_task_context": isinstance(context, TaskContext),
        "attempt": context.attempt,
        "id": context.task_result.id,
        "context_status": context.task_result.status.value,
        "stored_status": stored.status.value,
    }
