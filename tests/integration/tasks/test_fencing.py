"""Every write of a task's worker is fenced by its job's lease; a crashed worker's task runs again."""

from __future__ import annotations

import django
import pytest

# Django 6.0+ has django.tasks; before it, these tests need the django-tasks backport.
pytest.importorskip(
    "tests.testapp.tasks",
    reason=f"Django {django.get_version()} has no django.tasks and the django-tasks backport is not installed "
    "(pip install 'django-automate[tasks]')",
)

from django_automate import exceptions
from django_automate.models import JobStatus, OutboxJob, TaskStatus
from django_automate.models import TaskResult as TaskRow
from django_automate.outbox.claim import claim_one, recover_expired
from django_automate.tasks import compat
from django_automate.tasks.execution import run_task
from tests.testapp import tasks

# Tests with a worker commit for real (a transactional database); the others roll back, which is faster.
pytestmark = pytest.mark.django_db
COMMITTING = pytest.mark.django_db(transaction=True)


@COMMITTING
def test_a_worker_whose_lease_expired_mid_task_writes_nothing_and_the_task_runs_again(run_worker):
    result = tasks.loses_lease_once.enqueue()
    late = claim_one(worker_id="late-worker", queues=["default"])
    assert late is not None

    with pytest.raises(exceptions.LeaseLost):
        run_task(late)  # the task ran (attempt 1) but the lease expired meanwhile: the outcome is discarded

    row = TaskRow.objects.get(pk=result.id)
    assert row.status == TaskStatus.RUNNING and row.return_value is None
    assert recover_expired() == 1
    run_worker()

    fetched = tasks.loses_lease_once.get_result(result.id)
    assert fetched.status == compat.TaskResultStatus.SUCCESSFUL
    assert fetched.return_value == 2  # at-least-once: the second attempt's value
    assert fetched.worker_ids[0] == "late-worker" and len(fetched.worker_ids) == 2
    assert OutboxJob.objects.get().status == JobStatus.DONE


def test_a_worker_that_lost_its_lease_before_starting_does_not_mark_the_task_running():
    result = tasks.add.enqueue(1, 2)
    late = claim_one(worker_id="late-worker", queues=["default"])
    assert late is not None
    OutboxJob.objects.update(lease_token=None, status=JobStatus.READY)  # recovered and handed to someone else

    with pytest.raises(exceptions.LeaseLost):
        run_task(late)

    row = TaskRow.objects.get(pk=result.id)
    assert (row.status, row.attempts, row.worker_ids) == (TaskStatus.READY, 0, [])
