"""Claim+complete per second: django-automate's own claim and fenced completion versus raw SQL.

Every side does the same work per job, on a table of the same shape (``bench_claims`` is
created ``LIKE automate_outboxjob INCLUDING ALL``, so it has the same columns and indexes):

- one transaction that claims the oldest ready job with ``FOR UPDATE SKIP LOCKED`` and sets a
  fresh lease token, then
- one transaction that completes it, conditional on that token and an unexpired lease.

``ours`` runs ``claim_one()`` and ``lease.complete()`` through Django; ``psycopg`` is a tight
loop of the two statements with prepared statements; ``pgbench`` runs them from pgbench
itself (``-M prepared``), when it is installed. On MySQL/MariaDB the raw loop uses mysqlclient.
Each client is a process of its own, started before the clock starts. ``pgbench_indexed`` is
pgbench on a copy of the table with one more index, ordered like the claim's ``ORDER BY``
(``automate_job_claim_idx`` is not, so every claim sorts all ready jobs of its queue).
``commits`` (pgbench, one single-row insert per transaction) shows what a commit costs on
this server right now.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from typing import Any

QUEUE = "bench-claims"
COLUMNS = (
    "tenant, kind, queue, priority, status, attempts, available_at, leased_by, trace_id, step_id,"
    " created_at, updated_at"
)

PG_CLAIM = """UPDATE {table} SET status = 'claimed', lease_token = gen_random_uuid(), leased_by = 'bench',
  lease_expires_at = now() + interval '60 seconds', attempts = attempts + 1, updated_at = now()
WHERE id = (SELECT id FROM {table} WHERE status = 'ready' AND queue = '{queue}' AND available_at <= now()
  ORDER BY priority DESC, available_at, id FOR UPDATE SKIP LOCKED LIMIT 1)
RETURNING id, lease_token"""
PG_COMPLETE = """UPDATE {table} SET status = 'done', lease_token = NULL, lease_expires_at = NULL,
  finished_at = now(), updated_at = now()
WHERE id = {id} AND lease_token = {token} AND status = 'claimed' AND lease_expires_at > now()"""

MY_SELECT = """SELECT id FROM bench_claims WHERE status = 'ready' AND queue = %s AND available_at <= NOW(6)
ORDER BY priority DESC, available_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"""
MY_CLAIM = """UPDATE bench_claims SET status = 'claimed', lease_token = %s, leased_by = 'bench',
  lease_expires_at = NOW(6) + INTERVAL 60 SECOND, attempts = attempts + 1, updated_at = NOW(6) WHERE id = %s"""
MY_COMPLETE = """UPDATE bench_claims SET status = 'done', lease_token = NULL, lease_expires_at = NULL,
  finished_at = NOW(6), updated_at = NOW(6)
WHERE id = %s AND lease_token = %s AND status = 'claimed' AND lease_expires_at > NOW(6)"""


def fill(table: str, count: int, queue: str) -> None:
    """Replace the rows of ``table`` in ``queue`` with ``count`` ready jobs."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE queue = %s", [queue])
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} ({COLUMNS}) SELECT '', 'route_event', %s, 0, 'ready', 0, "
                "now() - interval '1 second', '', '', '', now(), now() FROM generate_series(1, %s)",
                [queue, count],
            )
            cursor.execute(f"VACUUM ANALYZE {table}")
        else:
            rows = [("", "route_event", queue, 0, "ready", 0, "", "", "") for _ in range(count)]
            for start in range(0, count, 5000):
                cursor.executemany(
                    f"INSERT INTO {table} ({COLUMNS}) VALUES "
                    "(%s, %s, %s, %s, %s, %s, NOW(6) - INTERVAL 1 SECOND, %s, %s, %s, NOW(6), NOW(6))",
                    rows[start : start + 5000],
                )
            cursor.execute(f"ANALYZE TABLE {table}")


