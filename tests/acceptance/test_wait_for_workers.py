"""``wait_for`` with real worker processes: concurrent matching events resume exactly the matching runs."""

from __future__ import annotations

import signal
import threading

import pytest
from django.db import connection, connections

import django_automate
from django_automate.models import ExecutionRun, RunWait, StepRun
from tests.acceptance.conftest import wait_for, wait_ready

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]

RUNS, MATCHED, DECOYS, THREADS = 220, 200, 20, 8


def test_concurrent_events_resume_exactly_the_runs_waiting_for_them(workflow_factory, rule_factory, start_worker):
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
    workers = [start_worker("--concurrency", "2") for _ in range(1 if connection.vendor == "sqlite" else 2)]
    wait_ready(*workers)
    for n in range(RUNS):
        django_automate.emit("order.created", {"customer": f"k{n}"})
    wait_for(
        lambda: ExecutionRun.objects.filter(status="waiting").count() == RUNS and RunWait.objects.count() == RUNS,
        60,
        f"{RUNS} waiting runs",
        *workers,
    )
    # The matching events (k0…k199) and decoys for nobody, from several threads at once.
    customers = [f"k{n}" for n in range(MATCHED)] + [f"nobody{n}" for n in range(DECOYS)]
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
    assert len(emitted) == MATCHED + DECOYS
    wait_for(
        lambda: ExecutionRun.objects.filter(status="succeeded").count() == MATCHED,
        60,
        f"{MATCHED} resumed runs",
        *workers,
    )
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.exit_after_sigterm() == 0
    runs = {run.event.payload["customer"]: run for run in ExecutionRun.objects.select_related("event")}
    assert {c for c, run in runs.items() if run.status == "succeeded"} == {f"k{n}" for n in range(MATCHED)}
    assert {c for c, run in runs.items() if run.status == "waiting"} == {f"k{n}" for n in range(MATCHED, RUNS)}
    # Each resumed run got the event of its own customer, once.
    for attempt in StepRun.objects.filter(step_id="paid", status="succeeded").select_related("run__event"):
        customer = attempt.run.event.payload["customer"]
        assert attempt.output["event_id"] == emitted[customer] and attempt.output["payload"]["customer"] == customer
    assert StepRun.objects.filter(step_id="paid").count() == RUNS
    assert StepRun.objects.filter(step_id="thanks", status="succeeded").count() == MATCHED
