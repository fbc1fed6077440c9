"""Benchmark the execution plane: pipeline throughput, latency, idle load, and the claim ceiling.

Usage (from the repository root): ``python bench/run.py [--db postgres|mysql] [--quick] [--check]``

Creates a scratch database ``automate_bench_pipeline`` on the server the test suite uses
(``AUTOMATE_BENCH_DB`` or ``--db``; PostgreSQL by default), measures, drops it, prints a table
and writes ``bench/results/pipeline.json``. In one run, on one server:

1. claim+complete jobs/s with 1 and 4 clients: our ``claim_one()`` + fenced ``complete()``
   versus the same two statements in a tight psycopg loop and in pgbench (the ceiling);
2. no-op workflow executions/s with 1 and 4 worker processes, also as a share of that ceiling;
3. three-step workflow latency (event stored -> first step started / run succeeded);
4. idle load: transactions/s per idle worker;
5. a profile of one in-process worker: time and queries per execution, hot spots.

About three minutes on a 2-core machine (``--quick``: under a minute, noisier). Numbers vary
between runs by ±20 % and more on a loaded machine (the load average is recorded); compare
the ratios, which are measured side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "pipeline.json"
PER_EXECUTION = 4  # two jobs, and about three times the transactions of a bare claim+complete
CLAIM_ORDER = "status, queue, priority DESC, available_at, id"  # the claim's WHERE and ORDER BY
TARGETS = {
    "pipeline_share_of_pgbench": 0.30,
    "first_step_p50_ms": 15.0,
    "first_step_p99_ms": 100.0,
    "three_step_p50_ms": 50.0,
    "idle_per_worker_per_second": 1.0,
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


def run(args: argparse.Namespace) -> dict[str, Any]:
    import claims
    import hotspots
    import pipeline

    result: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "database": server_version(),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
        },
        "experiment_claim_index": args.claim_index,
    }
    print("claim+complete ceiling …", flush=True)
    ceiling = claims.measure([1, 4], args.claim_seconds, args.claim_rows, args.rounds)
    result["claim_complete_jobs_per_second"] = ceiling
    # Batches sized to last about --seconds: an execution costs about as much as PER_EXECUTION claims.
    events_1 = args.events_1 or sized(ceiling["1"]["ours"] / PER_EXECUTION * args.seconds)
    events_4 = args.events_4 or sized(ceiling["4"]["ours"] / PER_EXECUTION * args.seconds)
    print(f"pipeline with 1 worker ({events_1} events) …", flush=True)
    one = pipeline.Workers(1)
    try:
        result["throughput_1"] = pipeline.throughput(one, events_1)
    finally:
        one.stop()
    print(f"pipeline with 4 workers ({events_4} events), latency, idle load …", flush=True)
    four = pipeline.Workers(4)
    try:
        result["throughput_4"] = pipeline.throughput(four, events_4)
        result["latency"] = pipeline.latency(four, args.seconds, args.latency_rate)
        result["idle"] = pipeline.idle_load(four, args.idle_seconds)
    finally:
        four.stop()
    profile_events = args.profile_events or sized(ceiling["1"]["ours"] / PER_EXECUTION * args.seconds / 4, high=200)
    print(f"profiling one worker ({profile_events} events) …", flush=True)
    result["profile"] = hotspots.profile(profile_events)
    result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["ratios"] = ratios(result)
    result["targets"] = targets(result)
    return result


def sized(value: float | None, low: int = 30, high: int = 5000) -> int:
    return max(low, min(high, int(value or 0)))


def ratios(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for clients, row in result["claim_complete_jobs_per_second"].items():
        ceiling = row.get("pgbench") or row.get("psycopg") or row.get("mysql")
        for name, value in row.items():
            if name not in ("ours", "commits") and value:
                out[f"claims_ours_over_{name}_{clients}"] = round(row["ours"] / value, 3)
        throughput = result.get(f"throughput_{clients}")
        if throughput and ceiling:
            # Each execution is two jobs (route_event, execute_run) claimed and completed.
            out[f"pipeline_executions_over_ceiling_{clients}"] = round(throughput["per_second"] / ceiling, 3)
    return out


def targets(result: dict[str, Any]) -> dict[str, Any]:
    latency = result["latency"]
    checks = {
        "pipeline_share_of_pgbench": min(
            (v for k, v in result["ratios"].items() if k.startswith("pipeline_executions_over_ceiling")), default=0
        ),
        "first_step_p50_ms": latency["to_first_step_started"]["p50_ms"],
        "first_step_p99_ms": latency["to_first_step_started"]["p99_ms"],
        "three_step_p50_ms": latency["to_run_succeeded"]["p50_ms"],
        "idle_per_worker_per_second": result["idle"].get("per_worker_per_second"),
    }
    out = {}
    for name, value in checks.items():
        goal = TARGETS[name]
        passed = None if value is None else (value >= goal if name.startswith("pipeline") else value <= goal)
        out[name] = {"value": value, "target": goal, "passed": passed}
    return out


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    return f"{value}{unit}"


def report(result: dict[str, Any]) -> None:
    machine = result["machine"]
    print(f"\n{machine['database']}; {machine['cpus']} CPUs; Python {machine['python']}; {machine['platform']}")
    print(f"load average before/after: {machine['load_average_before']} / {machine['load_average_after']}")
    if result["experiment_claim_index"]:
        print(f"experiment: automate_outboxjob has an extra index ({CLAIM_ORDER})")
    print()
    columns = [("ours", "ours"), ("psycopg", "psycopg"), ("mysql", "mysql"), ("pgbench", "pgbench")]
    columns += [("pgbench_indexed", "+index"), ("commits", "commits")]
    print(f"{'per second':<24}" + "".join(f"{label:>10}" for _, label in columns) + f"{'ours/pgbench':>14}")
    for clients, row in result["claim_complete_jobs_per_second"].items():
        ceiling = row.get("pgbench") or row.get("psycopg") or row.get("mysql")
        share = f"{row['ours'] / ceiling:.0%}" if ceiling else "n/a"
        cells = "".join(f"{fmt(row.get(key)):>10}" for key, _ in columns)
        print(f"{f'  claim+complete, {clients} cl.':<24}{cells}{share:>14}")
    print(f"\n{'no-op workflow executions/s':<34}{'events':>10}{'seconds':>10}{'exec/s':>10}{'/ceiling':>10}")
    for clients in ("1", "4"):
        row = result[f"throughput_{clients}"]
        share = result["ratios"].get(f"pipeline_executions_over_ceiling_{clients}")
        print(
            f"{f'  {clients} worker(s)':<34}{row['events']:>10}{row['seconds']:>10}{fmt(row['per_second']):>10}"
            f"{(f'{share:.0%}' if share is not None else 'n/a'):>10}"
        )
    latency = result["latency"]
    print(
        f"\n3-step workflow latency ({latency['webhooks']} webhooks, {latency['mode']}, "
        f"{latency['workers']} workers){'p50':>10}{'p95':>10}{'p99':>10}"
    )
    for name in ("webhook_response", "to_first_step_started", "to_run_succeeded"):
        row = latency[name]
        label = {"webhook_response": "  POST answered (202)", "to_first_step_started": "  stored -> first step started"}
        text = label.get(name, "  stored -> run succeeded")
        print(
            f"{text:<64}{fmt(row['p50_ms'], ' ms'):>10}{fmt(row['p95_ms'], ' ms'):>10}{fmt(row['p99_ms'], ' ms'):>10}"
        )
    idle = result["idle"]
    print(
        f"\nidle: {idle['workers']} workers commit {fmt(idle.get('transactions_per_second'))} transactions/s "
        f"({fmt(idle.get('per_worker_per_second'))} per worker)"
    )
    profile = result["profile"]
    print(
        f"\nprofile (1 in-process worker, {profile['events']} executions): {profile['ms_per_execution']} ms, "
        f"{profile['statements_per_execution']} statements and {profile['commits_per_execution']} commits per "
        f"execution; {profile['database_share']:.0%} of the time waiting for the database"
    )
    for text, count in profile["query_shapes_per_execution"].items():
        print(f"  {count:>5} x {text}")
    print("  hot spots under cProfile (own time per execution):")
    for row in profile["top_own_time"][:8]:
        print(f"    {row['own_ms_per_execution']:>7.3f} ms  {row['function']}")
    print("\ntargets:")
    for name, row in result["targets"].items():
        verdict = {True: "PASS", False: "MISS", None: "n/a"}[row["passed"]]
        print(f"  {verdict:<5}{name}: {fmt(row['value'])} (target {row['target']})")


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
    parser.add_argument("--events-4", type=int, help="events for 4 workers (default: sized by --seconds)")
    parser.add_argument("--latency-rate", type=float, help="webhooks/s (default: one at a time)")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--profile-events", type=int)
    parser.add_argument(
        "--claim-index",
        action="store_true",
        help=f"experiment: add an index ({CLAIM_ORDER}) to automate_outboxjob in the scratch database",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.claim_seconds, args.claim_rows, args.rounds, args.idle_seconds = 6.0, 2.0, 20_000, 1, 5.0
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
    report(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"\nresults written to {shown} ({result['wall_seconds']} s)")
    missed = [name for name, row in result["targets"].items() if row["passed"] is False]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
