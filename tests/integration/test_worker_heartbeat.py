"""A worker busy with one long job stays alive for the health check."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

import django_automate
from django_automate.models import OutboxJob, WorkerHeartbeat
from django_automate.outbox.claim import claim_one
from django_automate.worker.heartbeat import LeaseKeeper

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
