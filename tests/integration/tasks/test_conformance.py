"""AutomateBackend against the public contract of Django's Tasks framework, point by point.

Django's own tests (``tests/tasks/`` in Django's source) are written for its dummy and
immediate backends and cannot run against another one (docs/tasks.md, "Conformance"); these
follow the documented API instead, and the behaviour those tests expect of every backend:
enqueue/aenqueue, get_result/aget_result, priority, queue names, run_after, context, status
transitions, return values, errors, the ``supports_*`` flags, ``validate_task`` and ``using()``.
Each task runs on an in-process worker (``run_worker``), as ``manage.py automate worker`` runs it.
"""

from __future__ import annotations

import datetime as dt
import pickle
import threading
import uuid

import django
import pytest

# Django 6.0+ has django.tasks; before it, these tests need the django-tasks backport.
pytest.importorskip(
    "tests.testapp.tasks",
    reason=f"Django {django.get_version()} has no django.tasks and the django-tasks backport is not installed "
    "(pip install 'django-automate[tasks]')",
)
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from django_automate.models import JobStatus, OutboxJob
from django_automate.models import TaskResult as TaskRow
from django_automate.outbox.claim import claim_one
from django_automate.tasks import compat
from django_automate.tasks.execution import run_task
from tests.testapp import tasks

try:
    from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY
    from django.tasks.exceptions import TaskResultMismatch
except ImportError:  # Django < 6.0: the django-tasks backport
    from django_tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY  # type: ignore[no-redef]
    from django_tasks.exceptions import TaskResultMismatch  # type: ignore[no-redef]

pytestmark = pytest.mark.django_db(transaction=True)
Status = compat.TaskResultStatus
TWO_BACKENDS = {
    "default": {"BACKEND": "django_automate.tasks.AutomateBackend", "QUEUES": ["default", "emails"]},
    "other": {"BACKEND": "django_automate.tasks.AutomateBackend", "QUEUES": []},
}


@pytest.fixture
def signals():
    """``(signal name, status)`` of each Tasks signal sent, in order."""
    sent: list[tuple[str, str, str]] = []
    receivers = {}
    for name in ("task_enqueued", "task_started", "task_finished"):

        def receiver(sender, task_result, _name=name, **kwargs):
            sent.append((_name, task_result.id, task_result.status))

        receivers[name] = receiver
        getattr(compat, name).connect(receiver)
    yield sent
    for name, receiver in receivers.items():
        getattr(compat, name).disconnect(receiver)


# -- enqueue / aenqueue -----------------------------------------------------------------------------


def test_enqueue_returns_a_ready_result_as_the_framework_defines_it(signals):
    result = tasks.add.enqueue(1, b=2)

    assert isinstance(result, compat.TaskResult)
    assert uuid.UUID(result.id) and result.task == tasks.add and result.backend == "default"
    assert (result.status, result.is_finished, result.args, result.kwargs) == (Status.READY, False, [1], {"b": 2})
    assert result.enqueued_at is not None and timezone.is_aware(result.enqueued_at)
    assert (result.started_at, result.finished_at, result.last_attempted_at) == (None, None, None)
    assert (result.errors, result.worker_ids, result.attempts) == ([], [], 0)
    with pytest.raises(ValueError, match="Task has not finished yet"):
        result.return_value  # noqa: B018
    assert signals == [("task_enqueued", result.id, Status.READY)]


def test_aenqueue_does_what_enqueue_does():
    result = async_to_sync(tasks.add.aenqueue)(3, 4)

    assert (result.status, result.args) == (Status.READY, [3, 4])
    assert TaskRow.objects.filter(pk=result.id).exists()


def test_tuples_become_lists_and_arguments_that_are_not_json_are_refused():
    assert tasks.echo.enqueue((1, (2, 3))).args == [[1, [2, 3]]]
    with pytest.raises(TypeError, match="Unsupported type"):
        tasks.echo.enqueue(dt.datetime.now(tz=dt.timezone.utc))
    with pytest.raises(TypeError, match="Unsupported type"):
        async_to_sync(tasks.echo.aenqueue)(object())
    assert TaskRow.objects.count() == 1


