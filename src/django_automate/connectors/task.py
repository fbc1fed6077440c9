"""``task``: call a task of Django's Tasks framework inline, as a step; its return value is the output.

``{"connector": "task", "action": "myapp.tasks.send_welcome", "with": {"args": […], "kwargs": {…}}}``.
Only tasks named by ``AUTOMATE["TASKS_ALLOWED"]`` (import paths, or module prefixes ending in
``.*``) can be called, so a workflow definition cannot reach arbitrary code. The task runs in
the step, with the step's retries and idempotency key (not enqueued): a task that raises is
retried as ``unexpected_error``; ``AutomateError`` subclasses keep their meaning.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from django_automate import conf
from django_automate.connectors.base import Action, BaseConnector, ConnectorContext, PermanentError, StepResult
from django_automate.connectors.base import UnknownAction as _UnknownAction

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "args": {"type": "array", "description": "Positional arguments of the task."},
        "kwargs": {"type": "object", "description": "Keyword arguments of the task."},
    },
    "additionalProperties": False,
}


class TaskNotAllowed(_UnknownAction):
    """The task is not in ``AUTOMATE["TASKS_ALLOWED"]``."""

    code = "task_not_allowed"


class UnknownTask(_UnknownAction):
    """The action does not name a task."""

    code = "unknown_task"


class InvalidOutput(PermanentError):
    """The task returned something that is not JSON."""

    code = "invalid_output"


def allowed(path: str) -> bool:
    """Whether ``AUTOMATE["TASKS_ALLOWED"]`` lets workflows call the task at ``path``."""
    for entry in conf.tasks_allowed():
        if entry == path or (entry.endswith(".*") and path.startswith(entry[:-1])):
            return True
    return False


def _load(path: str) -> Any:
    if not allowed(path):
        raise TaskNotAllowed(
            f"Task {path!r} is not allowed: add it to AUTOMATE['TASKS_ALLOWED'].", details={"action": path}
        )
    try:
        from django_automate.tasks import results
    except ImportError as exc:
        raise UnknownTask(
            f"Task {path!r} cannot be called: Django's Tasks framework is not available ({exc}).",
            details={"action": path},
        ) from exc
    try:
        return results.load_task(path)
    except results.UnknownTask as exc:
        raise UnknownTask(exc.message, details={"action": path}) from exc


def _describe(task: Any) -> str:
    return (getattr(task.func, "__doc__", None) or "").strip().split("\n\n")[0].replace("\n", " ")


class TaskConnector(BaseConnector):
    """Call a registered task of Django's Tasks framework (``@task``) inline."""

    type = "task"

    def get_actions(self) -> Mapping[str, Action]:
        """The allowed tasks named exactly in ``TASKS_ALLOWED`` (prefixes allow tasks not listed here)."""
        found = {}
        for entry in conf.tasks_allowed():
            if entry.endswith(".*"):
                continue
            try:
                found[entry] = self.get_action(entry)
            except PermanentError:
                continue
        return found

    def get_action(self, name: str) -> Action:
        return Action(name, INPUT_SCHEMA, _describe(_load(name)))

    def execute(self, action: str, params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
        params = self.validate(action, params)
        task = _load(action)
        args, kwargs = list(params.get("args", [])), dict(params.get("kwargs", {}))
        if task.takes_context:
            from django_automate.tasks import compat

            now = timezone.now()
            result: Any = compat.TaskResult(
                task=task,
                id=ctx.idempotency_key,
                status=compat.TaskResultStatus.RUNNING,
                enqueued_at=now,
                started_at=now,
                finished_at=None,
                last_attempted_at=now,
                args=args,
                kwargs=kwargs,
                backend=task.backend,
                errors=[],
                worker_ids=[f"step:{ctx.idempotency_key}"],
            )
            output = task.call(compat.TaskContext(task_result=result), *args, **kwargs)
        else:
            output = task.call(*args, **kwargs)
        try:
            json.dumps(output, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidOutput(f"task {action!r} returned a value that is not JSON: {exc}.") from exc
        return StepResult(output=output)
