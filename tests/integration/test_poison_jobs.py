"""A job that fails the same way on every claim backs off, then is dead-lettered: never a tight loop."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models.signals import pre_save

import django_automate
from django_automate.connectors.base import StepResult
from django_automate.models import ExecutionRun, JobKind, JobStatus, OutboxJob, RunStatus, StepRun, StepStatus
from django_automate.runs.operations import retry_run
from django_automate.worker.loop import Worker

pytestmark = pytest.mark.django_db(transaction=True)

#: The step cost column holds numbers below 10**12: PostgreSQL and MySQL refuse to store this result
#: (SQLite stores any number, so there the project receiver below is the poison).
UNSTORABLE_COST = 1e13
CALLS: list[float] = []
POISONED = threading.Event()
POISONS = ["refused_by_receiver"] + ([] if connection.vendor == "sqlite" else ["unstorable_cost"])


def costly(params: dict[str, Any], ctx: Any) -> StepResult:
    """A step whose result the database refuses while ``POISONED`` is set (``unstorable_cost``)."""
    CALLS.append(time.monotonic())
    return StepResult(output={"ok": True}, cost=UNSTORABLE_COST if POISONED.is_set() else 1)


def refuse_attempts(sender: Any, instance: StepRun, **kwargs: Any) -> None:
    """A project's ``pre_save`` receiver that refuses to store step attempts while ``POISONED`` is set."""
    if POISONED.is_set():
        CALLS.append(time.monotonic())
        raise ValueError("this project refuses the attempt")


@pytest.fixture(params=POISONS)
def poisoned(request, settings) -> Iterator[str]:
    """A workflow whose every claim fails the same way, and the number of attempts each claim records."""
    settings.AUTOMATE = {
        **django_settings.AUTOMATE,
        "PYTHON_ACTIONS": {"costly": f"{__name__}.costly"},
        "MAX_JOB_CRASHES": 4,
        "POLL_INTERVAL_SECONDS": 0.05,
    }
    CALLS.clear()
    POISONED.set()
    if request.param == "refused_by_receiver":
        pre_save.connect(refuse_attempts, sender=StepRun)
    try:
        yield request.param
    finally:
        POISONED.clear()
        pre_save.disconnect(refuse_attempts, sender=StepRun)


def run_worker_until(done: Callable[[], bool], timeout: float = 40.0) -> None:
    """A real worker, in a thread, until ``done()`` (checked from here) or ``timeout``."""
    worker = Worker(install_signal_handlers=False)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, f"not done after {timeout}s; {len(CALLS)} calls"
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(10)


def run_job() -> OutboxJob:
    return OutboxJob.objects.get(kind=JobKind.EXECUTE_RUN)


def dead() -> bool:
    return OutboxJob.objects.filter(kind=JobKind.EXECUTE_RUN, status=JobStatus.DEAD).exists()


def test_a_step_result_the_database_refuses_is_dead_lettered_after_bounded_claims_with_backoff(
    poisoned, workflow_factory, rule_factory
):
    step = {"id": "charge", "connector": "python", "action": "costly", "with": {}}
    rule_factory(workflow_factory(steps=[step]))
    django_automate.emit("order.created", {})
    run_worker_until(dead)
    time.sleep(1.0)  # nothing claims it any more

    job = run_job()
    assert (job.status, job.attempts) == (JobStatus.DEAD, 4)
    assert job.last_error["code"] == "internal_error"
    assert job.last_error["crashes"] == 4
    assert "dead-lettered after 4 claims" in job.last_error["message"]
    assert len(CALLS) == 4  # one connector call per claim, no more
    gaps = [later - earlier for earlier, later in itertools.pairwise(CALLS)]
    # 1 s doubling, each delay between half and all of its ceiling.
    for n, gap in enumerate(gaps):
        assert gap >= 0.5 * 2**n - 0.05, gaps

    run = ExecutionRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert run.error["code"] == "internal_error"
    attempts = list(StepRun.objects.filter(run=run).order_by("attempt"))
    if poisoned == "refused_by_receiver":
        assert attempts == []  # no attempt could be stored: the run failed from pending
    else:
        assert len(attempts) == 4
        assert attempts[-1].status == StepStatus.FAILED  # nothing left running or waiting for a retry
        assert {a.status for a in attempts[:-1]} == {StepStatus.RETRYING}  # interrupted attempts, each retried


def test_a_dead_lettered_poison_run_can_be_retried_once_the_cause_is_fixed(poisoned, workflow_factory, rule_factory):
    step = {"id": "charge", "connector": "python", "action": "costly", "with": {}}
    rule_factory(workflow_factory(steps=[step]))
    django_automate.emit("order.created", {})
    run_worker_until(dead)
    run = ExecutionRun.objects.get()
    assert run.status == RunStatus.FAILED

    POISONED.clear()
    retry_run(run, actor="ops")
    run_worker_until(lambda: ExecutionRun.objects.get().status == RunStatus.SUCCEEDED)
    assert StepRun.objects.filter(run=run, status=StepStatus.SUCCEEDED).count() == 1


def test_a_job_that_crashes_once_is_claimed_again_after_a_short_delay(poisoned, workflow_factory, rule_factory):
    step = {"id": "charge", "connector": "python", "action": "costly", "with": {}}
    rule_factory(workflow_factory(steps=[step]))
    django_automate.emit("order.created", {})

    def crashed_once() -> bool:
        error = run_job().last_error if OutboxJob.objects.filter(kind=JobKind.EXECUTE_RUN).exists() else None
        return bool(error and error.get("crashes") == 1)

    run_worker_until(crashed_once)
    POISONED.clear()  # a transient cause: the next claim goes through
    job = run_job()
    assert job.status == JobStatus.READY
    assert "next claim in" in job.last_error["message"]
    run_worker_until(lambda: ExecutionRun.objects.get().status == RunStatus.SUCCEEDED)
    assert run_job().status == JobStatus.DONE