def empty_job_table() -> None:
    """Leave ``automate_outboxjob`` empty, as on a fresh install (and as Procrastinate's table starts each phase).

    ``TRUNCATE``, not ``DELETE`` and ``VACUUM ANALYZE``: statistics that record an emptied table
    (zero rows over its pages) make PostgreSQL estimate zero rows however many arrive next, so it
    plans sequential scans for every claim until autovacuum analyzes the table again, up to a
    minute into the next phase (see docs/scaling.md). A truncated table has no statistics, and
    the planner sizes it by its pages.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE TABLE automate_outboxjob CASCADE")  # and the task results referring to jobs


def create_scratch_table() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_claims")
        if connection.vendor == "postgresql":
            cursor.execute("CREATE TABLE bench_claims (LIKE automate_outboxjob INCLUDING ALL)")
            # The same table plus an index whose order matches the claim's ORDER BY (no sort per claim).
            cursor.execute("DROP TABLE IF EXISTS bench_claims_indexed")
            cursor.execute("CREATE TABLE bench_claims_indexed (LIKE automate_outboxjob INCLUDING ALL)")
            cursor.execute(
                "CREATE INDEX bench_claims_indexed_order ON bench_claims_indexed "
                "(status, queue, priority DESC, available_at, id)"
            )
            cursor.execute("DROP TABLE IF EXISTS bench_commits")
            cursor.execute("CREATE TABLE bench_commits (id bigserial PRIMARY KEY, v integer)")
        else:
            cursor.execute("CREATE TABLE bench_claims LIKE automate_outboxjob")


# -- client processes ----------------------------------------------------------------------------
def _ours(seconds: float, go: Any, results: Any) -> None:
    from django.db import transaction

    from django_automate.outbox import lease
    from django_automate.outbox.claim import claim_one

    worker = f"bench:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    claim_one(worker_id=worker, queues=["no-such-queue"])  # connect before the clock starts
    go.wait()
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = claim_one(worker_id=worker, queues=[QUEUE])
        if job is None:
            break
        with transaction.atomic():
            lease.complete(job)
        done += 1
    results.put(done)


def _psycopg(seconds: float, go: Any, results: Any) -> None:
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params["prepare_threshold"] = 0  # prepared statements from the first execution, like pgbench -M prepared
    conn = psycopg.connect(**params, autocommit=True)
    claim = PG_CLAIM.format(table="bench_claims", queue=QUEUE)
    complete = PG_COMPLETE.format(table="bench_claims", id="%s", token="%s")
    go.wait()
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        row = conn.execute(claim).fetchone()
        if row is None:
            break
        conn.execute(complete, row)
        done += 1
    results.put(done)


def _mysql(seconds: float, go: Any, results: Any) -> None:
    import MySQLdb
    from django.db import connection

    conn = MySQLdb.connect(**connection.get_connection_params())
    conn.autocommit(False)
    cursor = conn.cursor()
    go.wait()
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        cursor.execute(MY_SELECT, [QUEUE])
        row = cursor.fetchone()
        if row is None:
            break
        token = uuid.uuid4().hex
        cursor.execute(MY_CLAIM, [token, row[0]])
        conn.commit()
        cursor.execute(MY_COMPLETE, [row[0], token])
        conn.commit()
        done += 1
    results.put(done)


def _child(target: str, seconds: float, go: Any, results: Any, ready: Any) -> None:
    import django

    django.setup()
    ready.put(True)
    {"ours": _ours, "psycopg": _psycopg, "mysql": _mysql}[target](seconds, go, results)


def _collect(queue: Any, processes: list[Any], timeout: float) -> list[Any]:
    """One item from each process; a process that died instead is an error, not a long wait."""
    import queue as queues

    items: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(items) < len(processes):
        try:
            items.append(queue.get(timeout=0.5))
        except queues.Empty:
            if any(process.exitcode not in (None, 0) for process in processes) or time.monotonic() > deadline:
                for process in processes:
                    process.kill()
                raise RuntimeError("a benchmark client failed (see its traceback above)") from None
    return items


def clients(target: str, concurrency: int, seconds: float) -> float:
    """Jobs claimed and completed per second by ``concurrency`` client processes of ``target``."""
    context = multiprocessing.get_context("spawn")
    go, results, ready = context.Event(), context.Queue(), context.Queue()
    processes = [
        context.Process(target=_child, args=(target, seconds, go, results, ready), daemon=True)
        for _ in range(concurrency)
    ]
    for process in processes:
        process.start()
    _collect(ready, processes, 120)
    time.sleep(0.5)  # let every client finish connecting
    started = time.monotonic()
    go.set()
    total = sum(_collect(results, processes, seconds + 120))
    elapsed = time.monotonic() - started
    for process in processes:
        process.join(30)
    return total / elapsed


def pgbench(concurrency: int, seconds: float, script: str) -> float | None:
    """Transactions (script runs) per second of ``script`` from pgbench; ``None`` without pgbench."""
    from django.db import connection

    binary = shutil.which("pgbench")
    if binary is None or connection.vendor != "postgresql":
        return None
    settings = connection.settings_dict
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    try:
        command = [binary, "-n", "-M", "prepared", "-c", str(concurrency), "-j", str(concurrency)]
        command += ["-T", str(max(1, round(seconds))), "-f", handle.name]
        command += ["-h", settings["HOST"] or "127.0.0.1", "-p", str(settings["PORT"] or 5432)]
        command += ["-U", settings["USER"] or "postgres", settings["NAME"]]
        result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    finally:
        os.unlink(handle.name)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout)
    if match is None:
        raise RuntimeError(f"pgbench failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    return float(match.group(1))


def claim_complete_script(table: str) -> str:
    return (
        PG_CLAIM.format(table=table, queue=QUEUE).replace("\n", " ")
        + " \\gset\n"
        + PG_COMPLETE.format(table=table, id=":id", token=":lease_token").replace("\n", " ")
        + ";\n"
    )


PGBENCH_COMMIT = "INSERT INTO bench_commits (v) VALUES (1);\n"


def measure(concurrencies: list[int], seconds: float, rows: int, rounds: int) -> dict[str, dict[str, float | None]]:
    """``{"1": {"ours": …, "psycopg": …, "pgbench": …, "commits": …}, "4": {…}}`` per second.

    The sides take turns, ``rounds`` times, and each keeps its best round: on a shared machine
    that is the fairest reading. ``commits`` is pgbench's single-row insert commits/s, for scale.
    """
    from django.db import connection

    create_scratch_table()
    postgres = connection.vendor == "postgresql"
    sides = ["ours", "psycopg" if postgres else "mysql"]
    if postgres:
        sides += ["pgbench", "pgbench_indexed", "commits"]
    tables = {"ours": "automate_outboxjob", "pgbench_indexed": "bench_claims_indexed"}
    scripts = {
        "pgbench": claim_complete_script("bench_claims"),
        "pgbench_indexed": claim_complete_script("bench_claims_indexed"),
        "commits": PGBENCH_COMMIT,
    }
    results: dict[str, dict[str, float | None]] = {}
    for concurrency in concurrencies:
        row: dict[str, float | None] = {}
        for _ in range(rounds):
            for side in sides:
                fill(tables.get(side, "bench_claims"), rows, QUEUE)
                if side in scripts:
                    value = pgbench(concurrency, seconds, scripts[side])
                else:
                    value = clients(side, concurrency, seconds)
                row[side] = value if row.get(side) is None else max(row[side] or 0.0, value or 0.0)
        results[str(concurrency)] = row
    empty_job_table()
    with connection.cursor() as cursor:
        for table in ("bench_claims", "bench_claims_indexed", "bench_commits"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
    return results
