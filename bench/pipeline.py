"""The pipeline end to end with real ``manage.py automate worker`` processes.

- throughput: a batch of events committed at once, each routed to a one-step workflow (the
  ``log`` connector, the cheapest there is), until every run has succeeded;
- latency: webhooks sent one at a time (or at a fixed rate) to a three-step workflow; from
  the moment the event was stored (its ``received_at``) to its first step starting and to its
  run succeeding;
- idle load: transactions per second that idle workers commit (PostgreSQL's
  ``pg_stat_database.xact_commit`` of the benchmark database, over a fixed window).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 1),
        "p95_ms": round(percentile(values, 0.95), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "count": len(values),
    }


# -- workers ---------------------------------------------------------------------------------------
class Workers:
    """``count`` worker processes (one thread each) against the benchmark database."""

    def __init__(self, count: int) -> None:
        from django.db import connection

        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "AUTOMATE_BENCH_DB_NAME": str(connection.settings_dict["NAME"]),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        }
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-m", "django", "automate", "worker", "--concurrency", "1"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(count)
        ]
        self._wait_registered()

    def _wait_registered(self, timeout: float = 120) -> None:
        from django_automate.models import WorkerHeartbeat

        pids = {process.pid for process in self.processes}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(WorkerHeartbeat.objects.filter(pid__in=pids, stopped_at=None).values_list("pid", flat=True)) == pids:
                return
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"worker exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.1)
        raise RuntimeError("workers did not start in time")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def workflow(slug: str, steps: int, event_type: str) -> Any:
    from django_automate.models import RuleSpec
    from django_automate.workflows.publishing import create_workflow

    definition = {
        "steps": [
            {"id": f"s{n}", "connector": "log", "action": "write", "with": {"message": "{{ event.type }}"}}
            for n in range(steps)
        ]
    }
    created = create_workflow(slug=slug, name=slug, definition=definition)
    RuleSpec.objects.create(name=f"rule-{slug}", event_type=event_type, workflow=created)
    return created


def wait_succeeded(workflow_obj: Any, count: int, timeout: float) -> None:
    from django_automate.models import ExecutionRun

    deadline = time.monotonic() + timeout
    runs = ExecutionRun.objects.filter(workflow=workflow_obj)
    while time.monotonic() < deadline:
        if runs.filter(status__in=["succeeded", "failed", "cancelled"]).count() >= count:
            failed = runs.exclude(status="succeeded").count()
            if failed:
                raise RuntimeError(f"{failed} runs did not succeed: {runs.exclude(status='succeeded').first()}")
            return
        time.sleep(0.1)
    done = runs.filter(status="succeeded").count()
    raise RuntimeError(f"only {done} of {count} runs succeeded within {timeout}s")


# -- measurements ----------------------------------------------------------------------------------
def throughput(workers: Workers, events: int) -> dict[str, Any]:
    """Executions per second: ``events`` committed in one transaction, then drained by ``workers``."""
    from django.db import transaction
    from django.db.models import Max
    from django.utils import timezone

    import django_automate
    from django_automate.models import ExecutionRun

    count = len(workers.processes)
    event_type = f"bench.noop.w{count}"
    flow = workflow(f"noop-w{count}", 1, event_type)
    with transaction.atomic():
        for n in range(events):
            django_automate.emit(event_type, {"n": n})
    committed = timezone.now()
    wait_succeeded(flow, events, timeout=600)
    last = ExecutionRun.objects.filter(workflow=flow).aggregate(last=Max("finished_at"))["last"]
    seconds = (last - committed).total_seconds()
    return {"workers": count, "events": events, "seconds": round(seconds, 2), "per_second": events / seconds}


def latency(workers: Workers, seconds: float, rate: float | None, limit: int = 1000) -> dict[str, Any]:
    """Webhooks to a three-step workflow for about ``seconds``; latencies measured from ``received_at``.

    Without ``rate``, each webhook is sent once the previous run has finished (nothing queues);
    with it, they are sent at that steady rate.
    """
    from django.test import Client

    from django_automate.models import Event, ExecutionRun, StepRun, WebhookEndpoint

    flow = workflow("three-steps", 3, "bench.three")
    WebhookEndpoint.objects.create(slug="bench", event_type="bench.three", scheme="none")
    runs = ExecutionRun.objects.filter(workflow=flow)
    client = Client()
    answered: list[float] = []
    deadline = time.monotonic() + seconds
    next_at = time.monotonic()
    while len(answered) < limit and (len(answered) < 20 or time.monotonic() < deadline):
        started = time.perf_counter()
        response = client.post("/hooks/bench/", json.dumps({"n": len(answered)}), content_type="application/json")
        answered.append((time.perf_counter() - started) * 1000)
        if response.status_code != 202:
            raise RuntimeError(f"webhook answered {response.status_code}: {response.content[:500]!r}")
        if rate is None:
            event_id = response.json()["event_id"]
            give_up = time.monotonic() + 60
            while not runs.filter(event_id=event_id, status="succeeded").exists() and time.monotonic() < give_up:
                time.sleep(0.01)
        else:
            next_at += 1.0 / rate
            time.sleep(max(0.0, next_at - time.monotonic()))
    wait_succeeded(flow, len(answered), timeout=300)
    received = dict(Event.objects.filter(type="bench.three").values_list("id", "received_at"))
    finished = [(run.finished_at - received[run.event_id]).total_seconds() * 1000 for run in runs]
    first = [
        (step.started_at - received[step.run.event_id]).total_seconds() * 1000
        for step in StepRun.objects.filter(run__workflow=flow, step_index=0, attempt=1).select_related("run")
    ]
    return {
        "webhooks": len(answered),
        "mode": "one at a time" if rate is None else f"{rate}/s",
        "workers": len(workers.processes),
        "webhook_response": summary_ms(answered),
        "to_first_step_started": summary_ms(first),
        "to_run_succeeded": summary_ms(finished),
    }


def idle_load(workers: Workers, seconds: float) -> dict[str, Any]:
    """Transactions per second per idle worker, from ``pg_stat_database`` (PostgreSQL only)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return {"workers": len(workers.processes), "note": "measured on PostgreSQL only"}
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    # An idle backend reports its statistics up to 10 s late: close ours (its polling during the
    # previous phase would land in the window), the workers' are busy enough to report each second.
    connection.close()
    query = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
    with psycopg.connect(**params, autocommit=True) as conn:
        time.sleep(2)  # the last jobs' statistics reach pg_stat_database
        before = conn.execute(query).fetchone()[0]  # type: ignore[index]
        time.sleep(seconds)
        after = conn.execute(query).fetchone()[0]  # type: ignore[index]
    own = 1  # the first reading's own transaction
    per_second = (after - before - own) / seconds
    return {
        "workers": len(workers.processes),
        "seconds": seconds,
        "transactions_per_second": round(per_second, 2),
        "per_worker_per_second": round(per_second / len(workers.processes), 2),
    }
