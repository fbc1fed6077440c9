"""A ``runs`` budget is charged once per run, however often the run's job is claimed."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db.models.signals import pre_save
from django.utils import timezone

import django_automate
from django_automate.models import Budget, ExecutionRun, JobKind, JobStatus, OutboxJob, RunStatus, StepRun
from django_automate.outbox.claim import claim_one, recover_expired
from django_automate.policy import budgets
from django_automate.worker.handlers import process
from django_automate.worker.loop import Worker

pytestmark = pytest.mark.django_db(transaction=True)

REFUSING = threading.Event()


def refuse_attempts(sender: Any, instance: StepRun, **kwargs: Any) -> None:
    """A project's ``pre_save`` receiver refusing step attempts: the run's first write fails on every claim."""
    if REFUSING.is_set():
        raise ValueError("this project refuses the attempt")


@pytest.fixture
def refusing(settings) -> Iterator[None]:
    settings.AUTOMATE = {**django_settings.AUTOMATE, "MAX_JOB_CRASHES": 3, "POLL_INTERVAL_SECONDS": 0.05}
    REFUSING.set()
    pre_save.connect(refuse_attempts, sender=StepRun)
    try:
        yield
    finally:
        REFUSING.clear()
        pre_save.disconnect(refuse_attempts, sender=StepRun)


def runs_budget(limit: int = 10) -> Budget:
    return Budget.objects.create(scope="global", metric="runs", limit=limit, period="day")


def run_job() -> OutboxJob:
    return OutboxJob.objects.get(kind=JobKind.EXECUTE_RUN)


def work_until_no_job_is_due(timeout: float = 40.0) -> None:
    """A real worker, in a thread, until no job is ready or claimed any more."""
    worker = Worker(install_signal_handlers=False)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        time.sleep(0.2)
        while OutboxJob.objects.filter(status__in=[JobStatus.READY, JobStatus.CLAIMED]).exists():
            assert time.monotonic() < deadline, list(OutboxJob.objects.values("kind", "status", "attempts"))
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(10)


def test_a_run_whose_first_write_fails_on_every_claim_is_charged_once(refusing, workflow_factory, rule_factory):
    budget = runs_budget()
    rule_factory(workflow_factory())
    django_automate.emit("order.created", {})
    work_until_no_job_is_due()
    job = run_job()
    assert (job.status, job.attempts) == (JobStatus.DEAD, 3)  # claimed three times
    assert budgets.usage(budget)["used"] == Decimal(1)
    assert ExecutionRun.objects.get().status == RunStatus.FAILED


def test_one_poison_run_does_not_spend_a_budget_meant_for_every_tenant(refusing, workflow_factory, rule_factory):
    budget = runs_budget(limit=2)
    rule_factory(workflow_factory())
    django_automate.emit("order.created", {"n": 1})
    work_until_no_job_is_due()
    REFUSING.clear()
    django_automate.emit("order.created", {"n": 2})
    work_until_no_job_is_due()
    assert sorted(ExecutionRun.objects.values_list("status", flat=True)) == [RunStatus.FAILED, RunStatus.SUCCEEDED]
    assert budgets.usage(budget)["used"] == Decimal(2)


def test_a_worker_that_lost_its_lease_before_the_run_started_charges_nothing(workflow_factory, rule_factory):
    budget = runs_budget()
    rule_factory(workflow_factory())
    django_automate.emit("order.created", {})
    process(claim_one(worker_id="router", queues=["default"]))  # routing
    late = claim_one(worker_id="late", queues=["default"])
    assert late is not None and late.kind == JobKind.EXECUTE_RUN
    OutboxJob.objects.filter(id=late.id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    process(late)  # its lease expired: the charge is rolled back with everything else
    assert budgets.usage(budget)["used"] == 0
    assert recover_expired() == 1
    work_until_no_job_is_due()
    assert ExecutionRun.objects.get().status == RunStatus.SUCCEEDED
    assert budgets.usage(budget)["used"] == Decimal(1)


def test_a_run_deferred_by_its_runs_budget_is_charged_when_it_starts(workflow_factory, rule_factory):
    budget = Budget.objects.create(scope="global", metric="runs", limit=0, period="day", on_exceed="defer")
    rule_factory(workflow_factory())
    django_automate.emit("order.created", {})
    Worker(once=True, install_signal_handlers=False).run()
    run = ExecutionRun.objects.get()
    assert run.status == RunStatus.PENDING  # waits for the next window, uncharged
    assert run_job().status == JobStatus.READY and run_job().available_at > timezone.now()
    assert budgets.usage(budget)["used"] == 0
