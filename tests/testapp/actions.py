"""``python`` actions that write to the test app's models (transactional step tests, in-process and in workers)."""

from __future__ import annotations

import time
from typing import Any

from django.db import connection
from django.db.models import F

from django_automate.connectors.base import ConnectorContext, RetryableError
from tests.testapp.models import Counter, StepWrite

COUNTER = "steps"
#: What each call saw and did, in this process: ``(idempotency key, rows under that key when called)``.
CALLS: list[tuple[str, int]] = []
#: How many calls fail (after writing) before calls succeed, in this process.
FAILURES = {"left": 0}


def _write(ctx: ConnectorContext) -> None:
    CALLS.append((ctx.idempotency_key, StepWrite.objects.filter(key=ctx.idempotency_key).count()))
    StepWrite.objects.create(key=ctx.idempotency_key)
    Counter.objects.filter(name=COUNTER).update(value=F("value") + 1)


def insert_and_count(params: dict[str, Any], ctx: ConnectorContext) -> dict[str, Any]:
    """Insert one row under the step's key and increment the counter; ``pause_seconds`` after the writes."""
    _write(ctx)
    pause = float(params.get("pause_seconds") or 0)
    if pause:
        time.sleep(pause)
    return {"wrote": ctx.idempotency_key}


def insert_then_fail(params: dict[str, Any], ctx: ConnectorContext) -> dict[str, Any]:
    """Write, then raise while ``FAILURES["left"]`` says so."""
    _write(ctx)
    if FAILURES["left"] > 0:
        FAILURES["left"] -= 1
        raise RetryableError("Not this time.", retry_after=0)
    return {"wrote": ctx.idempotency_key}


def insert_then_stall(params: dict[str, Any], ctx: ConnectorContext) -> dict[str, Any]:
    """Write, then stall the first ``stalls`` calls: ``sleep_seconds`` in Python, or in the database with ``in_sql``."""
    _write(ctx)
    if len(CALLS) <= int(params.get("stalls", 1)):
        if params.get("in_sql"):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(%s)", [params["sleep_seconds"]])
        else:
            time.sleep(float(params["sleep_seconds"]))
    return {"wrote": ctx.idempotency_key}
