"""Benchmark ingestion and the execution plane, each against a baseline measured in the same run.

Usage (from the repository root): ``python bench/run.py [--db postgres|mysql] [--quick] [--check]``

Creates a scratch database ``automate_bench_pipeline`` on the server the test suite uses
(``AUTOMATE_BENCH_DB`` or ``--db``; PostgreSQL by default), measures, drops it, prints a
Markdown table and writes ``bench/results/pipeline.json``. In one run, on one server:

1. ingest under gunicorn: webhook requests/s and latency versus a minimal one-INSERT view;
2. claim+complete jobs/s with 1, 2 and 4 clients: our ``claim_one()`` + fenced ``complete()``
   versus the same two statements in a tight psycopg loop and in pgbench (the ceiling);
3. no-op workflow executions/s with 1, 2 and 4 worker processes, versus Procrastinate no-op
   jobs/s with as many worker processes, and as a share of the pgbench ceiling;
4. three-step workflow latency at half the maximum rate measured in 3;
5. idle load: transactions/s per idle worker;
6. a profile of one in-process worker: time and queries per execution, hot spots;
7. memory: one worker's RSS after 1,000 events and after ``--rss-events``.

gunicorn and Procrastinate are pip-installed on first use (``lazy.py``). About 13 minutes on
a 2-core machine (``--quick``: about 3, noisier). Numbers vary between runs by ±20 % and more
on a loaded machine (the load average is recorded); compare the ratios, which are measured
side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "pipeline.json"
PER_EXECUTION = 4  # two jobs, and about three times the transactions of a bare claim+complete
DEFAULT_CLAIMS_PER_SECOND = 1000.0  # batch sizes when the claim phase failed
CLAIM_ORDER = "status, queue, priority DESC, available_at, id"  # the claim's WHERE and ORDER BY
COUNTS = (1, 2, 4)  # worker processes (and claim clients) compared
# name: (goal, "≥" or "≤"; "<" for memory growth)
TARGETS = {
    "ingest_webhook_over_minimal_view": (0.8, "≥"),
    "pipeline_over_procrastinate": (1.0, "≥"),
    "pipeline_share_of_pgbench": (0.30, "≥"),
    "first_step_p50_ms": (15.0, "≤"),
    "first_step_p99_ms": (100.0, "≤"),
    "three_step_p50_ms": (50.0, "≤"),
    "idle_per_worker_per_second": (1.0, "≤"),
    "worker_rss_growth": (0.10, "<"),
}


def configure(db: str) -> None:
    os.environ["AUTOMATE_BENCH_DB"] = db
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    for path in (str(ROOT / "src"), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django

    django.setup()


def server_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        return str(cursor.fetchone()[0]).split(" on ")[0]


def memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def purge_jobs() -> None:
    """Drop the routing jobs that the ingest phase left (no worker ran then), so no later phase inherits them."""
    import claims

    claims.empty_job_table()


def run(args: argparse.Namespace) -> dict[str, Any]:
    import claims
    import hotspots
    import ingest
    import pipeline
    import versus_procrastinate

    result: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "memory_gib": memory_gib(),
            "python": platform.python_version(),
            "database": server_version(),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
        },
        "experiment_claim_index": args.claim_index,
    }
    print(f"ingest under gunicorn ({args.ingest_workers} workers, {args.ingest_clients} clients) …", flush=True)
    result["ingest"] = phase(
        result,
        "ingest",
        ingest.measure,
        args.ingest_workers,
        args.ingest_clients,
        args.ingest_warmup,
        args.ingest_seconds,
        args.rounds,
    )
    purge_jobs()
    print("claim+complete ceiling …", flush=True)
    ceiling = phase(result, "claims", claims.measure, list(COUNTS), args.claim_seconds, args.claim_rows, args.rounds)
    result["claim_complete_jobs_per_second"] = ceiling
    side = versus_procrastinate.Procrastinate() if args.db == "postgres" else None
    try:
        for count in COUNTS:
            # Batches sized to last about --seconds: an execution costs about PER_EXECUTION claims.
            claims_per_second = ((ceiling or {}).get(str(count)) or {}).get("ours") or DEFAULT_CLAIMS_PER_SECOND
            events = getattr(args, f"events_{count}") or sized(claims_per_second / PER_EXECUTION * args.seconds)
            print(f"pipeline with {count} worker(s) ({events} events) …", flush=True)
            pool = pipeline.Workers(count)
            try:
                result[f"throughput_{count}"] = phase(result, f"throughput_{count}", pipeline.throughput, pool, events)
                if count == COUNTS[-1]:
                    latency_phases(result, pipeline, pool, args)
            finally:
                pool.stop()
            if side is not None:
                print(f"Procrastinate with {count} worker(s) …", flush=True)
                result[f"procrastinate_{count}"] = phase(
                    result, f"procrastinate_{count}", versus_procrastinate.throughput, side, count, events, args.seconds
                )
    finally:
        if side is not None:
            side.drop()
    ours_1 = ((ceiling or {}).get("1") or {}).get("ours") or DEFAULT_CLAIMS_PER_SECOND
    profile_events = args.profile_events or sized(ours_1 / PER_EXECUTION * args.seconds / 4, high=200)
    print(f"profiling one worker ({profile_events} events) …", flush=True)
    result["profile"] = phase(result, "profile", hotspots.profile, profile_events)
    first = min(1000, args.rss_events // 10)
    budget = f", at most {args.rss_seconds:.0f} s" if args.rss_seconds else ""
    print(f"memory of one worker ({first} then {args.rss_events} events{budget}) …", flush=True)
    result["memory"] = phase(result, "memory", pipeline.memory, args.rss_events, first, args.rss_seconds)
    result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["ratios"] = ratios(result)
    result["targets"] = targets(result)
    return result


def phase(result: dict[str, Any], name: str, measure: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``measure(*args, **kwargs)``: one phase; a phase that fails is reported (``failed_phases``), the others go on."""
    try:
        return measure(*args, **kwargs)
    except Exception as exc:
        traceback.print_exc()
        result.setdefault("failed_phases", {})[name] = f"{type(exc).__name__}: {exc}"
        print(f"phase {name} failed: {type(exc).__name__}: {exc}; going on with the others", flush=True)
        return None


