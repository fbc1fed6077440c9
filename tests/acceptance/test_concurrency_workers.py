"""Concurrency keys with real worker processes: one run of a key in flight at a time, in arrival order."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
import signal
import time

import pytest
from django.db import connection

import django_automate
from django_automate.models import ExecutionRun
from tests.acceptance.conftest import wait_for, wait_ready

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]

#: Runs and keys on a server database (the issue's full scale: AUTOMATE_CONCURRENCY_RUNS=300 …_KEYS=10).
RUNS = int(os.environ.get("AUTOMATE_CONCURRENCY_RUNS", "120"))
KEYS = int(os.environ.get("AUTOMATE_CONCURRENCY_KEYS", "8"))


def call_step(url: str) -> dict:
    return {
        "id": "call",
        "connector": "http",
        "action": "request",
        "with": {
            "method": "POST",
            "url": url,
            "json": {"key": "{{ event.payload.key }}", "n": "{{ event.payload.n }}"},
        },
        "retry": {"max_attempts": 20, "initial_seconds": 0.1, "max_seconds": 1},
    }


def calls_by_key(http_sink) -> dict[str, list[tuple[int, float, float]]]:
    """(n, arrived, answered) of each call at the server, by key, in arrival order."""
    by_key: dict[str, list[tuple[int, float, float]]] = {}
    for request in http_sink.requests:
        body = json.loads(request["body"])
        by_key.setdefault(body["key"], []).append((body["n"], request["arrived_at"], request["answered_at"]))
    for calls in by_key.values():
        calls.sort(key=lambda c: c[1])
    return by_key


def assert_one_at_a_time(by_key: dict[str, list[tuple[int, float, float]]]) -> None:
    for key, calls in by_key.items():
        for (_, _, end), (_, start, _) in itertools.pairwise(calls):
            assert start >= end, f"two runs of {key} were in flight at once"


def test_runs_of_one_key_never_overlap_and_start_in_arrival_order_across_workers(
    workflow_factory, rule_factory, http_sink, start_worker
):
    runs, keys, workers = {"sqlite": (30, 3, 1)}.get(connection.vendor, (RUNS, KEYS, 4))
    http_sink.delay_seconds = 0.05
    definition = {"concurrency": {"key": "{{ event.payload.key }}", "limit": 1}, "steps": [call_step(http_sink.url)]}
    rule_factory(workflow_factory(definition=definition))
    rng = random.Random(7)
    procs = [start_worker(AUTOMATE_TEST_LEASE_SECONDS="10") for _ in range(workers)]
    wait_ready(*procs)
    for n in range(runs):  # events arrive while the workers run, as in production
        django_automate.emit("order.created", {"key": f"k{rng.randrange(keys)}", "n": n})
        time.sleep(0.01)
    wait_for(
        lambda: ExecutionRun.objects.filter(status="succeeded").count() == runs, 180, "every run to finish", *procs
    )
    by_key = calls_by_key(http_sink)
    assert_one_at_a_time(by_key)
    # Arrival order: a run whose event came first, and that existed when a later one took a slot, took one first.
    # "Existed" is judged with a margin: a run is written before its routing transaction commits (docs/workflows.md).
    margin = dt.timedelta(seconds=1)
    rows = list(ExecutionRun.objects.values_list("concurrency_key", "event__received_at", "created_at", "admitted_at"))
    for key, arrived, created, admitted in rows:
        for other_key, other_arrived, _, other_admitted in rows:
            if key == other_key and arrived < other_arrived and created + margin < other_admitted:
                assert admitted <= other_admitted, "a later event's run took a slot before an earlier one's"
    spans = sorted((start, end) for calls in by_key.values() for _, start, end in calls)
    overlapping_keys = sum(1 for (_, end), (start, _) in itertools.pairwise(spans) if start < end)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        assert proc.exit_after_sigterm() == 0, proc.output()[-3000:]
    print(f"{runs} runs over {keys} keys on {workers} workers; {overlapping_keys} overlaps between different keys")
    if workers > 1:
        assert overlapping_keys > 0, "different keys ran side by side"


@pytest.mark.skipif(connection.vendor == "sqlite", reason="one SQLite file has one writer: one worker process")
def test_workers_killed_while_holding_slots_leak_none(workflow_factory, rule_factory, http_sink, start_worker):
    """SIGKILL workers whose runs hold slots: each slot comes back within the lease, and no key starves."""
    runs, keys, lease = 60, 4, 2
    http_sink.delay_seconds = 0.3  # long enough that a kill lands while a call (and its slot) is held
    definition = {"concurrency": {"key": "{{ event.payload.key }}", "limit": 1}, "steps": [call_step(http_sink.url)]}
    rule_factory(workflow_factory(definition=definition))
    procs = [start_worker(AUTOMATE_TEST_LEASE_SECONDS=str(lease)) for _ in range(3)]
    wait_ready(*procs)
    for n in range(runs):
        django_automate.emit("order.created", {"key": f"k{n % keys}", "n": n})
    rng = random.Random(11)
    kills: list[float] = []
    deadline = time.monotonic() + 240
    while ExecutionRun.objects.filter(status="succeeded").count() < runs:
        assert time.monotonic() < deadline, "the runs did not finish: a slot leaked or a key starved"
        time.sleep(rng.uniform(0.5, 1.5))
        holding = ExecutionRun.objects.filter(status="running", admitted_at__isnull=False).exists()
        if len(kills) < 4 and holding:
            victim = rng.randrange(len(procs))
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait(10)
            kills.append(time.monotonic())
            procs[victim] = start_worker(AUTOMATE_TEST_LEASE_SECONDS=str(lease))
    assert len(kills) >= 2, f"only {len(kills)} kills landed while a run held a slot"
    assert set(ExecutionRun.objects.values_list("status", flat=True)) == {"succeeded"}
    by_key = calls_by_key(http_sink)
    assert_one_at_a_time(by_key)
    assert sorted(by_key) == [f"k{k}" for k in range(keys)], "every key's runs reached the server"
    # A slot held by a killed worker's run comes back when its lease runs out: the longest pause between two
    # calls of one key stays within lease + the slot's recheck (5 s) + the call and a loaded machine's slack.
    gaps = [later[1] - earlier[2] for calls in by_key.values() for earlier, later in itertools.pairwise(calls)]
    print(f"{runs} runs, {keys} keys, {len(kills)} kills; longest pause between two calls of a key {max(gaps):.2f} s")
    assert max(gaps) < lease + 5 + 4
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        assert proc.exit_after_sigterm() == 0, proc.output()[-3000:]
