"""The pipeline end to end with real ``manage.py automate worker`` processes.

- throughput: after a warm-up batch, a batch of events committed at once, each routed to a
  one-step workflow (the ``log`` connector, the cheapest there is), until every run has succeeded;
- latency: webhooks sent at a fixed rate (``bench/run.py``: half the measured maximum) or one at
  a time to a three-step workflow; from the moment the event was stored (its ``received_at``) to
  its first step starting and to its run succeeding;
- idle load: transactions per second that idle workers commit (PostgreSQL's
  ``pg_stat_database.xact_commit`` of the benchmark database, over a fixed window);
- memory: the resident set of one worker after a first batch of events and after many more.
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

import lazy

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
        self.logs = [lazy.log_file() for _ in range(count)]
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-m", "django", "automate", "worker", "--concurrency", "1"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            for log in self.logs
        ]
        self._wait_registered()

    def _wait_registered(self, timeout: float = 120) -> None:
        from django_automate.models import WorkerHeartbeat

        pids = {process.pid for process in self.processes}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(WorkerHeartbeat.objects.filter(pid__in=pids, stopped_at=None).values_list("pid", flat=True)) == pids:
                return
            for process, log in zip(self.processes, self.logs, strict=True):
                if process.poll() is not None:
                    raise RuntimeError(f"worker exited: {lazy.tail(log)}")
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

    def tail(self) -> str:
        """The end of each worker's stderr, for an error message."""
        return "\n".join(
            f"worker {process.pid}: {lazy.tail(log, 1000)}"
            for process, log in zip(self.processes, self.logs, strict=True)
        )


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


def wait_succeeded(workflow_obj: Any, count: int, timeout: float, workers: Workers | None = None) -> None:
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
    logs = f"; the workers said:\n{workers.tail()}" if workers else ""
    raise RuntimeError(f"only {done} of {count} runs succeeded within {timeout}s{logs}")


# -- measurements ----------------------------------------------------------------------------------
def emit_batch(event_type: str, count: int) -> None:
    from django.db import transaction

    import django_automate

    with transaction.atomic():
        for n in range(count):
            django_automate.emit(event_type, {"n": n})


def throughput(workers: Workers, events: int, warmup: int = 20, steps: int = 1) -> dict[str, Any]:
    """Executions per second of a ``steps``-step workflow: ``events`` committed in one transaction, then drained.

    ``warmup`` events to another workflow go first (connections, caches, the rule index), so the
    clock starts on warm workers, as it does for Procrastinate's.
    """
    from django.db import transaction
    from django.db.models import Max
    from django.utils import timezone

    import django_automate
    from django_automate.models import ExecutionRun

    count = len(workers.processes)
    name = f"w{count}" if steps == 1 else f"w{count}-s{steps}"
    event_type = f"bench.noop.{name}"
    flow = workflow(f"noop-{name}", steps, event_type)
    warm = workflow(f"warm-{name}", steps, f"bench.warm.{name}")
    emit_batch(f"bench.warm.{name}", warmup)
    wait_succeeded(warm, warmup, timeout=300, workers=workers)
    with transaction.atomic():
        for n in range(events):
            django_automate.emit(event_type, {"n": n})
    committed = timezone.now()
    wait_succeeded(flow, events, timeout=600, workers=workers)
    last = ExecutionRun.objects.filter(workflow=flow).aggregate(last=Max("finished_at"))["last"]
    seconds = (last - committed).total_seconds()
    return {
        "workers": count,
        "steps": steps,
        "events": events,
        "seconds": round(seconds, 2),
        "per_second": events / seconds,
    }