def visible_elsewhere(result_id: str) -> bool:
    """Whether another connection (a worker's) sees the task's row and its job."""
    seen: list[bool] = []

    def look() -> None:
        try:
            seen.append(TaskRow.objects.filter(pk=result_id, job__status=JobStatus.READY).exists())
        finally:
            connection.close()

    thread = threading.Thread(target=look)
    thread.start()
    thread.join()
    return seen[0]


def test_enqueue_belongs_to_the_callers_transaction(run_worker):
    with transaction.atomic():
        kept = tasks.add.enqueue(1, 1)
        assert not visible_elsewhere(kept.id)  # no worker can claim it before the commit
    assert visible_elsewhere(kept.id)
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.add.enqueue(2, 2)
        raise RuntimeError("roll back")

    assert run_worker() == 1
    assert TaskRow.objects.get().pk == uuid.UUID(kept.id)
    assert tasks.add.get_result(kept.id).return_value == 2


# -- get_result / aget_result / refresh -------------------------------------------------------------


def test_get_result_equals_the_enqueued_result():
    result = tasks.add.enqueue(1, 2)

    assert tasks.add.get_result(result.id) == result
    assert async_to_sync(tasks.add.aget_result)(result.id) == result
    assert compat.task_backends["default"].get_result(result.id) == result


@pytest.mark.skipif(
    not hasattr(compat.Task, "_reconstruct"), reason="this version of the framework cannot pickle tasks"
)
def test_a_result_survives_pickling():
    result = tasks.add.enqueue(1, 2)

    fetched = tasks.add.get_result(result.id)
    assert pickle.loads(pickle.dumps(fetched)) == fetched == result


def test_get_result_of_another_task_or_an_unknown_id_raises():
    result = tasks.add.enqueue(1, 2)

    with pytest.raises(TaskResultMismatch, match="Task does not match"):
        tasks.echo.get_result(result.id)
    for unknown in ("123", str(uuid.uuid4()), ""):
        with pytest.raises(compat.TaskResultDoesNotExist):
            tasks.add.get_result(unknown)
        with pytest.raises(compat.TaskResultDoesNotExist):
            async_to_sync(tasks.add.aget_result)(unknown)


def test_results_are_read_from_the_database_in_another_thread_and_refresh(run_worker):
    result = tasks.add.enqueue(20, 22)
    run_worker()

    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(tasks.add.get_result(result.id).return_value))
    thread.start()
    thread.join()
    assert seen == [42]
    assert async_to_sync(sync_to_async(tasks.add.get_result, thread_sensitive=False))(result.id).return_value == 42
    result.refresh()
    assert (result.status, result.return_value) == (Status.SUCCESSFUL, 42)
    stale = tasks.add.enqueue(1, 1)
    run_worker()
    async_to_sync(stale.arefresh)()
    assert stale.return_value == 2


# -- status transitions, timestamps, signals --------------------------------------------------------


def test_a_task_goes_ready_running_successful_and_the_signals_say_so(run_worker, signals):
    result = tasks.observes_itself.enqueue()

    run_worker()

    fetched = tasks.observes_itself.get_result(result.id)
    assert fetched.status == Status.SUCCESSFUL and fetched.is_finished
    assert fetched.return_value == {
        "context_is_task_context": True,
        "attempt": 1,
        "id": result.id,
        "context_status": "RUNNING",
        "stored_status": "RUNNING",  # what get_result() says while it runs, from any process
    }
    assert fetched.enqueued_at <= fetched.started_at <= fetched.last_attempted_at <= fetched.finished_at
    assert (fetched.attempts, len(fetched.worker_ids), fetched.errors) == (1, 1, [])
    assert signals == [
        ("task_enqueued", result.id, Status.READY),
        ("task_started", result.id, Status.RUNNING),
        ("task_finished", result.id, Status.SUCCESSFUL),
    ]