def latency_phases(result: dict[str, Any], pipeline: Any, pool: Any, args: argparse.Namespace) -> None:
    """With the most workers: 3-step throughput, latency at half its maximum and one at a time, idle load."""
    top = result.get(f"throughput_{COUNTS[-1]}") or {}
    # Half the maximum rate of the workload whose latency is measured: three-step runs.
    three = sized((top.get("per_second") or 0) / 2 * args.seconds)
    print(f"pipeline with {COUNTS[-1]} worker(s), 3-step workflow ({three} events) …", flush=True)
    result["throughput_3step"] = phase(result, "throughput_3step", pipeline.throughput, pool, three, steps=3)
    measured = (result["throughput_3step"] or {}).get("per_second") or 0
    rate = measured / 2 if args.latency_rate is None else args.latency_rate
    print(f"latency at {rate:.1f} webhooks/s, idle load …", flush=True)
    result["latency"] = phase(result, "latency", pipeline.latency, pool, args.seconds, rate or None)
    print("latency one webhook at a time …", flush=True)
    result["latency_serial"] = phase(result, "latency_serial", pipeline.latency, pool, args.seconds, None)
    result["idle"] = phase(result, "idle", pipeline.idle_load, pool, args.idle_seconds)


def sized(value: float | None, low: int = 30, high: int = 5000) -> int:
    return max(low, min(high, int(value or 0)))


