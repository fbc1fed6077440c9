"""Benchmark the admin dashboard (``/admin/automate/dashboard/``) over a large history on PostgreSQL.

Usage: ``python bench/dashboard.py [--events N] [--runs N] [--requests N]``

Seeds a scratch database (``test_automate_bench_dashboard`` on 127.0.0.1, created and dropped
here) with ``--events`` events received over the last 7 days and ``--runs`` runs of 20
workflows finished over the same days (90 % succeeded, 7 % failed, 2 % cancelled, 1 % still
pending, running or waiting; log-normal-ish durations from 5 ms to a minute), plus an outbox
backlog and dead letters, all with ``INSERT … SELECT generate_series`` so a million rows take
seconds, not hours. Then, per window (1h, 24h, 7d), it requests the page as a superuser
through Django's test client:

- once cold: the first view rolls up the window's settled buckets (``MetricRollup``);
- ``--requests`` times warm, printing p50/p95 and the queries of one request;
- ``--requests`` calls of the figures alone (``observability.dashboard.build``), p50.

Exits non-zero unless every warm p95 is at most 500 ms and the query count is the same for
every window. Results go to ``bench/results/dashboard.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "dashboard.json"
TARGET_MS = 500.0
WORKFLOWS = 20
WINDOWS = ("1h", "24h", "7d")
sys.path.insert(0, str(ROOT / "src"))

urlpatterns: list[Any] = []


def configure() -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        TIME_ZONE="UTC",
        SECRET_KEY="bench-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django_automate",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "postgres",
                "USER": os.environ.get("PGUSER", "postgres"),
                "HOST": os.environ.get("PGHOST", "127.0.0.1"),
                "PORT": os.environ.get("PGPORT", "5432"),
                "TEST": {"NAME": "test_automate_bench_dashboard"},
            }
        },
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.contrib import admin
    from django.urls import path

    urlpatterns.append(path("admin/", admin.site.urls))


# -- data set ------------------------------------------------------------------------------------
EVENTS_SQL = """
INSERT INTO automate_event (id, tenant, source, type, idempotency_key, body_sha256, payload, headers, trace_id,
                            status, received_at)
SELECT gen_random_uuid(), '', 'app', 'order.created', 'bench-' || g, '', '{}'::jsonb, '{}'::jsonb, '',
       'routed', now() - random() * interval '7 days'
FROM generate_series(1, %s) AS g
"""
# Each workflow's runs hang off one carrier event (the unique key is event, workflow, replay_seq).
RUNS_SQL = """
INSERT INTO automate_executionrun (id, tenant, event_id, workflow_id, workflow_version_id, status, replay_seq,
                                   trace_id, created_at, started_at, finished_at, waiting_until, concurrency_key)
SELECT gen_random_uuid(), '', w.event_id, w.workflow_id, w.version_id, s.status, s.g, '',
       s.finished - s.duration, CASE WHEN s.never_started THEN NULL ELSE s.finished - s.duration END,
       CASE WHEN s.status IN ('pending', 'running', 'waiting') THEN NULL ELSE s.finished END,
       CASE WHEN s.status = 'waiting' THEN now() + interval '1 hour' END, ''
FROM (
  SELECT g, g %% %s AS slot, now() - random() * interval '7 days' AS finished,
         interval '1 millisecond' * (5 * exp(random() * ln(12000))) AS duration,
         random() < 0.01 AS never_started,
         CASE WHEN r < 0.90 THEN 'succeeded' WHEN r < 0.97 THEN 'failed' WHEN r < 0.99 THEN 'cancelled'
              WHEN r < 0.995 THEN 'waiting' WHEN r < 0.998 THEN 'running' ELSE 'pending' END AS status
  FROM (SELECT g, random() AS r FROM generate_series(1, %s) AS g) AS numbered
) AS s
JOIN bench_carriers AS w ON w.slot = s.slot
"""
JOBS_SQL = """
INSERT INTO automate_outboxjob (tenant, kind, queue, priority, status, attempts, available_at, step_id, leased_by,
                                trace_id, created_at, updated_at)
SELECT '', 'route_event', 'q' || (g %% 4), 0,
       CASE WHEN g %% 50 = 0 THEN 'dead' WHEN g %% 10 = 0 THEN 'claimed' WHEN g %% 3 = 0 THEN 'done' ELSE 'ready' END,
       1, now() - random() * interval '10 minutes', '', '', '', now(), now()