def test_the_frameworks_log_lines_come_from_the_enqueuer_and_the_worker(run_worker, caplog):
    """Django's signal receivers log each transition (``django.tasks``; ``django_tasks`` for the backport)."""
    logger = compat.TaskResult.__module__.split(".base")[0]  # django.tasks or django_tasks
    caplog.set_level("DEBUG", logger=logger)
    ok, failed = tasks.add.enqueue(1, 1), tasks.fail.enqueue("logged")

    run_worker()

    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == logger]
    for result in (ok, failed):
        mine = [line for line in lines if result.id in line[1]]
        assert "enqueued" in mine[0][1] and "state=RUNNING" in mine[1][1]
    assert [level for level, message in lines if "state=SUCCESSFUL" in message and ok.id in message] == ["INFO"]
    assert [level for level, message in lines if "state=FAILED" in message and failed.id in message] == ["ERROR"]


@pytest.mark.parametrize(
    ("task_name", "exception", "message"),
    [
        ("fail", ValueError, "This Task failed due to ValueError"),
        ("exits", SystemExit, "This Task failed due to SystemExit"),
    ],
)
def test_a_task_that_raises_is_failed_with_its_exception_class_and_traceback(
    run_worker, signals, task_name, exception, message
):
    task = getattr(tasks, task_name)
    result = task.enqueue(message) if task_name == "fail" else task.enqueue()

    run_worker()

    fetched = task.get_result(result.id)
    assert fetched.status == Status.FAILED and fetched.is_finished
    with pytest.raises(ValueError, match="Task failed"):
        fetched.return_value  # noqa: B018
    [error] = fetched.errors
    assert error.exception_class is exception
    assert error.exception_class_path == f"{exception.__module__}.{exception.__qualname__}"
    assert error.traceback.startswith("Traceback (most recent call last):")
    assert error.traceback.endswith(f"{exception.__name__}: {message}\n")
    assert fetched.enqueued_at <= fetched.started_at <= fetched.finished_at
    assert signals[-1] == ("task_finished", result.id, Status.FAILED)
    assert OutboxJob.objects.get().status == JobStatus.DONE  # no automatic retry


def test_the_traceback_of_a_complex_exception_shows_it(run_worker):
    result = tasks.complex_exception.enqueue()
    run_worker()

    [error] = tasks.complex_exception.get_result(result.id).errors
    assert error.exception_class is ValueError
    assert 'ValueError(ValueError("This task failed"))' in error.traceback


def test_keyboard_interrupt_is_not_the_tasks_failure_it_stops_the_worker():
    """As in Django's immediate backend, it propagates; the lease then expires and the task runs again."""
    result = tasks.interrupted.enqueue()
    job = claim_one(worker_id="w", queues=["default"])
    assert job is not None

    with pytest.raises(KeyboardInterrupt):
        run_task(job)

    fetched = tasks.interrupted.get_result(result.id)
    assert (fetched.status, fetched.errors) == (Status.RUNNING, [])
    assert OutboxJob.objects.get().status == JobStatus.CLAIMED


# -- return values ----------------------------------------------------------------------------------


def test_return_values_round_trip_as_json(run_worker):
    value = {"n": 1, "x": 1.5, "ok": True, "none": None, "list": [1, "two", [3]], "text": "żółw ✓"}
    results = [tasks.echo.enqueue(value), tasks.echo.enqueue(None), tasks.echo.enqueue([1, [2]])]

    run_worker()

    assert [tasks.echo.get_result(r.id).return_value for r in results] == [value, None, [1, [2]]]


def test_a_return_value_that_is_not_json_or_too_large_fails_the_task(run_worker, settings):
    """Django's backends fail such a task with TypeError; ours with InvalidReturnValue (docs/tasks.md)."""
    settings.AUTOMATE = {**settings.AUTOMATE, "TASK_MAX_RESULT_BYTES": 64}
    not_json, too_large = tasks.not_json.enqueue(), tasks.big.enqueue(100)

    run_worker()

    for result in (not_json, too_large):
        fetched = compat.task_backends["default"].get_result(result.id)
        assert fetched.status == Status.FAILED
        assert fetched.errors[0].exception_class_path == "django_automate.tasks.execution.InvalidReturnValue"


# -- priority, queue names, run_after, validate_task, using() ---------------------------------------


def test_priority_bounds_are_the_frameworks():
    assert (TASK_MIN_PRIORITY, TASK_MAX_PRIORITY) == (-100, 100)
    for bad in (TASK_MIN_PRIORITY - 1, TASK_MAX_PRIORITY + 1, 3.1):
        with pytest.raises(compat.InvalidTask, match="priority must be a whole number"):
            tasks.add.using(priority=bad)
    for good in (TASK_MIN_PRIORITY, 0, TASK_MAX_PRIORITY):
        result = tasks.add.using(priority=good).enqueue(1, 1)
        assert tasks.add.get_result(result.id).task.priority == good


