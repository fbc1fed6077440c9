"""Step ``rate_limit``: token buckets in the database, shared by workers, per tenant; held-back steps wait."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest
from django.utils import timezone

import django_automate
from django_automate.models import ExecutionRun, JobKind, OutboxJob, RateLimitBucket, StepRun
from django_automate.runs.rate_limits import take
from django_automate.worker.loop import Worker
from django_automate.workflows.definition import definition_problems

pytestmark = pytest.mark.django_db(transaction=True)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def limited(url: str, **rate_limit: object) -> dict:
    return {
        "id": "call",
        "connector": "http",
        "action": "request",
        "with": {"method": "POST", "url": url},
        "rate_limit": {"key": "sink:{{ run.tenant }}", **rate_limit},
    }


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not reached within {timeout}s"
        time.sleep(0.02)


def problems(step: dict) -> list[dict[str, str]]:
    return definition_problems({"steps": [step]})


def test_rate_limit_validation_reports_json_paths():
    assert problems(limited("http://x", per_second=2, burst=4)) == []
    assert problems(limited("http://x", per_second=0.5)) == []
    assert problems(limited("http://x", per_second=0)) == [
        {"path": "$.steps[0].rate_limit.per_second", "message": "per_second must be greater than 0."}
    ]
    assert problems(limited("http://x", per_second=20000, burst=0)) == [
        {"path": "$.steps[0].rate_limit.burst", "message": "burst must be at least 1."},
        {"path": "$.steps[0].rate_limit.per_second", "message": "per_second must be at most 10000."},
    ]
    step = limited("http://x", per_second=2, every=1)
    step["rate_limit"]["key"] = ""
    assert problems(step) == [
        {"path": "$.steps[0].rate_limit.every", "message": "Unknown key."},
        {"path": "$.steps[0].rate_limit.key", "message": "key must not be empty."},
    ]
    no_rate = {**limited("http://x"), "rate_limit": {"key": "k"}}
    assert problems(no_rate) == [{"path": "$.steps[0].rate_limit.per_second", "message": "per_second is required."}]
    bad_template = limited("http://x", per_second=1)
    bad_template["rate_limit"]["key"] = "{{ steps.later.output }}"
    assert [p["path"] for p in problems(bad_template)] == ["$.steps[0].rate_limit.key"]
    sleeping = {"id": "nap", "sleep": {"seconds": 1}, "rate_limit": {"key": "k", "per_second": 1}}
    assert problems(sleeping) == [{"path": "$.steps[0].rate_limit", "message": "A sleep step has no rate_limit."}]


def test_a_bucket_starts_full_refills_with_time_and_caps_at_its_burst():
    assert [take("", "k", 2, 3, T0, "default") for _ in range(3)] == [None, None, None]
    assert take("", "k", 2, 3, T0, "default") == pytest.approx(0.5)
    assert take("", "k", 2, 3, T0 + dt.timedelta(seconds=0.25), "default") == pytest.approx(0.25)
    assert take("", "k", 2, 3, T0 + dt.timedelta(seconds=0.5), "default") is None
    # A long pause refills up to the burst, not beyond.
    later = T0 + dt.timedelta(hours=1)
    assert [take("", "k", 2, 3, later, "default") for _ in range(4)][3] == pytest.approx(0.5)
    # A clock behind the bucket's mints nothing.
    assert take("", "k", 2, 3, later - dt.timedelta(seconds=10), "default") == pytest.approx(0.5)
    (bucket,) = RateLimitBucket.objects.all()
    assert bucket.key == "k" and len(bucket.key_hash) == 64 and bucket.updated_at == later


def test_tenants_and_keys_have_separate_buckets():
    assert take("acme", "shopify", 1, 1, T0, "default") is None
    assert take("acme", "shopify", 1, 1, T0, "default") == pytest.approx(1.0)
    assert take("globex", "shopify", 1, 1, T0, "default") is None
    assert take("acme", "crm", 1, 1, T0, "default") is None
    assert RateLimitBucket.objects.count() == 3


def test_tokens_are_shared_by_concurrent_takers():
    now = timezone.now()
    taken: list[float | None] = []
    lock = threading.Lock()

    def taker() -> None:
        from django.db import connections

        try:
            for _ in range(5):
                result = take("", "shared", 0.001, 6, now, "default")
                with lock:
                    taken.append(result)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=taker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(taken) == 10 and taken.count(None) == 6


def test_a_held_back_step_is_delayed_not_attempted_then_runs(workflow_factory, rule_factory, http_sink):
    rule_factory(workflow_factory(steps=[limited(http_sink.url, per_second=1, burst=1)]))
    take("", "sink:", 1, 1, timezone.now(), "default")  # the bucket is empty now
    worker = Worker(concurrency=1, install_signal_handlers=False)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        django_automate.emit("order.created", {"id": 1})
        wait_for(lambda: OutboxJob.objects.filter(kind=JobKind.EXECUTE_RUN, last_error__isnull=False).exists())
        job = OutboxJob.objects.get(kind=JobKind.EXECUTE_RUN)
        if job.status == "ready":
            assert job.available_at > job.updated_at
            assert (job.available_at - job.updated_at).total_seconds() <= 1.01
        assert job.last_error["code"] == "rate_limited", job.last_error
        assert job.last_error["details"]["key"] == "sink:"
        assert not StepRun.objects.exists() and http_sink.requests == []
        wait_for(lambda: ExecutionRun.objects.filter(status="succeeded").exists())
    finally:
        worker.stop()
        thread.join(10)
    (attempt,) = StepRun.objects.all()
    assert attempt.attempt == 1 and attempt.status == "succeeded" and len(http_sink.requests) == 1


def test_two_workers_share_the_rate(workflow_factory, rule_factory, http_sink):
    rule_factory(workflow_factory(steps=[limited(http_sink.url, per_second=4, burst=2)]))
    for n in range(8):
        django_automate.emit("order.created", {"id": n})
    workers = [Worker(concurrency=2, install_signal_handlers=False) for _ in range(2)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: ExecutionRun.objects.filter(status="succeeded").count() == 8, 30)
    finally:
        for worker in workers:
            worker.stop()
        for thread in threads:
            thread.join(10)
    arrivals = sorted(r["arrived_at"] for r in http_sink.requests)
    assert len(arrivals) == 8 and StepRun.objects.count() == 8
    # 2 at once (the burst), then 6 more at 4/s: at least 1.5 s minus timing slack.
    assert arrivals[-1] - arrivals[0] >= 1.3
    for i, first in enumerate(arrivals):
        for j in range(i + 1, len(arrivals)):
            # The token bucket's bound (burst + rate x time), +2 for the time between a take and its request,
            # which a loaded machine can stretch (the requests of tokens taken apart then arrive together).
            assert j - i + 1 <= 2 + 4 * (arrivals[j] - first) + 2
