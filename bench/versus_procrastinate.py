"""No-op jobs/s of Procrastinate with the same number of worker processes, on the same server.

Procrastinate (``lazy.PROCRASTINATE``, installed on first use) gets a scratch database of its
own (the benchmark database's name + ``_procrastinate``) on the same server, its schema
applied by its own CLI. ``count`` worker processes (``procrastinate worker --concurrency 1``,
defaults otherwise: LISTEN/NOTIFY on) are started and registered, a warm-up batch is drained,
then ``jobs`` no-op jobs are deferred in one transaction; from that commit to the last job's
``succeeded`` event. The same shape as ``pipeline.throughput``, which it is compared with.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import lazy

WARMUP = 100


class Procrastinate:
    """The scratch database, its schema, and a way to run Procrastinate's CLI against it."""

    def __init__(self) -> None:
        import psycopg
        from django.db import connection

        self.folder: Path = lazy.installed(lazy.PROCRASTINATE, "psycopg[binary]")
        settings = connection.settings_dict
        host, port, user = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432, settings["USER"] or "postgres"
        self.database = f"{settings['NAME']}_procrastinate"
        self.dsn = f"host={host} port={port} user={user} dbname={self.database}"
        self.admin = f"host={host} port={port} user={user} dbname=postgres"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {self.database}")
        self.logs: dict[int, IO[bytes]] = {}
        self.env = lazy.subprocess_env(self.folder, AUTOMATE_BENCH_PROCRASTINATE_DSN=self.dsn)
        self.cli("schema", "--apply").wait(120)

    def cli(self, *args: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "procrastinate", "--app=bench.procrastinate_app.app", *args]
        log = lazy.log_file()
        process = subprocess.Popen(command, cwd=lazy.ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=log)
        self.logs[process.pid] = log
        return process

    def defer(self, jobs: int) -> float:
        """Defer ``jobs`` in one transaction; the time of its commit."""
        command = [sys.executable, "-m", "bench.procrastinate_app", str(jobs)]
        done = subprocess.run(command, cwd=lazy.ROOT, env=self.env, capture_output=True, text=True, check=True)
        return float(done.stdout.split()[-1])

    def query(self, sql: str) -> Any:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchone()[0] if cursor.description else None  # type: ignore[index]

    def wait_done(self, total: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.query("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'") >= total:
                return
            time.sleep(0.1)
        raise RuntimeError(f"Procrastinate did not finish {total} jobs within {timeout}s")

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")


def throughput(side: Procrastinate, count: int, jobs: int, seconds: float) -> dict[str, Any]:
    """Jobs per second of ``count`` Procrastinate worker processes draining one batch deferred at once.

    The batch has at least ``jobs`` jobs, more when the warm-up shows that they would take less
    than ``seconds`` (up to 20,000).
    """
    side.query("TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_workers RESTART IDENTITY CASCADE")
    workers = [side.cli("worker", "--concurrency", "1", "--queues", "bench") for _ in range(count)]
    try:
        deadline = time.monotonic() + 60
        while side.query("SELECT count(*) FROM procrastinate_workers") < count:
            for worker in workers:
                if worker.poll() is not None:
                    raise RuntimeError(f"procrastinate worker exited: {lazy.tail(side.logs.get(worker.pid))}")
            if time.monotonic() > deadline:
                raise RuntimeError("procrastinate workers did not register in time")
            time.sleep(0.1)
        started = side.defer(WARMUP)
        side.wait_done(WARMUP, 120)
        warm_rate = WARMUP / max(0.001, time.time() - started)
        jobs = max(jobs, min(20_000, int(warm_rate * seconds)))
        committed = side.defer(jobs)
        side.wait_done(WARMUP + jobs, 600)
        last = side.query(
            "SELECT extract(epoch FROM max(at)) FROM procrastinate_events"
            f" WHERE type = 'succeeded' AND job_id > {WARMUP}"
        )
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
    seconds = float(last) - committed
    return {"workers": count, "jobs": jobs, "seconds": round(seconds, 2), "per_second": jobs / seconds}
