"""A task whose job ends without it (dead-lettered or cancelled) is reported FAILED, never READY/RUNNING forever."""

from __future__ import annotations

import django
import pytest

# Django 6.0+ has django.tasks; before it, these tests need the django-tasks backport.
pytest.importorskip(
    "tests.testapp.tasks",
    reason=f"Django {django.get_version()} has no django.tasks and the django-tasks backport is not installed "
    "(pip install 'django-automate[tasks]')",
)
from asgiref.sync import async_to_sync
from django.utils import timezone

from django_automate.models import JobStatus, OutboxJob, TaskStatus
from django_automate.models import TaskResult as TaskRow
from django_automate.tasks import compat
from django_automate.tasks.ended import TaskCancelled, TaskDeadLettered
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)
FAILED, RUNNING = compat.TaskResultStatus.FAILED, compat.TaskResultStatus.RUNNING


@pytest.fixture
def broken_receiver():
    """A project's ``task_started`` receiver that always raises: every claim of the job crashes (a poison job)."""

    def receiver(sender, **kwargs):
        raise RuntimeError("the receiver is broken")

    compat.task_started.connect(receiver, dispatch_uid="broken-receiver")
    yield
    compat.task_started.disconnect(dispatch_uid="broken-receiver")


def test_a_task_whose_job_is_dead_lettered_after_repeated_crashes_is_failed_with_the_cause(
    run_worker, settings, broken_receiver
):
    settings.AUTOMATE = {**settings.AUTOMATE, "MAX_JOB_CRASHES": 2}
    result = tasks.add.enqueue(1, 2)

    run_worker()  # the first crash: the job is rescheduled, the task will run again
    assert tasks.add.get_result(result.id).status == RUNNING
    assert OutboxJob.objects.get().status == JobStatus.READY
    OutboxJob.objects.update(available_at=timezone.now())
    run_worker()  # the second crash: dead-lettered

    assert OutboxJob.objects.get().status == JobStatus.DEAD
    fetched = tasks.add.get_result(result.id)
    assert fetched.status == FAILED and fetched.finished_at is not None and fetched.attempts == 2
    [error] = fetched.errors
    assert error.exception_class is TaskDeadLettered
    assert "RuntimeError: the receiver is broken" in error.traceback  # the cause, with its traceback
    assert "dead-lettered after 2 claims in a row that failed" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        fetched.return_value  # noqa: B018
    # Stored, so the admin and the API (which read the row) agree with get_result().
    assert TaskRow.objects.get(pk=result.id).status == TaskStatus.FAILED
    result.refresh()
    assert result.status == FAILED


def test_a_task_whose_job_was_cancelled_is_failed_and_never_runs(run_worker):
    result = tasks.add.enqueue(1, 2)
    OutboxJob.objects.update(status=JobStatus.CANCELLED, finished_at=timezone.now())

    assert run_worker() == 0
    fetched = tasks.add.get_result(result.id)
    assert fetched.status == FAILED and fetched.finished_at is not None
    [error] = fetched.errors
    assert error.exception_class is TaskCancelled
    assert "cancelled before the task finished" in error.traceback
    assert async_to_sync(tasks.add.aget_result)(result.id).status == FAILED


def test_a_running_task_whose_job_was_dead_lettered_elsewhere_reports_the_jobs_error():
    result = tasks.add.enqueue(1, 2)
    TaskRow.objects.update(status=TaskStatus.RUNNING, attempts=1)
    OutboxJob.objects.update(status=JobStatus.DEAD, last_error={"code": "internal_error", "message": "disk full"})

    fetched = compat.task_backends["default"].get_result(result.id)

    assert fetched.status == FAILED
    assert fetched.errors[-1].exception_class is TaskDeadLettered
    assert "TaskDeadLettered: disk full" in fetched.errors[-1].traceback


def test_finished_tasks_keep_their_outcome_whatever_their_job_says(run_worker):
    result = tasks.add.enqueue(2, 3)
    run_worker()
    OutboxJob.objects.update(status=JobStatus.DEAD)  # e.g. marked by hand afterwards

    fetched = tasks.add.get_result(result.id)
    assert (fetched.status, fetched.return_value, fetched.errors) == (compat.TaskResultStatus.SUCCESSFUL, 5, [])
