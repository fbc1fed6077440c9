"""The retry schedule a failing step actually gets: backoff with full jitter, Retry-After honoured."""

from __future__ import annotations

import pytest
from django.utils import timezone

import django_automate
from django_automate.models import JobStatus, OutboxJob, StepRun
from django_automate.outbox.claim import claim_one
from django_automate.worker.handlers import process

pytestmark = pytest.mark.django_db(transaction=True)


def observe_delays(attempts: int) -> list[float]:
    """Process the run job ``attempts`` times, recording how far ahead each retry was scheduled."""
    delays = []
    for _ in range(attempts):
        OutboxJob.objects.filter(status=JobStatus.READY).update(available_at=timezone.now())
        job = claim_one(worker_id="t", queues=["default"])
        assert job is not None
        process(job)
        row = OutboxJob.objects.get(id=job.id)
        if row.status != JobStatus.READY:
            break
        failed_at = StepRun.objects.filter(step_id="call").order_by("-attempt").first().finished_at
        delays.append((row.available_at - failed_at).total_seconds())
    return delays


def setup_failing_step(workflow_factory, rule_factory, http_sink, retry: dict, status: int, headers: dict) -> None:
    http_sink.responses = [(status, headers, b"{}")] * 50
    step = {"id": "call", "connector": "http", "action": "request", "with": {"url": http_sink.url}, "retry": retry}
    rule_factory(workflow_factory(steps=[step]))
    django_automate.emit("order.created", {})
    job = claim_one(worker_id="t", queues=["default"])
    process(job)  # routing


def test_backoff_delays_stay_within_full_jitter_bounds(workflow_factory, rule_factory, http_sink):
    retry = {"max_attempts": 8, "initial_seconds": 2, "max_seconds": 40, "backoff": "exponential", "jitter": "full"}
    setup_failing_step(workflow_factory, rule_factory, http_sink, retry, 503, {})
    delays = observe_delays(8)
    assert len(delays) == 7  # the 8th failure is final
    ceilings = [min(40, 2 * 2**n) for n in range(7)]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert -0.05 <= delay <= ceiling + 0.05, (delays, ceilings)
    assert OutboxJob.objects.get(kind="execute_run").status == JobStatus.DEAD


def test_retry_after_is_honoured_within_ten_percent(workflow_factory, rule_factory, http_sink):
    retry = {"max_attempts": 4, "initial_seconds": 0.01, "max_seconds": 600}
    setup_failing_step(workflow_factory, rule_factory, http_sink, retry, 429, {"Retry-After": "30"})
    delays = observe_delays(3)
    assert len(delays) == 3
    for delay in delays:
        assert 27 <= delay <= 33, delays
