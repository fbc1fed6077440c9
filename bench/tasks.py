"""Django Tasks throughput: AutomateBackend versus django-tasks-db and Procrastinate, in one run.

Usage (from the repository root): ``python bench/tasks.py [--quick] [--tasks N] [--rounds R]``

No-op tasks per second with 1, 2 and 4 worker processes (one thread each), on a scratch
PostgreSQL database (``automate_bench_tasks``; ``AUTOMATE_BENCH_SCRATCH_DB`` to rename it):

- ``automate``: ``noop.enqueue(n)`` (``bench/tasks_app.py``) on ``AutomateBackend``, run by
  ``manage.py automate worker --concurrency 1`` processes;
- ``tasks-db``: the same task and the same ``enqueue()`` on django-tasks-db's
  ``DatabaseBackend`` (the database backend of Django's Tasks framework), run by its
  ``manage.py db_worker`` processes;
- ``procrastinate``: a no-op Procrastinate task (``bench/procrastinate_app.py``) deferred in
  one batch, run by ``procrastinate worker --concurrency 1`` processes, on a database of its own.

Each turn enqueues ``--tasks`` tasks in one transaction (not timed), then starts the workers
and waits until every task succeeded. The rate is tasks / (last task finished - first task
started), both read from the side's own table, so the workers' start-up (Python, Django,
imports) is not counted and nothing but the queue and the workers is. The sides and worker
counts take turns for ``--rounds`` rounds (the order rotates each round), so that load from
other processes weighs on all alike; each keeps its best turn, and the table divides ours by
the others'. django-tasks-db and Procrastinate are pip-installed on first use (``lazy.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import lazy

ROOT = lazy.ROOT
RESULTS = ROOT / "bench" / "results" / "tasks.json"
COUNTS = (1, 2, 4)
SIDES = ("automate", "tasks-db", "procrastinate")
DATABASE = os.environ.get("AUTOMATE_BENCH_SCRATCH_DB", "automate_bench_tasks")
#: Where each Django side stores its tasks: (table, started column, finished column, done status).
TABLES = {
    "automate": ("automate_taskresult", "started_at", "finished_at", "SUCCESSFUL"),
    "tasks-db": ("django_tasks_database_dbtaskresult", "started_at", "finished_at", "SUCCESSFUL"),
}
WORKER_COMMANDS = {
    "automate": ["automate", "worker", "--concurrency", "1"],
    "tasks-db": ["db_worker", "--no-startup-delay", "--no-reload"],
}


def configure() -> None:
    """Django set up against the scratch database (for Procrastinate's connection settings)."""
    os.environ["AUTOMATE_BENCH_DB"] = "postgres"
    os.environ["AUTOMATE_BENCH_DB_NAME"] = DATABASE
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    for path in (str(ROOT / "src"), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django

    django.setup()


def dsn(database: str) -> str:
    from django.db import connection

    settings = connection.settings_dict
    host, port, user = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432, settings["USER"] or "postgres"
    return f"host={host} port={port} user={user} dbname={database}"


def query(sql: str, database: str = DATABASE) -> Any:
    import psycopg

    with psycopg.connect(dsn(database), autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchone() if cursor.description else None


class DjangoSide:
    """AutomateBackend or django-tasks-db: the same task, enqueued the same way, on one scratch database."""

    def __init__(self, name: str, tasks_db: Path) -> None:
        self.name = name
        backend = "automate" if name == "automate" else "db"
        self.env = lazy.subprocess_env(
            tasks_db,
            DJANGO_SETTINGS_MODULE="bench.tasks_settings",
            AUTOMATE_BENCH_DB="postgres",
            AUTOMATE_BENCH_DB_NAME=DATABASE,
            AUTOMATE_BENCH_TASKS_BACKEND=backend,
        )
        self.logs: dict[int, IO[bytes]] = {}

    def manage(self, *args: str) -> subprocess.Popen[bytes]:
        log = lazy.log_file()
        process = subprocess.Popen(
            [sys.executable, "-m", "django", *args], cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=log
        )
        self.logs[process.pid] = log
        return process

    def empty(self) -> None:
        table = TABLES[self.name][0]
        extra = ", automate_outboxjob" if self.name == "automate" else ""
        query(f"TRUNCATE {table}{extra} RESTART IDENTITY CASCADE")

    def enqueue(self, tasks: int) -> None:
        command = [sys.executable, "-m", "bench.tasks_app", str(tasks)]
        subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, check=True)

    def start(self, count: int) -> list[subprocess.Popen[bytes]]:
        return [self.manage(*WORKER_COMMANDS[self.name]) for _ in range(count)]

    def done(self) -> int:
        table, _, _, status = TABLES[self.name]
        return int(query(f"SELECT count(*) FROM {table} WHERE status = '{status}'")[0])

    def span(self) -> float:
        table, started, finished, _ = TABLES[self.name]
        row = query(f"SELECT extract(epoch FROM max({finished}) - min({started})) FROM {table}")
        return float(row[0])


class ProcrastinateSide:
    """Procrastinate's no-op task on its own scratch database (``versus_procrastinate.Procrastinate``)."""

    name = "procrastinate"

    def __init__(self) -> None:
        import versus_procrastinate

        self.side = versus_procrastinate.Procrastinate()
        self.logs = self.side.logs

    def empty(self) -> None:
        tables = "procrastinate_jobs, procrastinate_events, procrastinate_workers"
        self.side.query(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")

    def enqueue(self, tasks: int) -> None:
        self.side.defer(tasks)

    def start(self, count: int) -> list[subprocess.Popen[bytes]]:
        return [self.side.cli("worker", "--concurrency", "1", "--queues", "bench") for _ in range(count)]

    def done(self) -> int:
        return int(self.side.query("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"))

    def span(self) -> float:
        return float(
            self.side.query(
                "SELECT extract(epoch FROM max(at) FILTER (WHERE type = 'succeeded')"
                " - min(at) FILTER (WHERE type = 'started')) FROM procrastinate_events"
            )
        )

    def drop(self) -> None:
        self.side.drop()


def turn(side: Any, count: int, tasks: int, timeout: float) -> dict[str, Any]:
    """Enqueue ``tasks`` (not timed), start ``count`` workers, wait for all; tasks/s from first start to last finish."""
    side.empty()
    side.enqueue(tasks)
    workers = side.start(count)
    try:
        deadline = time.monotonic() + timeout
        while side.done() < tasks:
            for worker in workers:
                if worker.poll() is not None:
                    raise RuntimeError(f"{side.name} worker exited: {lazy.tail(side.logs.get(worker.pid))}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{side.name}: {side.done()} of {tasks} tasks done after {timeout}s")
            time.sleep(0.1)
    finally:
        stop(workers)
    seconds = side.span()
    return {"workers": count, "tasks": tasks, "seconds": round(seconds, 3), "per_second": round(tasks / seconds, 1)}


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)


def create_database() -> None:
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")


def drop_database() -> None:
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def measure(tasks: int, rounds: int, timeout: float) -> dict[str, Any]:
    tasks_db = lazy.installed(lazy.TASKS_DB, "django-stubs-ext", "typing_extensions", no_deps=True)
    create_database()
    automate = DjangoSide("automate", tasks_db)
    migrate = automate.manage("migrate", "--verbosity", "0")
    if migrate.wait(300) != 0:
        raise RuntimeError(f"migrate failed: {lazy.tail(automate.logs[migrate.pid])}")
    procrastinate = ProcrastinateSide()
    sides = [automate, DjangoSide("tasks-db", tasks_db), procrastinate]
    turns: dict[str, dict[str, list[dict[str, Any]]]] = {side.name: {str(c): [] for c in COUNTS} for side in sides}
    try:
        for number in range(rounds):
            for count in COUNTS:
                order = sides[number % len(sides) :] + sides[: number % len(sides)]
                for side in order:
                    result = turn(side, count, tasks, timeout)
                    turns[side.name][str(count)].append(result)
                    label = f"round {number + 1}, {count} worker(s), {side.name}"
                    print(f"  {label}: {result['per_second']} tasks/s", flush=True)
    finally:
        procrastinate.drop()
        drop_database()
    best = {
        name: {count: max(results, key=lambda r: r["per_second"]) for count, results in by_count.items()}
        for name, by_count in turns.items()
    }
    return {"tasks": tasks, "rounds": rounds, "best": best, "turns": turns}


def ratios(best: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, float]]:
    ours = best["automate"]
    return {
        other: {count: round(ours[count]["per_second"] / best[other][count]["per_second"], 2) for count in ours}
        for other in ("tasks-db", "procrastinate")
    }


def table(result: dict[str, Any]) -> str:
    best, ratio = result["best"], result["ratios"]
    lines = [
        "| workers | AutomateBackend | django-tasks-db | Procrastinate | ours / tasks-db | ours / Procrastinate |",
        "|---|---|---|---|---|---|",
    ]
    for count in map(str, COUNTS):
        rates = [f"{best[name][count]['per_second']:,.0f}" for name in SIDES]
        lines.append(
            f"| {count} | {' | '.join(rates)} | {ratio['tasks-db'][count]:.2f} | {ratio['procrastinate'][count]:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 tasks a turn, 2 rounds (a few minutes, noisier)")
    parser.add_argument("--tasks", type=int, help="tasks per turn (default 2000; --quick 500)")
    parser.add_argument("--rounds", type=int, help="rounds of turns (default 3; --quick 2)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a turn may take")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    tasks = args.tasks or (500 if args.quick else 2000)
    rounds = args.rounds or (2 if args.quick else 3)
    configure()
    import django

    machine: dict[str, Any] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": str(query("SELECT version()", "postgres")[0]).split(" on ")[0],
        "versions": {
            "django-tasks-db": lazy.TASKS_DB.split("==")[1],
            "procrastinate": lazy.PROCRASTINATE.split("==")[1],
        },
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"{tasks} no-op tasks a turn, {rounds} round(s), workers {COUNTS} …", flush=True)
    result = measure(tasks, rounds, args.timeout)
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result = {"machine": machine, **result, "ratios": ratios(result["best"])}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(result))
    print(
        f"\nload average before {machine['load_average_before']}, after {machine['load_average_after']}"
        f" ({machine['cpus']} CPUs); results in {args.output}"
    )


if __name__ == "__main__":
    main()
