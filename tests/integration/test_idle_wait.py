"""Idle workers: woken by NOTIFY, by the next due job or an expiring lease, else they sleep long."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_automate
from django_automate.models import JobStatus, OutboxJob
from django_automate.outbox.claim import claim_one, next_due
from django_automate.worker.loop import Worker
from django_automate.worker.wakeup import Waiter

pytestmark = pytest.mark.django_db(transaction=True)


def test_next_due_is_the_earliest_delayed_job_of_the_queues_or_expiring_lease():
    assert next_due(queues=["default"]) is None
    soon, later = timezone.now() + dt.timedelta(seconds=30), timezone.now() + dt.timedelta(seconds=90)
    django_automate.emit("order.created", {})
    OutboxJob.objects.update(available_at=later)
    assert next_due(queues=["default"]) == later
    assert next_due(queues=["other"]) is None
    django_automate.emit("order.created", {})
    OutboxJob.objects.filter(available_at__lt=later).update(available_at=timezone.now())
    claimed = claim_one(worker_id="w", queues=["default"])
    assert claimed is not None
    OutboxJob.objects.filter(id=claimed.id).update(lease_expires_at=soon)
    assert next_due(queues=["other"]) == soon  # any worker may recover an expired lease


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY exists only on PostgreSQL")
def test_a_listening_worker_wakes_for_a_delayed_job_without_a_notify(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "LISTEN_POLL_SECONDS": 60, "POLL_INTERVAL_SECONDS": 0.05}
    django_automate.emit("order.created", {})
    due = timezone.now() + dt.timedelta(seconds=1.5)
    OutboxJob.objects.update(available_at=due)  # an UPDATE sends no NOTIFY
    worker = Worker(install_signal_handlers=False)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while OutboxJob.objects.filter(status=JobStatus.READY).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        picked_up = timezone.now()
    finally:
        worker.stop()
        thread.join(30)
    assert not OutboxJob.objects.filter(status=JobStatus.READY, available_at=due).exists()
    # Woken by the due time, not by the 60 s safety poll.
    assert (picked_up - due).total_seconds() < 5


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY exists only on PostgreSQL")
def test_an_idle_listening_worker_stops_at_once_not_after_its_long_wait(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "LISTEN_POLL_SECONDS": 60}
    worker = Worker(install_signal_handlers=False)
    thread = threading.Thread(target=worker.run)
    thread.start()
    time.sleep(1.0)  # registered, found nothing, waiting for a notification
    stopped_at = time.monotonic()
    worker.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert time.monotonic() - stopped_at < 2  # SIGTERM in a container: well before the SIGKILL


def next_due_reads(queries: CaptureQueriesContext) -> int:
    return sum(1 for query in queries.captured_queries if "MIN(" in query["sql"].upper())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY exists only on PostgreSQL")
def test_workers_woken_for_a_job_another_worker_took_do_not_read_next_due_again(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "LISTEN_POLL_SECONDS": 60}
    worker, waiter, stopping = Worker(install_signal_handlers=False), Waiter(), threading.Event()
    try:
        with CaptureQueriesContext(connection) as queries:
            assert worker._idle_wait(waiter) == 60  # nothing due: the first look reads next_due()
        assert next_due_reads(queries) == 1
        django_automate.emit("order.created", {})  # commits, NOTIFY with the job's queue
        waiter.wait(5, stopping)
        assert waiter.woken_by_ready
        assert claim_one(worker_id="faster", queues=["default"]) is not None
        with CaptureQueriesContext(connection) as queries:
            assert 0 < worker._idle_wait(waiter) <= 60
        assert next_due_reads(queries) == 0
    finally:
        waiter.close()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY exists only on PostgreSQL")
def test_a_worker_woken_for_a_job_another_worker_took_wakes_again_when_that_lease_can_expire(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "LISTEN_POLL_SECONDS": 60, "LEASE_SECONDS": 2}
    worker, waiter, stopping = Worker(install_signal_handlers=False), Waiter(), threading.Event()
    try:
        assert worker._idle_wait(waiter) == 60  # nothing due, nothing leased
        django_automate.emit("order.created", {})
        waiter.wait(5, stopping)
        assert waiter.woken_by_ready
        assert claim_one(worker_id="crashes-soon", queues=["default"]) is not None
        # Not the 60 s safety poll: if the claimant dies, its job is recovered when the lease expires.
        assert 0 < worker._idle_wait(waiter) <= 2
    finally:
        waiter.close()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY exists only on PostgreSQL")
def test_a_retry_scheduled_by_another_worker_wakes_idle_workers_to_look_again(settings):
    from django_automate.outbox import lease

    settings.AUTOMATE = {**settings.AUTOMATE, "LISTEN_POLL_SECONDS": 60}
    worker, waiter, stopping = Worker(install_signal_handlers=False), Waiter(), threading.Event()
    try:
        django_automate.emit("order.created", {})
        job = claim_one(worker_id="other", queues=["default"])
        assert job is not None
        OutboxJob.objects.filter(id=job.id).update(lease_expires_at=timezone.now() + dt.timedelta(seconds=300))
        waiter.wait(0.2, stopping)  # the emit's notification
        worker._idle_wait(waiter)
        retry_at = timezone.now() + dt.timedelta(seconds=7)
        with transaction.atomic():
            lease.reschedule(job, retry_at, {"code": "x", "message": "later"})
        waiter.wait(5, stopping)
        assert not waiter.woken_by_ready
        with CaptureQueriesContext(connection) as queries:
            wait = worker._idle_wait(waiter)
        assert next_due_reads(queries) == 1
        assert 5 < wait <= 7  # woken for the retry, not the 60 s safety poll
    finally:
        waiter.close()
