"""Liveness and readiness: is the process up, and can the system do its work right now?

Readiness runs named checks, each answering ``{"status": "ok" | "fail", ...detail}``:

- ``database``: a ``SELECT 1`` on the app's database (with its latency);
- ``migrations``: no unapplied migration on that database;
- ``workers``: at least one worker with a fresh heartbeat (``database`` backend only);
- ``outbox``: the oldest due job has waited less than ``HEALTH_MAX_OUTBOX_LAG_SECONDS``.

The report is ``ok`` only when every requested check is; a check that cannot run because
the database is down fails too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from django_automate import conf, exceptions
from django_automate.observability import queries
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

OK, FAIL = "ok", "fail"

Check = Callable[[str], dict[str, Any]]


def check_database(using: str) -> dict[str, Any]:
    started = time.monotonic()
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": OK, "latency_ms": round((time.monotonic() - started) * 1000, 1)}


def check_migrations(using: str) -> dict[str, Any]:
    executor = MigrationExecutor(connections[using])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    pending = [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]
    return {"status": FAIL if pending else OK, "pending": pending}


def check_workers(using: str) -> dict[str, Any]:
    if conf.execution_backend() == "inline":
        return {"status": OK, "required": False, "backend": "inline"}
    stale_after = conf.health_worker_stale_seconds()
    alive, stale = queries.workers(timezone.now(), using=using)
    return {"status": OK if alive else FAIL, "alive": alive, "stale": stale, "stale_after_seconds": stale_after}


def check_outbox(using: str) -> dict[str, Any]:
    limit = conf.health_max_outbox_lag()
    stats = queries.outbox(timezone.now(), using=using)
    lag = max((row.oldest_due_age for row in stats.values()), default=0.0)
    return {
        "status": OK if lag <= limit else FAIL,
        "due": sum(row.due for row in stats.values()),
        "claimed": sum(row.claimed for row in stats.values()),
        "dead": sum(row.dead for row in stats.values()),
        "oldest_ready_age_seconds": round(lag, 3),
        "max_lag_seconds": limit,
    }


CHECKS: dict[str, Check] = {
    "database": check_database,
    "migrations": check_migrations,
    "workers": check_workers,
    "outbox": check_outbox,
}


def parse_checks(value: str | None) -> list[str]:
    """The comma-separated ``?checks=`` value as check names (all of them when empty)."""
    if not value:
        return list(CHECKS)
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted({name for name in names if name not in CHECKS})
    if unknown or not names:
        raise exceptions.ValidationError(
            f"Unknown health check(s): {', '.join(unknown) or '(none given)'}.",
            details={"checks": unknown, "valid": list(CHECKS)},
        )
    return list(dict.fromkeys(names))


def readiness(names: list[str] | None = None, *, using: str | None = None) -> dict[str, Any]:
    """Run the named checks (all by default); ``{"status": "ok" | "fail", "checks": {...}}``."""
    db = queries.alias(using)
    results: dict[str, dict[str, Any]] = {}
    for name in names or list(CHECKS):
        try:
            results[name] = CHECKS[name](db)
        except DatabaseError as exc:
            # The detail is public (load balancers read it): the class only; the message goes to the log.
            logger.warning("Health check %s failed: %s", name, exc, extra=log_extra("health_check_failed", check=name))
            results[name] = {"status": FAIL, "error": exc.__class__.__name__}
    status = OK if all(result["status"] == OK for result in results.values()) else FAIL
    return {"status": status, "checks": results}


def liveness() -> dict[str, Any]:
    """The process answers; deliberately no database access (a database outage must not restart it)."""
    return {"status": OK}