FROM generate_series(1, %s) AS g
"""


def seed(events: int, runs: int, jobs: int) -> dict[str, float]:
    from django.db import connection

    from django_automate.models import Event
    from django_automate.workflows.publishing import create_workflow

    timings = {}
    steps = [{"id": "log", "connector": "log", "action": "write", "with": {"message": "hi"}}]
    carriers = []
    for slot in range(WORKFLOWS):
        workflow = create_workflow(slug=f"wf-{slot:02d}", name=f"Workflow {slot}", definition={"steps": steps})
        event = Event.objects.create(type="carrier", source="bench", idempotency_key=f"carrier-{slot}")
        carriers.append((slot, str(event.pk), str(workflow.pk), str(workflow.current_version_id)))
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_carriers (slot int, event_id uuid, workflow_id uuid, version_id uuid)"
        )
        cursor.executemany("INSERT INTO bench_carriers VALUES (%s, %s, %s, %s)", carriers)
        for name, sql, params in (
            ("events", EVENTS_SQL, [events]),
            ("runs", RUNS_SQL, [WORKFLOWS, runs]),
            ("jobs", JOBS_SQL, [jobs]),
        ):
            started = time.perf_counter()
            cursor.execute(sql, params)
            timings[f"seed_{name}_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        cursor.execute("VACUUM ANALYZE automate_event, automate_executionrun, automate_outboxjob")
        timings["vacuum_analyze_s"] = round(time.perf_counter() - started, 1)
    return timings


# -- measurements --------------------------------------------------------------------------------
def measure(requests: int) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from django_automate.observability import dashboard

    User.objects.create_superuser("bench", "bench@example.com", None)
    client = Client()
    client.force_login(User.objects.get(username="bench"))
    url = "/admin/automate/dashboard/"
    results: dict[str, Any] = {}
    for window in WINDOWS:
        started = time.perf_counter()
        response = client.get(url, {"window": window})
        cold_ms = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.status_code
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(url, {"window": window})
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as captured:
            client.get(url, {"window": window})
        figures_ms = []
        for _ in range(requests):
            started = time.perf_counter()
            dashboard.build(dashboard.parse_window(window))
            figures_ms.append((time.perf_counter() - started) * 1000)
        ordered = sorted(timings)
        results[window] = {
            "cold_ms": round(cold_ms, 1),
            "p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[max(int(len(ordered) * 0.95) - 1, 0)], 1),
            "max_ms": round(ordered[-1], 1),
            "figures_p50_ms": round(statistics.median(figures_ms), 1),
            "queries": len(captured.captured_queries),
            "dashboard_queries": sum("automate_" in q["sql"] for q in captured.captured_queries),
        }
    return results


def report(result: dict[str, Any]) -> None:
    print(
        f"Admin dashboard over {result['events']:,} events and {result['runs']:,} runs ({WORKFLOWS} workflows), "
        f"PostgreSQL {result['server']}, Python {result['python']}, {result['cpus']} CPUs, "
        f"load average {result['load_average_1m']}"
    )
    print("seeding: " + ", ".join(f"{k} {v}" for k, v in result["seeding"].items()))
    header = f"{'window':<8}{'cold (rollup)':>15}{'p50':>10}{'p95':>10}{'max':>10}{'build()':>11}{'queries':>9}"
    print(f"\n{header}{'of the app':>12}")
    for window, row in result["windows"].items():
        print(
            f"{window:<8}{row['cold_ms']:>12.1f} ms{row['p50_ms']:>7.1f} ms{row['p95_ms']:>7.1f} ms"
            f"{row['max_ms']:>7.1f} ms{row['figures_p50_ms']:>8.1f} ms{row['queries']:>9}{row['dashboard_queries']:>12}"
        )
    verdict = "PASS" if result["passed"] else "FAIL"
    print(f"\n{verdict}: warm p95 ≤ {TARGET_MS:.0f} ms on every window and the same query count for each")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=None, help="default: as many as --events")
    parser.add_argument("--jobs", type=int, default=20_000, help="outbox jobs (ready, claimed, done, dead)")
    parser.add_argument("--requests", type=int, default=20, help="warm requests per window")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    runs = args.events if args.runs is None else args.runs
    configure()

    from django.db import connection

    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        seeding = seed(args.events, runs, args.jobs)
        windows = measure(args.requests)
        server = connection.cursor().connection.info.server_version
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)
    result = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "server": f"{server // 10000}.{server % 10000}",
        "events": args.events,
        "runs": runs,
        "seeding": seeding,
        "windows": windows,
        "target_ms": TARGET_MS,
        "passed": all(row["p95_ms"] <= TARGET_MS for row in windows.values())
        and len({row["queries"] for row in windows.values()}) == 1,
    }
    report(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
