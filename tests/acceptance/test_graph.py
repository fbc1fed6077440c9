"""Step graphs with real worker processes: branches on two workers at once, and SIGKILL chaos in branches."""

from __future__ import annotations

import json
import random
import signal
import time

import pytest
from django.db import connection

import django_automate
from django_automate.models import ExecutionRun, JobKind, OutboxJob, StepRun
from tests.acceptance.conftest import wait_for, wait_ready

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]

LEASE = "2"  # seconds: a killed worker's jobs come back quickly


def call(step_id: str, url: str, needs: list[str], **extra: object) -> dict:
    body = {"run": "{{ run.id }}", "step": step_id}
    return {
        "id": step_id,
        "connector": "http",
        "action": "request",
        "with": {"method": "POST", "url": url, "json": body},
        "needs": needs,
        **extra,
    }


def by_step(requests: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """The requests by (run, step), an item's step being ``<step>:<index>``."""
    seen: dict[tuple[str, str], list[dict]] = {}
    for request in requests:
        body = json.loads(request["body"])
        step = body["step"] if "index" not in body else f"{body['step']}:{body['index']}"
        seen.setdefault((body["run"], step), []).append(request)
    return seen


def per_item(step_id: str, url: str, needs: list[str], **extra: object) -> dict:
    step = call(step_id, url, needs, for_each="{{ event.payload.items }}", **extra)
    step["with"]["json"]["index"] = "{{ item_index }}"
    return step


@pytest.mark.skipif(connection.vendor == "sqlite", reason="one SQLite file has one writer: the workers take turns")
def test_a_diamonds_branches_run_at_once_on_two_workers_and_the_join_once_after_them(
    workflow_factory, rule_factory, http_sink, start_worker
):
    http_sink.delay_seconds = 1.0
    url = http_sink.url
    steps = [
        {"id": "a", "connector": "log", "action": "write", "with": {"message": "start"}},
        call("b", url, ["a"]),
        call("c", url, ["a"]),
        call("d", url, ["b", "c"]),
    ]
    rule_factory(workflow_factory(steps=steps))
    workers = [start_worker("--concurrency", "1", AUTOMATE_TEST_LEASE_SECONDS="10") for _ in range(2)]
    wait_ready(*workers)
    runs = 3
    for n in range(runs):
        # One diamond at a time: with two workers, two diamonds at once may rightly run one's b beside the other's.
        django_automate.emit("order.created", {"n": n})
        wait_for(
            lambda n=n: ExecutionRun.objects.filter(status="succeeded").count() == n + 1,
            60,
            "the diamond to finish",
            *workers,
        )
    calls = by_step(http_sink.requests)
    for run in ExecutionRun.objects.all():
        run_id = str(run.id)
        (b,), (c,), (d,) = calls[(run_id, "b")], calls[(run_id, "c")], calls[(run_id, "d")]
        # At the server: b and c were in flight at the same time, d arrived after both were answered.
        assert b["arrived_at"] < c["answered_at"] and c["arrived_at"] < b["answered_at"], "b and c overlap"
        assert d["arrived_at"] >= max(b["answered_at"], c["answered_at"])
        holders = OutboxJob.objects.filter(run=run, kind=JobKind.EXECUTE_STEP, step_id__in=["b", "c"])
        assert len(set(holders.values_list("leased_by", flat=True))) == 2, "b and c ran on two workers"
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.exit_after_sigterm() == 0, worker.output()[-3000:]


def test_sigkills_during_branches_lose_nothing_and_start_no_step_before_its_needs(
    workflow_factory, rule_factory, http_sink, start_worker
):
    runs, workers, kills = {"postgresql": (30, 3, 6), "mysql": (30, 3, 6)}.get(connection.vendor, (10, 1, 3))
    http_sink.delay_seconds = 0.05
    url = http_sink.url
    retry = {"retry": {"max_attempts": 20, "initial_seconds": 0.1, "max_seconds": 1}}
    steps = [
        call("a", url, [], **retry),
        call("b", url, ["a"], **retry),
        call("c", url, ["a"], **retry),
        call("e", url, ["a"], **retry),
        per_item("f", url, ["a"], max_parallel=2, **retry),
        {"id": "nap", "sleep": {"seconds": 1}, "needs": ["a"]},  # a wait in flight when workers die
        call("d", url, ["b", "c", "e", "f", "nap"], **retry),
    ]
    items = 4
    needs = {step["id"]: step["needs"] for step in steps}
    rule_factory(workflow_factory(steps=steps))
    for n in range(runs):
        django_automate.emit("order.created", {"n": n, "items": list(range(items))})
    procs = [start_worker(AUTOMATE_TEST_LEASE_SECONDS=LEASE) for _ in range(workers)]
    rng = random.Random(20261207)
    killed = 0
    deadline = time.monotonic() + 240
    while ExecutionRun.objects.exclude(status="succeeded").count() or ExecutionRun.objects.count() < runs:
        assert time.monotonic() < deadline, "the runs did not finish"
        time.sleep(rng.uniform(0.2, 0.6))
        if killed < kills and StepRun.objects.filter(status="running").exists():
            victim = rng.randrange(len(procs))
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait(10)
            procs[victim] = start_worker(AUTOMATE_TEST_LEASE_SECONDS=LEASE)
            killed += 1
    assert killed >= min(kills, 2), f"only {killed} kills landed"
    calls = by_step(http_sink.requests)
    for run in ExecutionRun.objects.all():
        run_id = str(run.id)
        succeeded = {s.step_id: s for s in StepRun.objects.filter(run=run, status="succeeded")}
        for step_id, needed in needs.items():
            if step_id == "nap":
                continue  # calls nothing
            needed = [need for need in needed if need != "nap"]
            targets = [f"{step_id}:{i}" for i in range(items)] if step_id == "f" else [step_id]
            for target in targets:
                seen = calls[(run_id, target)]
                # Each (run, step, item) side effect reaches the server under one key, however often it was sent.
                assert {r["headers"]["idempotency-key"] for r in seen} == {f"{run_id}:{target}"}
                # Nothing started before its needs: every request came after a successful answer to each need.
                first = min(r["arrived_at"] for r in seen)
                for need in needed:
                    parts = [f"f:{i}" for i in range(items)] if need == "f" else [need]
                    answered = max(min(r["answered_at"] for r in calls[(run_id, part)]) for part in parts)
                    assert first >= answered
            for need in needs[step_id]:
                assert succeeded[step_id].started_at >= succeeded[need].finished_at
        assert succeeded["f"].output is not None and len(succeeded["f"].output) == items
        assert succeeded["d"].started_at >= succeeded["nap"].finished_at
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        assert proc.exit_after_sigterm() == 0, proc.output()[-3000:]
    sent = runs * (len(steps) - 2 + items)
    print(f"{runs} graph runs, {killed} SIGKILLs, {len(http_sink.requests)} requests for {sent} steps and items")


@pytest.mark.skipif(connection.vendor == "sqlite", reason="one SQLite file has one writer: the workers take turns")
def test_for_each_over_200_items_keeps_5_in_flight_and_calls_each_item_once_with_its_key(
    workflow_factory, rule_factory, http_sink, start_worker
):
    http_sink.delay_seconds = 0.05
    rule_factory(workflow_factory(steps=[per_item("each", http_sink.url, [], max_parallel=5)]))
    workers = [start_worker("--concurrency", "4", AUTOMATE_TEST_LEASE_SECONDS="10") for _ in range(2)]
    wait_ready(*workers)
    django_automate.emit("order.created", {"items": list(range(200))})
    wait_for(lambda: ExecutionRun.objects.filter(status="succeeded").exists(), 180, "the items to finish", *workers)
    run_id = str(ExecutionRun.objects.get().id)
    calls = by_step(http_sink.requests)
    assert sorted(calls) == sorted((run_id, f"each:{i}") for i in range(200))
    for (_, target), seen in calls.items():
        assert len(seen) == 1 and seen[0]["headers"]["idempotency-key"] == f"{run_id}:{target}"
    windows = [(r["arrived_at"], r["answered_at"]) for r in http_sink.requests]
    in_flight = max(sum(1 for a, b in windows if a <= start < b) for start, _ in windows)
    assert in_flight <= 5
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.exit_after_sigterm() == 0, worker.output()[-3000:]
    print(f"200 items, at most {in_flight} in flight at the server (max_parallel 5)")
