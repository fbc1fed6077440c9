"""Claims, leases and fencing: a worker that lost its lease changes nothing."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

import django_automate
from django_automate import exceptions
from django_automate.models import JobStatus, OutboxJob
from django_automate.outbox import lease
from django_automate.outbox.claim import claim_by_id, claim_one, recover_expired

pytestmark = pytest.mark.django_db(transaction=True)


def expire(job_id: int) -> None:
    OutboxJob.objects.filter(id=job_id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))


def test_each_claim_gets_a_fresh_token_and_a_job_is_claimed_once():
    django_automate.emit("order.created", {})
    first = claim_one(worker_id="w1", queues=["default"])
    assert first is not None
    assert claim_one(worker_id="w2", queues=["default"]) is None
    row = OutboxJob.objects.get(id=first.id)
    assert (row.status, row.lease_token, row.leased_by, row.attempts) == (JobStatus.CLAIMED, first.lease_token, "w1", 1)


def test_jobs_of_other_queues_or_in_the_future_are_not_claimed():
    django_automate.emit("order.created", {})
    assert claim_one(worker_id="w", queues=["other"]) is None
    OutboxJob.objects.update(available_at=timezone.now() + dt.timedelta(hours=1))
    assert claim_one(worker_id="w", queues=["default"]) is None


def test_expired_lease_is_recovered_and_the_old_holder_is_fenced_out():
    django_automate.emit("order.created", {})
    old = claim_one(worker_id="old", queues=["default"])
    assert old is not None
    expire(old.id)
    assert lease.heartbeat(old) is False  # a late heartbeat cannot steal the lease back
    assert recover_expired() == 1
    new = claim_one(worker_id="new", queues=["default"])
    assert new is not None and new.id == old.id and new.lease_token != old.lease_token
    with pytest.raises(exceptions.LeaseLost):
        lease.complete(old)
    with pytest.raises(exceptions.LeaseLost), transaction.atomic():
        lease.fence(old)
    lease.complete(new)
    row = OutboxJob.objects.get(id=old.id)
    assert (row.status, row.attempts) == (JobStatus.DONE, 2)


def test_routing_by_a_worker_that_lost_its_lease_creates_nothing(workflow_factory, rule_factory):
    from django_automate.models import Event, ExecutionRun
    from django_automate.runs.routing import route_event

    rule_factory(workflow_factory())
    django_automate.emit("order.created", {})
    job = claim_one(worker_id="w", queues=["default"])
    expire(job.id)
    with pytest.raises(exceptions.LeaseLost):
        route_event(job)
    assert ExecutionRun.objects.count() == 0
    assert Event.objects.get().status == "pending"


def test_claim_by_id_only_takes_ready_jobs():
    django_automate.emit("order.created", {})
    job_id = OutboxJob.objects.get().id
    assert claim_by_id(job_id, worker_id="a") is not None
    assert claim_by_id(job_id, worker_id="b") is None


def test_concurrent_claimers_never_share_a_job():
    if connection.vendor == "sqlite":
        threads_count, jobs = 2, 30
    else:
        threads_count, jobs = 6, 120
    for n in range(jobs):
        django_automate.emit("order.created", {"n": n})
    claimed: list[int] = []
    lock = threading.Lock()

    def claimer() -> None:
        try:
            while (job := claim_one(worker_id=threading.current_thread().name, queues=["default"])) is not None:
                with lock:
                    claimed.append(job.id)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer, name=f"t{n}") for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(OutboxJob.objects.values_list("id", flat=True))
    assert len(set(claimed)) == jobs


def test_a_job_that_keeps_crashing_is_dead_lettered_instead_of_looping(
    workflow_factory, rule_factory, monkeypatch, settings
):
    from django_automate.runs import routing
    from django_automate.worker.loop import Worker

    def crash(*args, **kwargs):
        raise TypeError("poison")

    settings.AUTOMATE = {**settings.AUTOMATE, "MAX_JOB_CRASHES": 3}
    monkeypatch.setattr(routing, "matching_rules", crash)
    django_automate.emit("order.created", {})
    for _ in range(3):
        OutboxJob.objects.filter(status=JobStatus.READY).update(available_at=timezone.now())  # skip the backoff
        Worker(once=True, install_signal_handlers=False).run()
    job = OutboxJob.objects.get()
    assert (job.status, job.attempts) == (JobStatus.DEAD, 3)
    assert job.last_error["code"] == "internal_error"
