"""A project using only the public Tasks API (``@task``, ``enqueue``, ``get_result``) on real worker processes.

The project is the test settings: ``TASKS = {"default": {"BACKEND":
"django_automate.tasks.AutomateBackend", …}}``, tasks in ``tests/testapp/tasks.py``.
"""

from __future__ import annotations

import signal

import django
import pytest

# Django 6.0+ has django.tasks; before it, these tests need the django-tasks backport.
pytest.importorskip(
    "tests.testapp.tasks",
    reason=f"Django {django.get_version()} has no django.tasks and the django-tasks backport is not installed "
    "(pip install 'django-automate[tasks]')",
)
from django.db import connection

# What a project imports: Django's own framework from 6.0 on (even with the backport installed), the backport before.
if django.VERSION >= (6, 0):
    from django.tasks import Task, TaskResultStatus, task_backends
else:
    from django_tasks import TaskResultStatus, task_backends  # type: ignore[no-redef]
    from django_tasks.base import Task  # type: ignore[no-redef]

from django_automate.models import TaskResult
from tests.acceptance.conftest import wait_for, wait_ready
from tests.testapp.tasks import add, send_email

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]


def test_fifty_tasks_run_to_successful_on_a_real_worker(start_worker):
    # The project's tasks and our backend belong to the framework it imports (django.tasks on 6.x).
    assert isinstance(add, Task) and isinstance(send_email, Task)
    backend = task_backends["default"]
    assert type(backend).__module__ == "django_automate.tasks.backend"
    assert backend.supports_get_result and backend.supports_defer
    results = [add.enqueue(n, n) for n in range(45)]
    results += [send_email.enqueue(f"user{n}@example.com") for n in range(5)]
    concurrency = "1" if connection.vendor == "sqlite" else "2"  # SQLite: one writer
    worker = start_worker("--queues", "default,emails", "--concurrency", concurrency)

    # Waiting reads one count (not 50 results) per poll; everything asserted below goes through the public API.
    finished = TaskResult.objects.filter(status__in=["SUCCESSFUL", "FAILED"])
    wait_for(lambda: finished.count() == len(results), 60, "50 finished tasks", worker)
    for result in results:
        result.refresh()
    wait_ready(worker)
    worker.send_signal(signal.SIGTERM)
    assert worker.exit_after_sigterm() == 0

    assert {result.status for result in results} == {TaskResultStatus.SUCCESSFUL}
    assert [add.get_result(r.id).return_value for r in results[:45]] == [2 * n for n in range(45)]
    assert send_email.get_result(results[-1].id).return_value == {"sent_to": "user4@example.com"}
    assert all(result.attempts == 1 and result.worker_ids for result in results)
