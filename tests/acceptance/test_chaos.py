"""Chaos: workers killed with SIGKILL at random, and workers frozen past their lease."""

from __future__ import annotations

import random
import signal
import time

import pytest
from django.db import connection

import django_automate
from django_automate.models import Event, ExecutionRun, JobStatus, OutboxJob, StepRun, WorkerHeartbeat
from tests.acceptance.conftest import wait_for, wait_ready

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]

LEASE = "2"  # seconds; short so that recovery after a kill is quick


def http_workflow(workflow_factory, rule_factory, url: str) -> None:
    steps = [
        {
            "id": "call",
            "connector": "http",
            "action": "request",
            "with": {"method": "POST", "url": url, "json": {"n": "{{ event.payload.n }}"}},
            "retry": {"max_attempts": 20, "initial_seconds": 0.1, "max_seconds": 1},
        }
    ]
    rule_factory(workflow_factory(steps=steps))


def test_random_sigkills_lose_nothing_and_each_event_reaches_the_server(
    workflow_factory, rule_factory, http_sink, start_worker
):
    # The full figure (2,000 events, 4 workers, at least 50 kills) on PostgreSQL; smaller elsewhere.
    events, workers, min_kills = {"postgresql": (2000, 4, 50), "mysql": (600, 4, 15)}.get(
        connection.vendor, (300, 1, 10)
    )
    http_sink.delay_seconds = 0.01
    http_workflow(workflow_factory, rule_factory, http_sink.url)
    for n in range(events):
        django_automate.emit("order.created", {"n": n})
    procs = [start_worker(AUTOMATE_TEST_LEASE_SECONDS=LEASE) for _ in range(workers)]
    rng = random.Random(20261126)
    kills = 0
    deadline = time.monotonic() + 600
    # Kills are paced by progress, not by the clock, so that however fast the workers are, about
    # 1.5 x min_kills of them land while runs are still being executed.
    spacing = max(2, events * 2 // (3 * min_kills))
    next_kill_at = rng.randint(1, spacing)

    def all_done() -> bool:
        routed = not OutboxJob.objects.filter(kind="route_event").exclude(status=JobStatus.DONE).exists()
        return routed and not ExecutionRun.objects.filter(status__in=["pending", "running"]).exists()

    while not all_done() and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.1, 0.3))
        if ExecutionRun.objects.filter(status="succeeded").count() < next_kill_at:
            continue
        # Kill a worker that is up and working (killing one still booting would test nothing).
        ready = [i for i, p in enumerate(procs) if WorkerHeartbeat.objects.filter(pid=p.pid, stopped_at=None).exists()]
        if not ready:
            continue
        victim = rng.choice(ready)
        procs[victim].kill()
        procs[victim].wait(10)
        kills += 1
        next_kill_at += rng.randint(spacing // 2, spacing * 3 // 2)
        procs[victim] = start_worker(AUTOMATE_TEST_LEASE_SECONDS=LEASE)
    wait_for(all_done, 120, "every run to finish after the last kill", *procs)
    wait_ready(*procs)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        status = proc.exit_after_sigterm(30)
        assert status == 0, status if isinstance(status, str) else proc.output()[-3000:]

    assert kills >= min_kills, f"only {kills} kills happened before the work was done"
    assert ExecutionRun.objects.count() == Event.objects.count() == events
    assert set(ExecutionRun.objects.values_list("status", flat=True)) == {"succeeded"}
    keys = http_sink.keys()
    assert len(keys) == events  # every event reached the server, under its one stable key
    assert StepRun.objects.filter(status="succeeded").count() == events
    assert not OutboxJob.objects.filter(status=JobStatus.CLAIMED).exists()
    print(f"{events} events, {workers} workers, {kills} SIGKILLs, {sum(keys.values())} requests for {len(keys)} keys")


def test_a_worker_frozen_past_its_lease_changes_nothing_when_it_wakes(
    workflow_factory, rule_factory, http_sink, start_worker
):
    cycles = 20
    http_sink.delay_seconds = 0.5
    http_workflow(workflow_factory, rule_factory, http_sink.url)
    frozen = start_worker(AUTOMATE_TEST_LEASE_SECONDS="1.5")
    rescuer = start_worker(AUTOMATE_TEST_LEASE_SECONDS="1.5")
    wait_ready(frozen, rescuer)
    # The rescuer sleeps (SIGSTOP) while the frozen worker takes each event, and wakes to rescue it.
    rescuer.send_signal(signal.SIGSTOP)
    for n in range(cycles):
        arrivals = http_sink.arrivals
        django_automate.emit("order.created", {"n": n})
        # Stopped while inside the HTTP call, so it holds no database lock while frozen.
        wait_for(lambda a=arrivals: http_sink.arrivals > a, 30, f"cycle {n}: the call to start", frozen)
        frozen.send_signal(signal.SIGSTOP)
        rescuer.send_signal(signal.SIGCONT)
        wait_for(
            lambda n=n: ExecutionRun.objects.filter(event__payload__n=n, status="succeeded").exists(),
            30,
            f"cycle {n}: the rescuer to finish the run",
            frozen,
            rescuer,
        )
        # Idle again (the run's end and its job's completion commit together), the rescuer sleeps.
        time.sleep(0.2)
        rescuer.send_signal(signal.SIGSTOP)
        lost_before = frozen.output().count("Lost the lease")
        frozen.send_signal(signal.SIGCONT)
        wait_for(
            lambda lost=lost_before: frozen.output().count("Lost the lease") > lost,
            30,
            f"cycle {n}: the late write",
            frozen,
        )
    rescuer.send_signal(signal.SIGCONT)
    for worker in (frozen, rescuer):
        worker.send_signal(signal.SIGTERM)
    for worker in (frozen, rescuer):
        assert worker.wait(30) == 0, worker.output()[-3000:]

    assert ExecutionRun.objects.filter(status="succeeded").count() == cycles
    for run in ExecutionRun.objects.all():
        attempts = list(run.steps.order_by("attempt").values_list("status", flat=True))
        # The frozen worker's attempt stays as the rescuer closed it; its late success was not written.
        assert attempts == ["retrying", "succeeded"], attempts
        assert run.steps.get(status="retrying").error["code"] == "attempt_interrupted"
    assert frozen.output().count("Lost the lease") == cycles
