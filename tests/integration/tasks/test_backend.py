"""AutomateBackend through the public Tasks API: enqueue in the caller's transaction, workers, results."""

from __future__ import annotations

import datetime as dt

import django
import pytest

# Django 6.0+ has django.tasks; before it, these tests need the django-tasks backport.
pytest.importorskip(
    "tests.testapp.tasks",
    reason=f"Django {django.get_version()} has no django.tasks and the django-tasks backport is not installed "
    "(pip install 'django-automate[tasks]')",
)
from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from django_automate.models import JobKind, JobStatus, OutboxJob, TaskResult
from django_automate.tasks import compat
from django_automate.tracing import context
from tests.testapp import tasks

# Tests with a worker commit for real (a transactional database); the others roll back, which is faster.
pytestmark = pytest.mark.django_db
COMMITTING = pytest.mark.django_db(transaction=True)


def test_the_backend_declares_what_it_supports():
    backend = compat.task_backends["default"]
    assert type(backend).__name__ == "AutomateBackend"
    assert (backend.supports_defer, backend.supports_async_task) == (True, True)
    assert (backend.supports_get_result, backend.supports_priority) == (True, True)


@COMMITTING
def test_a_rolled_back_transaction_enqueues_nothing():
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.add.enqueue(1, 2)
        assert TaskResult.objects.count() == 1
        raise RuntimeError("roll back")

    assert TaskResult.objects.count() == 0
    assert OutboxJob.objects.count() == 0


def test_enqueue_stores_a_ready_result_and_its_job_in_the_callers_transaction():
    with transaction.atomic(), context.bind(trace_id="7a6b2c1d-0000-4000-8000-000000000001"):
        result = tasks.add.enqueue(2, b=3)

    assert result.status == compat.TaskResultStatus.READY
    row = TaskResult.objects.get(pk=result.id)
    assert (row.task_path, row.args, row.kwargs, row.queue) == ("tests.testapp.tasks.add", [2], {"b": 3}, "default")
    assert row.job.kind == JobKind.RUN_TASK and row.job.status == JobStatus.READY
    assert row.trace_id == row.job.trace_id == "7a6b2c1d-0000-4000-8000-000000000001"


@COMMITTING
def test_a_worker_runs_the_task_and_get_result_returns_its_value(run_worker):
    result = tasks.add.enqueue(2, 3)

    run_worker()

    fetched = tasks.add.get_result(result.id)
    assert fetched.status == compat.TaskResultStatus.SUCCESSFUL
    assert fetched.return_value == 5
    assert fetched.attempts == 1 and len(fetched.worker_ids) == 1
    assert fetched.enqueued_at <= fetched.started_at <= fetched.finished_at
    result.refresh()
    assert result.return_value == 5
    assert OutboxJob.objects.get().status == JobStatus.DONE


@COMMITTING
def test_a_task_that_raises_is_failed_with_its_error_and_not_retried(run_worker):
    result = tasks.fail.enqueue("boom")

    run_worker()

    fetched = compat.task_backends["default"].get_result(result.id)
    assert fetched.status == compat.TaskResultStatus.FAILED
    [error] = fetched.errors
    assert error.exception_class is ValueError
    assert "ValueError: boom" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        fetched.return_value  # noqa: B018
    assert OutboxJob.objects.get().status == JobStatus.DONE


@COMMITTING
def test_run_after_defers_the_task(run_worker):
    later = timezone.now() + dt.timedelta(hours=1)
    result = tasks.add.using(run_after=later).enqueue(1, 1)

    run_worker()

    assert tasks.add.get_result(result.id).status == compat.TaskResultStatus.READY
    assert OutboxJob.objects.get().available_at == later
    OutboxJob.objects.update(available_at=timezone.now())
    run_worker()
    assert tasks.add.get_result(result.id).return_value == 2


@COMMITTING
def test_higher_priority_runs_first(run_worker):
    tasks.RECORDED.clear()
    tasks.record.using(priority=-10).enqueue("low")
    tasks.record.enqueue("normal")
    tasks.record.using(priority=50).enqueue("high")

    run_worker()

    assert tasks.RECORDED == ["high", "normal", "low"]


@COMMITTING
def test_queue_names_are_validated_and_map_to_job_queues(run_worker):
    with pytest.raises(compat.InvalidTask, match="Queue 'nope' is not valid"):
        tasks.add.using(queue_name="nope")
    result = tasks.send_email.enqueue("a@example.com")
    assert OutboxJob.objects.get().queue == "emails"

    run_worker()  # the default queue only
    assert tasks.send_email.get_result(result.id).status == compat.TaskResultStatus.READY

    from django_automate.worker.loop import Worker

    Worker(queues=["emails"], once=True, install_signal_handlers=False).run()
    assert tasks.send_email.get_result(result.id).return_value == {"sent_to": "a@example.com"}


@COMMITTING
def test_a_task_taking_context_and_an_async_task_run(run_worker):
    with_context = tasks.with_context.enqueue(x=7)
    async_result = async_to_sync(tasks.async_double.aenqueue)(21)

    run_worker()

    assert tasks.with_context.get_result(with_context.id).return_value == {"attempt": 1, "id": with_context.id, "x": 7}
    assert async_to_sync(tasks.async_double.aget_result)(async_result.id).return_value == 42


@COMMITTING
def test_return_values_are_stored_as_json_within_the_cap_and_redacted(run_worker, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "TASK_MAX_RESULT_BYTES": 100}
    not_json, small, large = tasks.not_json.enqueue(), tasks.big.enqueue(10), tasks.big.enqueue(200)
    secret = tasks.returns_secret.enqueue()

    run_worker()

    failed = tasks.not_json.get_result(not_json.id)
    assert failed.status == compat.TaskResultStatus.FAILED
    [error] = failed.errors
    assert error.exception_class_path == "django_automate.tasks.execution.InvalidReturnValue"
    assert "not JSON-serialisable" in error.traceback
    assert tasks.big.get_result(small.id).return_value == "x" * 10
    too_large = tasks.big.get_result(large.id)
    assert too_large.status == compat.TaskResultStatus.FAILED
    assert "TASK_MAX_RESULT_BYTES" in too_large.errors[0].traceback
    assert tasks.returns_secret.get_result(secret.id).return_value == {"token": "[REDACTED]", "ok": True}


def test_get_result_of_an_unknown_id_raises_does_not_exist():
    backend = compat.task_backends["default"]
    for unknown in ("not-a-uuid", "00000000-0000-4000-8000-000000000000"):
        with pytest.raises(compat.TaskResultDoesNotExist):
            backend.get_result(unknown)


def test_arguments_that_are_not_json_are_refused_at_enqueue():
    with pytest.raises(TypeError):
        tasks.add.enqueue(object(), 1)
    assert TaskResult.objects.count() == 0