def latency(workers: Workers, seconds: float, rate: float | None, limit: int = 1000) -> dict[str, Any]:
    """Webhooks to a three-step workflow for about ``seconds``; latencies measured from ``received_at``.

    Without ``rate``, each webhook is sent once the previous run has finished (nothing queues);
    with it, they are sent at that steady rate.
    """
    from django.test import Client

    from django_automate.models import Event, ExecutionRun, StepRun, WebhookEndpoint

    name = "serial" if rate is None else "rate"
    flow = workflow(f"three-steps-{name}", 3, f"bench.three.{name}")
    WebhookEndpoint.objects.create(slug=f"bench-{name}", event_type=f"bench.three.{name}", scheme="none")
    runs = ExecutionRun.objects.filter(workflow=flow)
    client = Client()
    answered: list[float] = []
    began = time.monotonic()
    deadline = began + seconds
    next_at = began
    while len(answered) < limit and (len(answered) < 20 or time.monotonic() < deadline):
        started = time.perf_counter()
        response = client.post(
            f"/automate/hooks/bench-{name}/", json.dumps({"n": len(answered)}), content_type="application/json"
        )
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
    sending = time.monotonic() - began
    wait_succeeded(flow, len(answered), timeout=300, workers=workers)
    received = dict(Event.objects.filter(type=f"bench.three.{name}").values_list("id", "received_at"))
    finished = [(run.finished_at - received[run.event_id]).total_seconds() * 1000 for run in runs]
    first = [
        (step.started_at - received[step.run.event_id]).total_seconds() * 1000
        for step in StepRun.objects.filter(run__workflow=flow, step_index=0, attempt=1).select_related("run")
    ]
    return {
        "webhooks": len(answered),
        "mode": "one at a time" if rate is None else f"{rate:.1f}/s",
        "rate_sent": round(len(answered) / sending, 1),
        "workers": len(workers.processes),
        "webhook_response": summary_ms(answered),
        "to_first_step_started": summary_ms(first),
        "to_run_succeeded": summary_ms(finished),
    }


#: Seconds between the end of the previous phase and the idle window (see idle_load()).
IDLE_SETTLE_SECONDS = 12


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
        # Backends that just went idle flush their statistics up to 10 s later (PGSTAT_IDLE_INTERVAL):
        # wait that out, or the previous phase's transactions land in the idle window.
        time.sleep(IDLE_SETTLE_SECONDS)
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


def rss_kib(pid: int) -> int | None:
    """Resident set of a process in KiB (Linux ``/proc``; ``None`` elsewhere)."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    line = next(line for line in status.read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1])


def memory(events: int, first: int, budget: float, batch: int = 100) -> dict[str, Any]:
    """RSS of one fresh worker once it has executed ``first`` events, and once it has executed ``events``.

    Events (one-step ``log`` workflow) are fed ``batch`` at a time, never more than two batches
    ahead of the worker, so the backlog stays small. After ``budget`` seconds (0: no limit) no more
    are fed and the second reading is taken at the count reached. Both readings are taken with
    the worker idle, after its backlog drained.
    """
    from django_automate.models import ExecutionRun

    workers = Workers(1)
    try:
        pid = workers.processes[0].pid
        flow = workflow("rss", 1, "bench.rss")
        done = ExecutionRun.objects.filter(workflow=flow, status="succeeded")
        emit_batch("bench.rss", first)
        wait_succeeded(flow, first, timeout=max(600.0, budget), workers=workers)
        time.sleep(1)
        readings = [{"events": first, "rss_kib": rss_kib(pid)}]
        started, emitted = time.monotonic(), first
        while emitted < events and not (budget and time.monotonic() - started > budget):
            if emitted - done.count() < 2 * batch:
                count = min(batch, events - emitted)
                emit_batch("bench.rss", count)
                emitted += count
            else:
                time.sleep(0.2)
        wait_succeeded(flow, emitted, timeout=600, workers=workers)
        time.sleep(1)
        readings.append({"events": emitted, "rss_kib": rss_kib(pid)})
    finally:
        workers.stop()
    before, after = readings[0]["rss_kib"], readings[1]["rss_kib"]
    growth = None if not before or after is None else round((after - before) / before, 4)
    return {"readings": readings, "growth": growth, "requested_events": events, "complete": emitted >= events}
