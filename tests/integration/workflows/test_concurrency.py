"""Concurrency keys: at most ``limit`` runs of one key at once, in arrival order; slots freed when runs end."""

from __future__ import annotations

import itertools
import json
import threading
import time

import pytest
from django.utils import timezone

import django_automate
from django_automate.models import ExecutionRun, JobKind, OutboxJob
from django_automate.outbox.claim import claim_one
from django_automate.runs import operations
from django_automate.worker.handlers import process
from django_automate.worker.loop import Worker
from django_automate.workflows.definition import definition_problems

pytestmark = pytest.mark.django_db(transaction=True)


def definition(url: str, limit: int = 1) -> dict:
    call = {
        "id": "call",
        "connector": "http",
        "action": "request",
        "with": {
            "method": "POST",
            "url": url,
            "json": {"key": "{{ event.payload.customer }}", "n": "{{ event.payload.n }}"},
        },
    }
    return {"concurrency": {"key": "{{ event.payload.customer }}", "limit": limit}, "steps": [call]}


def drain(runs: int, timeout: float = 60) -> None:
    worker = Worker(concurrency=4, install_signal_handlers=False)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        ended = ExecutionRun.objects.filter(status__in=("succeeded", "failed", "cancelled"))
        while ended.count() < runs:
            assert time.monotonic() < deadline, "the runs did not finish"
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(10)


def route_all(events: int) -> None:
    """Route the ``events`` pending events in this process (their jobs are the oldest), so that all their runs exist."""
    for _ in range(events):
        job = claim_one(worker_id="router", queues=["default"])
        assert job is not None and job.kind == JobKind.ROUTE_EVENT
        process(job)


def windows(http_sink, key: str) -> list[tuple[int, float, float]]:
    found = []
    for request in http_sink.requests:
        body = json.loads(request["body"])
        if body["key"] == key:
            found.append((body["n"], request["arrived_at"], request["answered_at"]))
    return sorted(found, key=lambda w: w[1])


@pytest.mark.parametrize(
    "concurrency, path",
    [
        ({"key": "{{ event.payload.customer }}"}, "$.concurrency.limit"),
        ({"key": "{{ event.payload.customer }}", "limit": 0}, "$.concurrency.limit"),
        ({"key": "", "limit": 1}, "$.concurrency.key"),
        ({"key": "{{ steps.call.output }}", "limit": 1}, "$.concurrency.key"),
        ({"key": "x", "limit": 1, "per": "second"}, "$.concurrency.per"),
    ],
)
def test_concurrency_is_validated(concurrency, path):
    problems = definition_problems({**definition("http://x.example"), "concurrency": concurrency})
    assert path in [p["path"] for p in problems]


def test_one_run_of_a_key_at_a_time_in_arrival_order_while_other_keys_go_on(workflow_factory, rule_factory, http_sink):
    http_sink.delay_seconds = 0.15
    rule_factory(workflow_factory(definition=definition(http_sink.url)))
    for n in range(5):
        django_automate.emit("order.created", {"customer": "acme", "n": n})
        django_automate.emit("order.created", {"customer": "zeta", "n": n})
    # Every run exists before the first is admitted: arrival order is kept among the runs created
    # by then (a worker routing an event in parallel may start its run before an earlier event's).
    route_all(10)
    drain(10)
    assert set(ExecutionRun.objects.values_list("status", flat=True)) == {"succeeded"}
    for key in ("acme", "zeta"):
        seen = windows(http_sink, key)
        assert [n for n, _, _ in seen] == list(range(5)), "arrival order within the key"
        for (_, _, end), (_, start, _) in itertools.pairwise(seen):
            assert start >= end, f"two runs of {key} overlapped"
    # The keys are independent: some acme and zeta calls overlapped.
    acme, zeta = windows(http_sink, "acme"), windows(http_sink, "zeta")
    assert any(a < z_end and z < a_end for _, a, a_end in acme for _, z, z_end in zeta)


def test_a_run_waiting_for_a_slot_stays_pending_and_says_why(workflow_factory, rule_factory, run_worker, http_sink):
    sleep_then_call = definition(http_sink.url)
    sleep_then_call["steps"].insert(0, {"id": "nap", "sleep": {"seconds": 600}})
    rule_factory(workflow_factory(definition=sleep_then_call))
    for n in range(2):
        django_automate.emit("order.created", {"customer": "acme", "n": n})
    run_worker()
    first, second = ExecutionRun.objects.order_by("created_at")
    # A waiting run holds its slot: the second waits for it, pending, its job telling why.
    assert (first.status, second.status) == ("waiting", "pending")
    job = OutboxJob.objects.get(run=second, kind=JobKind.EXECUTE_RUN)
    assert job.last_error["code"] == "concurrency_limited" and job.last_error["details"]["limit"] == 1
    operations.cancel_run(first, actor="test")
    # The cancelled run's slot goes to the next run of its key at once.
    job.refresh_from_db()
    assert job.status == "ready" and job.available_at <= timezone.now()
    run_worker()
    second.refresh_from_db()
    assert second.status == "waiting" and second.admitted_at is not None


def test_a_failed_run_frees_its_slot(workflow_factory, rule_factory, run_worker, http_sink):
    http_sink.responses.append((400, {}, b"{}"))
    rule_factory(workflow_factory(definition=definition(http_sink.url)))
    for n in range(2):
        django_automate.emit("order.created", {"customer": "acme", "n": n})
    run_worker()
    statuses = list(ExecutionRun.objects.order_by("created_at").values_list("status", flat=True))
    assert statuses == ["failed", "succeeded"]
