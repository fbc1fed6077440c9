"""Fenced writes judge a lease by the database's clock, when the statement runs.

A worker's statement can reach the server long after the worker read its own clock (a
frozen process, a slow network, a host whose clock lags). If the expiry check compared
with the time the worker computed, such a late write would pass although the lease had
ended and another worker may hold the job.
"""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone

import django_automate
from django_automate import exceptions
from django_automate.models import JobStatus, OutboxJob
from django_automate.outbox import lease
from django_automate.outbox.claim import claim_one

pytestmark = pytest.mark.django_db(transaction=True)

#: How far behind the worker's idea of "now" is (the statement arrives this much later).
LATE = dt.timedelta(seconds=45)


def claimed_job_expired_a_second_ago():
    django_automate.emit("order.created", {})
    job = claim_one(worker_id="late", queues=["default"])
    assert job is not None
    OutboxJob.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    return job


def worker_clock_behind():
    real = timezone.now
    return mock.patch("django.utils.timezone.now", lambda: real() - LATE)


def test_a_late_heartbeat_cannot_extend_a_lease_the_database_sees_as_expired():
    job = claimed_job_expired_a_second_ago()
    with worker_clock_behind():
        assert lease.heartbeat(job) is False
        with pytest.raises(exceptions.LeaseLost), transaction.atomic():
            lease.fence(job)
        with pytest.raises(exceptions.LeaseLost):
            lease.complete(job)
    row = OutboxJob.objects.get(id=job.id)
    assert row.status == JobStatus.CLAIMED and row.lease_expires_at < timezone.now()


def test_an_unexpired_lease_is_still_honoured_by_the_database_clock():
    django_automate.emit("order.created", {})
    job = claim_one(worker_id="on-time", queues=["default"])
    assert job is not None
    assert lease.heartbeat(job) is True
    lease.complete(job)
    assert OutboxJob.objects.get(id=job.id).status == JobStatus.DONE


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement step writes exist on PostgreSQL")
def test_the_one_statement_fence_uses_the_database_clock_too():
    from django_automate.runs import single_statement

    job = claimed_job_expired_a_second_ago()
    with worker_clock_behind():
        text, params = single_statement.fence_sql(job, timezone.now(), "default")
        with connection.cursor() as cursor:
            cursor.execute(text, params)
            assert cursor.rowcount == 0
    assert OutboxJob.objects.get(id=job.id).lease_expires_at < timezone.now()
