"""Concurrency keys with real worker processes: one run of a key in flight at a time, in arrival order."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import signal
import time

import pytest
from django.db import connection

import django_automate
from django_automate.models import ExecutionRun
from tests.acceptance.conftest import wait_for, wait_ready

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]


def test_runs_of_one_key_never_overlap_and_start_in_arrival_order_across_workers(
    workflow_factory, rule_factory, http_sink, start_worker
):
    runs, keys, workers = {"sqlite": (30, 3, 1)}.get(connection.vendor, (120, 8, 4))
    http_sink.delay_seconds = 0.05
    call = {
        "id": "call",
        "connector": "http",
        "action": "request",
        "with": {
            "method": "POST",
            "url": http_sink.url,
            "json": {"key": "{{ event.payload.key }}", "n": "{{ event.payload.n }}"},
        },
        "retry": {"max_attempts": 20, "initial_seconds": 0.1, "max_seconds": 1},
    }
    definition = {"concurrency": {"key": "{{ event.payload.key }}", "limit": 1}, "steps": [call]}
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
    by_key: dict[str, list[tuple[int, float, float]]] = {}
    for request in http_sink.requests:
        body = json.loads(request["body"])
        by_key.setdefault(body["key"], []).append((body["n"], request["arrived_at"], request["answered_at"]))
    for key, calls in by_key.items():
        calls.sort(key=lambda c: c[1])
        for (_, _, end), (_, start, _) in itertools.pairwise(calls):
            assert start >= end, f"two runs of {key} were in flight at once"
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