def test_higher_priority_first_then_oldest_within_a_queue(run_worker):
    tasks.RECORDED.clear()
    for label, priority in (("b", 0), ("lowest", TASK_MIN_PRIORITY), ("c", 0), ("highest", TASK_MAX_PRIORITY)):
        tasks.record.using(priority=priority).enqueue(label)

    run_worker()

    assert tasks.RECORDED == ["highest", "b", "c", "lowest"]


def test_queue_names_are_validated_when_used_and_when_enqueued():
    with pytest.raises(compat.InvalidTask, match="Queue 'nope' is not valid for backend"):
        tasks.add.using(queue_name="nope")
    assert tasks.add.using(queue_name="emails").enqueue(1, 1).task.queue_name == "emails"
    with override_settings(TASKS={"default": {**TWO_BACKENDS["default"], "QUEUES": ["emails"]}}):
        with pytest.raises(compat.InvalidTask, match="Queue 'default' is not valid for backend"):
            tasks.add.enqueue(1, 1)
        with pytest.raises(compat.InvalidTask, match="Queue 'default' is not valid for backend"):
            async_to_sync(tasks.add.aenqueue)(1, 1)


def test_run_after_must_be_aware_is_stored_and_defers_the_task(run_worker):
    with pytest.raises(compat.InvalidTask, match="run_after must be an aware datetime"):
        tasks.add.using(run_after=dt.datetime.now())  # naive
    later = timezone.now() + dt.timedelta(minutes=5)
    result = tasks.add.using(run_after=later).enqueue(1, 2)

    assert run_worker() == 0
    fetched = tasks.add.get_result(result.id)
    assert (fetched.status, fetched.task.run_after) == (Status.READY, later)
    OutboxJob.objects.update(available_at=timezone.now())
    run_worker()
    assert tasks.add.get_result(result.id).return_value == 3


def test_validate_task_refuses_what_the_backend_cannot_store():
    backend = compat.task_backends["default"]
    with override_settings(TASKS=TWO_BACKENDS):
        other = compat.task_backends["other"]  # QUEUES []: any name, within the column's 64 characters
        assert tasks.add.using(backend="other", queue_name="q" * 64).queue_name == "q" * 64
        with pytest.raises(compat.InvalidTask, match="Queue names are at most 64 characters"):
            tasks.add.using(backend="other", queue_name="q" * 65)
        other.validate_task(tasks.add.using(backend="other", queue_name="q" * 64))
    with pytest.raises(compat.InvalidTask, match="Task function must be defined at a module level"):
        compat.Task(
            priority=0, func=lambda: None, backend="default", queue_name="default", run_after=None, takes_context=False
        )
    backend.validate_task(tasks.add)  # a valid task passes


def test_using_overrides_are_stored_and_come_back_with_the_result(run_worker):
    later = timezone.now() + dt.timedelta(seconds=1)
    with override_settings(TASKS=TWO_BACKENDS):
        configured = tasks.echo.using(priority=7, queue_name="emails", run_after=later, backend="other")
        assert tasks.echo.priority == 0 and tasks.echo.backend == "default"  # using() returns a new task
        result = configured.enqueue("hi")

        fetched = configured.get_result(result.id)
        assert (fetched.backend, fetched.task) == ("other", configured)
        row = TaskRow.objects.get(pk=result.id)
        assert (row.backend, row.priority, row.queue, row.run_after) == ("other", 7, "emails", later)
        assert (row.job.priority, row.job.queue, row.job.available_at) == (7, "emails", later)


def test_every_supports_flag_is_true_and_each_feature_works(run_worker):
    backend = compat.task_backends["default"]
    assert backend.supports_defer and backend.supports_async_task
    assert backend.supports_get_result and backend.supports_priority
    # supports_async_task: an async def task runs; the others are shown above (run_after, priorities, results).
    result = tasks.async_double.enqueue(21)
    run_worker()
    assert tasks.async_double.get_result(result.id).return_value == 42
