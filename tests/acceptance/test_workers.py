"""Real worker processes: many of them drain a burst, SIGTERM is graceful, SIGKILL loses nothing."""

from __future__ import annotations

import signal
from collections import Counter

import pytest
from django.db import connection

import django_automate
from django_automate.models import Event, ExecutionRun, JobStatus, OutboxJob, StepRun
from tests.acceptance.conftest import wait_for, wait_ready

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]


def http_workflow(workflow_factory, rule_factory, url: str) -> None:
    steps = [
        {"id": "note", "connector": "log", "action": "write", "with": {"message": "n={{ event.payload.n }}"}},
        {
            "id": "call",
            "connector": "http",
            "action": "request",
            "with": {"method": "POST", "url": url, "json": {"n": "{{ event.payload.n }}"}},
        },
    ]
    rule_factory(workflow_factory(steps=steps))


def test_four_workers_drain_a_burst_of_webhooks_exactly_once(
    client, endpoint_factory, workflow_factory, rule_factory, http_sink, start_worker
):
    sqlite = connection.vendor == "sqlite"
    workers, events = (1, 200) if sqlite else (4, 1000)
    endpoint_factory()
    http_workflow(workflow_factory, rule_factory, f"{http_sink.url}/count")
    processes = [start_worker("--concurrency", "1") for _ in range(workers)]
    for n in range(events):
        response = client.post("/automate/hooks/orders/", {"n": n}, content_type="application/json")
        assert response.status_code == 202

    wait_for(
        lambda: ExecutionRun.objects.filter(status="succeeded").count() == events,
        240,
        f"{events} succeeded runs",
        *processes,
    )
    wait_ready(*processes)
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        assert process.wait(30) == 0, process.output()[-3000:]

    assert Event.objects.count() == events
    assert Counter(ExecutionRun.objects.values_list("event_id", flat=True)) == Counter(
        Event.objects.values_list("id", flat=True)
    )
    assert set(ExecutionRun.objects.values_list("status", flat=True)) == {"succeeded"}
    calls = http_sink.keys()
    assert len(calls) == events and set(calls.values()) == {1}  # each http step executed exactly once
    assert StepRun.objects.filter(status="succeeded").count() == 2 * events
    assert StepRun.objects.exclude(status="succeeded").count() == 0
    assert OutboxJob.objects.exclude(status=JobStatus.DONE).count() == 0
    assert OutboxJob.objects.filter(lease_token__isnull=False).count() == 0


def test_sigterm_finishes_the_current_step_then_exits(workflow_factory, rule_factory, http_sink, start_worker):
    http_sink.delay_seconds = 1.5
    http_workflow(workflow_factory, rule_factory, http_sink.url)
    django_automate.emit("order.created", {"n": 1})
    worker = start_worker()
    wait_for(lambda: StepRun.objects.filter(step_id="call").exists(), 30, "the http step", worker)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.output()[-3000:]
    assert ExecutionRun.objects.get().status == "succeeded", worker.output()[-3000:]
    assert OutboxJob.objects.exclude(status=JobStatus.DONE).count() == 0


def test_killed_worker_loses_nothing_another_takes_over_after_the_lease(
    workflow_factory, rule_factory, http_sink, start_worker
):
    http_sink.delay_seconds = 3
    http_workflow(workflow_factory, rule_factory, http_sink.url)
    django_automate.emit("order.created", {"n": 1})
    victim = start_worker(AUTOMATE_TEST_LEASE_SECONDS="2")
    wait_for(lambda: StepRun.objects.filter(step_id="call", status="running").exists(), 30, "the http step to start")
    victim.kill()
    victim.wait(10)
    http_sink.delay_seconds = 0
    rescuer = start_worker(AUTOMATE_TEST_LEASE_SECONDS="2")
    wait_for(lambda: ExecutionRun.objects.filter(status="succeeded").exists(), 60, "the run to succeed")
    wait_ready(rescuer)
    rescuer.send_signal(signal.SIGTERM)
    assert rescuer.wait(30) == 0
    attempts = list(StepRun.objects.filter(step_id="call").order_by("attempt").values_list("status", flat=True))
    assert attempts == ["retrying", "succeeded"]  # the interrupted attempt is recorded, then retried
    assert set(http_sink.keys()) == {f"{ExecutionRun.objects.get().id}:call"}  # same key both times
    assert StepRun.objects.filter(step_id="note").count() == 1  # the finished step was not re-run
