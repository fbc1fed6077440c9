"""Where a worker spends its time: one in-process worker under cProfile, with every query counted.

The worker drains a batch of events routed to a one-step ``log`` workflow, as in the
throughput measurement, twice: once with every statement recorded (time per execution,
statements and commits per execution, the share of the time spent waiting for the database,
statements grouped by shape), once under cProfile (the functions with the most own time, and
the most cumulative time inside django_automate; cProfile slows Python down about 2x and
mixes in the heartbeat threads' waits, so read shares, not absolute times).
"""

from __future__ import annotations

import cProfile
import pstats
import re
import time
from collections import Counter
from typing import Any

SHAPE = re.compile(r"'[^']*'|\b\d+\b|%s")


def shape(sql: str) -> str:
    """A query with its literals removed and its column lists cut, to group queries by kind."""
    text = SHAPE.sub("?", sql)
    text = re.sub(r"SELECT .*? FROM", "SELECT … FROM", text, flags=re.S)
    text = re.sub(r"SET .*? WHERE", "SET … WHERE", text, flags=re.S)
    text = re.sub(r"\(.*?\) VALUES .*", "(…) VALUES …", text, flags=re.S)
    return text[:110]


def emit_batch(events: int, event_type: str) -> None:
    from django.db import transaction

    import django_automate

    with transaction.atomic():
        for n in range(events):
            django_automate.emit(event_type, {"n": n})


def drain() -> float:
    """Process every ready job with an in-process worker; seconds taken."""
    from django_automate.worker.loop import Worker

    started = time.perf_counter()
    Worker(once=True, install_signal_handlers=False).run()
    return time.perf_counter() - started


def profile(events: int, top: int = 15) -> dict[str, Any]:
    from collections import deque

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pipeline import workflow

    workflow("profiled", 1, "bench.profiled")
    # Pass 1, without the profiler: wall time, and every statement with its time (BEGIN/COMMIT included).
    connection.queries_limit = 10_000_000
    connection.queries_log = deque(maxlen=connection.queries_limit)
    emit_batch(events, "bench.profiled")
    with CaptureQueriesContext(connection) as queries:
        elapsed = drain()
    captured = queries.captured_queries
    # Before Django 6.1 a statement bound on the server (prepared) has no text in the query log.
    shapes = Counter(shape(query["sql"] or "(a prepared statement)") for query in captured)
    in_database = sum(float(query["time"]) for query in captured)
    # Pass 2, under cProfile: where the Python time goes.
    emit_batch(events, "bench.profiled")
    profiler = cProfile.Profile()
    profiler.enable()
    profiled = drain()
    profiler.disable()
    entries = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def row(key: Any, values: Any) -> dict[str, Any]:
        filename, line, name = key
        where = filename.split("site-packages/")[-1].split("/src/")[-1]
        return {
            "function": f"{where}:{line}({name})",
            "calls": values[1],
            "own_ms_per_execution": round(values[2] / events * 1000, 3),
            "cumulative_ms_per_execution": round(values[3] / events * 1000, 3),
        }

    by_own = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    ours = [item for item in entries.items() if "django_automate" in item[0][0]]
    by_cumulative = sorted(ours, key=lambda item: item[1][3], reverse=True)[:top]
    return {
        "events": events,
        "ms_per_execution": round(elapsed / events * 1000, 2),
        "statements_per_execution": round(len(captured) / events, 1),
        "commits_per_execution": round(shapes.get("COMMIT", 0) / events, 1),
        "database_share": round(in_database / elapsed, 2),
        "query_shapes_per_execution": {text: round(count / events, 2) for text, count in shapes.most_common(top)},
        "ms_per_execution_under_cprofile": round(profiled / events * 1000, 2),
        "top_own_time": [row(key, values) for key, values in by_own],
        "top_cumulative_in_django_automate": [row(key, values) for key, values in by_cumulative],
    }
