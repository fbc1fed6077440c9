"""A worker busy with one long job stays alive for the health check."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

import django_automate
from django_automate.models import OutboxJob, WorkerHeartbeat
from django_automate.outbox.claim import claim_one
from django_automate.worker.heartbeat import LeaseHeartbeat, LeaseKeeper

pytestmark = pytest.mark.django_db(transaction=True)


def test_lease_heartbeats_also_refresh_the_worker_heartbeat_row(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "HEARTBEAT_SECONDS": 0.05}
    long_ago = timezone.now() - dt.timedelta(minutes=5)
    WorkerHeartbeat.objects.create(
        id="busy", hostname="h", pid=1, queues=["default"], started_at=long_ago, last_seen_at=long_ago
    )
    django_automate.emit("order.created", {})
    job = claim_one(worker_id="busy", queues=["default"])
    assert job is not None
    lease_before = OutboxJob.objects.get(id=job.id).lease_expires_at

    with LeaseKeeper(job, worker_id="busy") as keeper:
        deadline = time.monotonic() + 5
        while WorkerHeartbeat.objects.get(id="busy").last_seen_at == long_ago and time.monotonic() < deadline:
            time.sleep(0.02)

    assert not keeper.lost.is_set()
    assert WorkerHeartbeat.objects.get(id="busy").last_seen_at > long_ago + dt.timedelta(minutes=4)
    assert OutboxJob.objects.get(id=job.id).lease_expires_at > lease_before


def wait_until(predicate, seconds: float = 5) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(predicate())


def test_one_heartbeat_thread_keeps_each_held_job_alive_in_turn_and_none_after(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "HEARTBEAT_SECONDS": 0.05}
    long_ago = timezone.now() - dt.timedelta(minutes=5)
    WorkerHeartbeat.objects.create(
        id="busy", hostname="h", pid=1, queues=["default"], started_at=long_ago, last_seen_at=long_ago
    )
    for n in range(2):
        django_automate.emit("order.created", {"n": n})
    first, second = claim_one(worker_id="busy", queues=["default"]), claim_one(worker_id="busy", queues=["default"])
    assert first is not None and second is not None
    beats = LeaseHeartbeat(worker_id="busy")

    def lease(job_id: int) -> dt.datetime:
        return OutboxJob.objects.get(id=job_id).lease_expires_at

    try:
        for job in (first, second):
            before = lease(job.id)
            with beats.holding(job):
                assert wait_until(lambda: lease(job.id) > before)  # noqa: B023
        assert WorkerHeartbeat.objects.get(id="busy").last_seen_at > long_ago + dt.timedelta(minutes=4)
        # Released: neither lease is extended any more.
        settled = (lease(first.id), lease(second.id))
        time.sleep(0.3)
        assert (lease(first.id), lease(second.id)) == settled
    finally:
        beats.close()
    assert not beats._thread.is_alive()  # type: ignore[union-attr]
