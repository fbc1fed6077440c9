"""``wait_for`` with real worker processes: concurrent matching events resume exactly the matching runs."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from django.db import connection, connections

import django_automate
from django_automate.models import ExecutionRun, RunWait, StepRun
from tests.acceptance.conftest import wait_for, wait_ready

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]

THREADS = 8


def test_concurrent_events_resume_exactly_the_runs_waiting_for_them(workflow_factory, rule_factory, start_worker):
    sqlite = connection.vendor == "sqlite"
    # SQLite (one worker, one writer at a time) runs the same test at half the scale.
    # AUTOMATE_WAIT_FOR_RUNS sets the full scale (1,000 matching runs); CI runs 200 (docs/development.md).
    full = int(os.environ.get("AUTOMATE_WAIT_FOR_RUNS", "200"))
    matched, decoys = (full // 2, full // 20) if sqlite else (full, full // 10)
    total = matched + decoys
    steps = [
        {
            "id": "paid",
            "wait_for": {
                "event_type": "invoice.paid",
                "correlate": {"path": "payload.customer", "value": "{{ event.payload.customer }}"},
                "timeout_seconds": 3600,
            },
        },
        {"id": "thanks", "connector": "log", "action": "write", "with": {"message": "{{ event.payload.customer }}"}},
    ]
    rule_factory(workflow_factory(steps=steps), event_type="order.created")
    workers = [start_worker("--concurrency", "2") for _ in range(1 if sqlite else 2)]
    wait_ready(*workers)
    for n in range(total):
        django_automate.emit("order.created", {"customer": f"k{n}"})
    wait_for(
        lambda: ExecutionRun.objects.filter(status="waiting").count() == total and RunWait.objects.count() == total,
        90,
        f"{total} waiting runs",
        *workers,
    )
    # The matching events (k0, k1, …) and decoys for nobody, from several threads at once.
    customers = [f"k{n}" for n in range(matched)] + [f"nobody{n}" for n in range(decoys)]
    emitted: dict[str, str] = {}
    lock = threading.Lock()

    def send(share: list[str]) -> None:
        try:
            for customer in share:
                event = django_automate.emit("invoice.paid", {"customer": customer})
                with lock:
                    emitted[customer] = str(event.id)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(customers[i::THREADS],)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(emitted) == matched + decoys
    wait_for(
        lambda: ExecutionRun.objects.filter(status="succeeded").count() == matched,
        90,
        f"{matched} resumed runs",
        *workers,
    )
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.exit_after_sigterm() == 0
    runs = {run.event.payload["customer"]: run for run in ExecutionRun.objects.select_related("event")}
    assert {c for c, run in runs.items() if run.status == "succeeded"} == {f"k{n}" for n in range(matched)}
    assert {c for c, run in runs.items() if run.status == "waiting"} == {f"k{n}" for n in range(matched, total)}
    # Each resumed run got the event of its own customer, once.
    for attempt in StepRun.objects.filter(step_id="paid", status="succeeded").select_related("run__event"):
        customer = attempt.run.event.payload["customer"]
        assert attempt.output["event_id"] == emitted[customer] and attempt.output["payload"]["customer"] == customer
    assert StepRun.objects.filter(step_id="paid").count() == total
    assert StepRun.objects.filter(step_id="thanks", status="succeeded").count() == matched