def ratios(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for clients, row in (result.get("claim_complete_jobs_per_second") or {}).items():
        ceiling = row.get("pgbench") or row.get("psycopg") or row.get("mysql")
        for name, value in row.items():
            if name not in ("ours", "commits") and value:
                out[f"claims_ours_over_{name}_{clients}"] = round(row["ours"] / value, 3)
        throughput = result.get(f"throughput_{clients}")
        if throughput and ceiling:
            # Each execution is two jobs (route_event, execute_run) claimed and completed.
            out[f"pipeline_executions_over_ceiling_{clients}"] = round(throughput["per_second"] / ceiling, 3)
    for count in COUNTS:
        throughput, theirs = result.get(f"throughput_{count}"), result.get(f"procrastinate_{count}")
        if throughput and theirs:
            out[f"pipeline_over_procrastinate_{count}"] = round(throughput["per_second"] / theirs["per_second"], 3)
    return out


def lowest(ratios: dict[str, Any], prefix: str) -> float | None:
    return min((value for key, value in ratios.items() if key.startswith(prefix)), default=None)


def targets(result: dict[str, Any]) -> dict[str, Any]:
    latency, memory = result.get("latency") or {}, result.get("memory") or {}
    first_step, succeeded = latency.get("to_first_step_started") or {}, latency.get("to_run_succeeded") or {}
    checks = {
        "ingest_webhook_over_minimal_view": (result.get("ingest") or {}).get("ratio"),
        "pipeline_over_procrastinate": lowest(result["ratios"], "pipeline_over_procrastinate"),
        "pipeline_share_of_pgbench": lowest(result["ratios"], "pipeline_executions_over_ceiling"),
        "first_step_p50_ms": first_step.get("p50_ms"),
        "first_step_p99_ms": first_step.get("p99_ms"),
        "three_step_p50_ms": succeeded.get("p50_ms"),
        "idle_per_worker_per_second": (result.get("idle") or {}).get("per_worker_per_second"),
        "worker_rss_growth": memory.get("growth"),
    }
    out = {}
    for name, value in checks.items():
        goal, op = TARGETS[name]
        passed = None if value is None else {"≥": value >= goal, "≤": value <= goal, "<": value < goal}[op]
        row = {"value": value, "target": goal, "op": op, "passed": passed}
        if name == "worker_rss_growth" and memory:
            first, last = memory["readings"]
            row["note"] = f"{first['events']:,} → {last['events']:,} events"
            if not memory["complete"]:
                row["passed"] = None  # the time budget ran out first: not the measurement the target is about
        out[name] = row
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["postgres", "mysql"], default=os.environ.get("AUTOMATE_BENCH_DB", "postgres"))
    parser.add_argument("--quick", action="store_true", help="smaller batches and shorter windows")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--seconds", type=float, default=20.0, help="target length of each pipeline phase")
    parser.add_argument("--claim-seconds", type=float, default=5.0)
    parser.add_argument("--claim-rows", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=2, help="turns each claim side takes (best one counts)")
    parser.add_argument("--events-1", type=int, help="events for 1 worker (default: sized by --seconds)")
    parser.add_argument("--events-2", type=int, help="events for 2 workers (default: sized by --seconds)")
    parser.add_argument("--events-4", type=int, help="events for 4 workers (default: sized by --seconds)")
    parser.add_argument(
        "--latency-rate", type=float, help="webhooks/s (default: half the maximum measured; 0: one at a time)"
    )
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--profile-events", type=int)
    workers = 2 * (os.cpu_count() or 1)
    parser.add_argument("--ingest-workers", type=int, default=workers, help="gunicorn sync workers (2 x CPUs)")
    parser.add_argument("--ingest-clients", type=int, help="concurrent HTTP clients (default: as many as workers)")
    parser.add_argument("--ingest-seconds", type=float, default=10.0, help="measured window of each ingest turn")
    parser.add_argument("--ingest-warmup", type=float, default=2.0, help="unmeasured start of each ingest turn")
    parser.add_argument("--rss-events", type=int, default=100_000, help="events one worker executes for the RSS")
    parser.add_argument(
        "--rss-seconds", type=float, default=300.0, help="time budget of the RSS phase after the first 1,000 (0: none)"
    )
    parser.add_argument(
        "--claim-index",
        action="store_true",
        help=f"experiment: add an index ({CLAIM_ORDER}) to automate_outboxjob in the scratch database",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.claim_seconds, args.claim_rows, args.rounds, args.idle_seconds = 6.0, 2.0, 20_000, 1, 5.0
        args.ingest_seconds, args.ingest_warmup, args.rss_events, args.rss_seconds = 4.0, 1.0, 1000, 60.0
    args.ingest_clients = args.ingest_clients or args.ingest_workers
    configure(args.db)
    # Stopped with SIGTERM: still stop the workers and drop the scratch database (the finally blocks).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))

    from django.db import connection

    started = time.monotonic()
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    os.environ["AUTOMATE_BENCH_DB_NAME"] = test_name  # for the workers and clients this run starts
    if args.claim_index:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE INDEX bench_claim_order ON automate_outboxjob ({CLAIM_ORDER})")
    try:
        result = run(args)
    finally:
        connection.creation.destroy_test_db(test_name, verbosity=0)
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    import report

    print("\n" + "\n".join(report.lines(result)))
    if result.get("profile"):
        print("\n" + "\n".join(report.detail_lines(result["profile"])))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"\nresults written to {shown} ({result['wall_seconds']} s)")
    missed = [name for name, row in result["targets"].items() if row["passed"] is False]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
