"""Tasks on the other execution backends: ``"inline"`` runs each task in the enqueuing process once it commits.

The Celery backend, with a real broker and worker: ``tests/acceptance/test_celery.py``.
"""

from __future__ import annotations

import django
import pytest

# Django 6.0+ has django.tasks; before it, these tests need the django-tasks backport.
pytest.importorskip(
    "tests.testapp.tasks",
    reason=f"Django {django.get_version()} has no django.tasks and the django-tasks backport is not installed "
    "(pip install 'django-automate[tasks]')",
)
from django.db import transaction

from django_automate.models import JobStatus, OutboxJob
from django_automate.tasks import compat
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)
READY, SUCCESSFUL, FAILED = (
    compat.TaskResultStatus.READY,
    compat.TaskResultStatus.SUCCESSFUL,
    compat.TaskResultStatus.FAILED,
)


@pytest.fixture
def inline(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "EXECUTION_BACKEND": "inline"}


def test_an_inline_task_runs_when_its_transaction_commits_not_before(inline):
    with transaction.atomic():
        result = tasks.add.enqueue(2, 3)
        assert tasks.add.get_result(result.id).status == READY  # not before the commit

    fetched = tasks.add.get_result(result.id)
    assert (fetched.status, fetched.return_value, fetched.attempts) == (SUCCESSFUL, 5, 1)
    assert fetched.worker_ids[0].startswith("inline:")
    assert OutboxJob.objects.get().status == JobStatus.DONE


def test_an_inline_task_rolled_back_never_runs(inline):
    tasks.RECORDED.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.record.enqueue("rolled back")
        raise RuntimeError("roll back")

    assert tasks.RECORDED == [] and OutboxJob.objects.count() == 0


def test_an_inline_task_that_raises_is_failed_and_the_caller_is_not(inline):
    result = tasks.fail.enqueue("inline boom")  # autocommit: runs at once, its error stays in the result

    fetched = tasks.fail.get_result(result.id)
    assert fetched.status == FAILED
    assert fetched.errors[0].exception_class is ValueError and "inline boom" in fetched.errors[0].traceback


def test_inline_runs_every_queue_and_context_tasks(inline):
    email = tasks.send_email.enqueue("a@example.com")  # no worker serves "emails": inline needs none
    with_context = tasks.with_context.enqueue(x=1)

    assert tasks.send_email.get_result(email.id).return_value == {"sent_to": "a@example.com"}
    assert tasks.with_context.get_result(with_context.id).return_value == {"attempt": 1, "id": with_context.id, "x": 1}
