"""Chaos for ``python`` steps: workers killed with SIGKILL while each run inserts a row and increments a counter.

With ``"transaction": true`` every run's writes commit exactly once, however often a worker
dies; without it, a worker killed after the function's writes but before the step's success
makes a second worker call the function again (at-least-once), under the same key.

``AUTOMATE_CHAOS_TX_RUNS`` / ``AUTOMATE_CHAOS_TX_KILLS`` / ``AUTOMATE_CHAOS_TX_WORKERS`` set the
size (200 runs, at least 6 kills and 2 workers by default; the full figure is 2,000 and 30).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections import Counter as Tally

import pytest

import django_automate
from django_automate.models import ExecutionRun, JobStatus, OutboxJob, StepRun, WorkerHeartbeat
from tests.acceptance.conftest import wait_for, wait_ready
from tests.testapp import actions
from tests.testapp.models import Counter, StepWrite

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]

LEASE = "2"  # seconds; short so that recovery after a kill is quick
RUNS = int(os.environ.get("AUTOMATE_CHAOS_TX_RUNS", "200"))
MIN_KILLS = int(os.environ.get("AUTOMATE_CHAOS_TX_KILLS", "6"))
WORKERS = int(os.environ.get("AUTOMATE_CHAOS_TX_WORKERS", "2"))
ACTIONS = {"insert_and_count": "tests.testapp.actions.insert_and_count"}
# Time spent after the writes, before the step's success is recorded: where a kill makes the difference.
PAUSE_SECONDS = 0.01


@pytest.mark.parametrize("transactional", [True, False], ids=["transaction", "at_least_once"])
def test_sigkilled_workers_and_a_python_step_that_writes(
    transactional, settings, workflow_factory, rule_factory, start_worker
):
    settings.AUTOMATE = {**settings.AUTOMATE, "PYTHON_ACTIONS": ACTIONS}
    step = {
        "id": "insert",
        "connector": "python",
        "action": "insert_and_count",
        "with": {"pause_seconds": PAUSE_SECONDS},
        "retry": {"max_attempts": 20, "initial_seconds": 0.1, "max_seconds": 1},
    }
    if transactional:
        step["transaction"] = True
    rule_factory(workflow_factory(steps=[step]))
    Counter.objects.create(name=actions.COUNTER)
    for n in range(RUNS):
        django_automate.emit("order.created", {"n": n})

    env = {"AUTOMATE_TEST_LEASE_SECONDS": LEASE, "AUTOMATE_TEST_PYTHON_ACTIONS": json.dumps(ACTIONS)}
    procs = [start_worker(**env) for _ in range(WORKERS)]
    rng = random.Random(20261207)
    kills = 0
    deadline = time.monotonic() + 120 + RUNS * 0.5
    # Kills are paced by progress, so that about 1.5 x MIN_KILLS of them land while runs are executed.
    spacing = max(2, RUNS * 2 // (3 * MIN_KILLS))
    next_kill_at = rng.randint(1, spacing)

    def all_done() -> bool:
        routed = not OutboxJob.objects.filter(kind="route_event").exclude(status=JobStatus.DONE).exists()
        return routed and not ExecutionRun.objects.filter(status__in=["pending", "running"]).exists()

    while not all_done() and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.05, 0.2))
        if ExecutionRun.objects.filter(status="succeeded").count() < next_kill_at:
            continue
        ready = [i for i, p in enumerate(procs) if WorkerHeartbeat.objects.filter(pid=p.pid, stopped_at=None).exists()]
        if not ready:
            continue
        victim = rng.choice(ready)
        procs[victim].kill()
        procs[victim].wait(10)
        kills += 1
        next_kill_at += rng.randint(spacing // 2, spacing * 3 // 2)
        procs[victim] = start_worker(**env)
    wait_for(all_done, 120, "every run to finish after the last kill", *procs)
    wait_ready(*procs)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        status = proc.exit_after_sigterm(30)
        assert status == 0, status if isinstance(status, str) else proc.output()[-3000:]

    assert kills >= MIN_KILLS, f"only {kills} kills happened before the work was done"
    runs = {f"{run_id}:insert" for run_id in ExecutionRun.objects.values_list("id", flat=True)}
    assert len(runs) == RUNS
    assert set(ExecutionRun.objects.values_list("status", flat=True)) == {"succeeded"}
    assert StepRun.objects.filter(status="succeeded").count() == RUNS
    assert not OutboxJob.objects.filter(status=JobStatus.CLAIMED).exists()
    rows = Tally(StepWrite.objects.values_list("key", flat=True))
    counter = Counter.objects.get(name=actions.COUNTER).value
    interrupted = StepRun.objects.filter(error__code="attempt_interrupted").count()
    # Every row carries the key of its run's step, and every run wrote.
    assert set(rows) == runs
    duplicates = sum(rows.values()) - RUNS
    print(
        f"\n{'transaction' if transactional else 'at-least-once'}: {RUNS} runs, {WORKERS} workers, {kills} SIGKILLs,"
        f" {interrupted} interrupted attempts, {sum(rows.values())} rows, counter {counter},"
        f" {duplicates} duplicate rows over {sum(1 for n in rows.values() if n > 1)} keys"
    )
    if transactional:
        assert sum(rows.values()) == RUNS
        assert counter == RUNS
    else:
        # At least once: a run may have written more than once, each time under its one key.
        assert sum(rows.values()) >= RUNS
        assert counter >= RUNS
