"""``python`` steps with ``"transaction": true``: the callable runs inside the transaction that records its success.

One transaction on the default database: fence the job's lease (a row lock on the job that
lasts until commit, so no other worker can take the job meanwhile), call the function, then
close the attempt succeeded (and, after the last step, finish the run). The function's ORM
writes commit exactly once, with the success; if it raises, or the worker dies, they roll back
with it and the attempt is retried as any other.

The function runs in the worker's own thread: the transaction belongs to that thread's
connection, so the step runner thread of :mod:`django_automate.runs.deadline` cannot be used,
and Python cannot interrupt the call. Its timeout is enforced in two ways instead: on
PostgreSQL each of its statements runs under a ``statement_timeout`` of the step's timeout,
and on every database a call that returns (or raises) after its deadline fails with
``step_timeout``, rolling its writes back.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from django_automate import exceptions
from django_automate.connectors.base import StepResult
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.runs.deadline import StepTimeout


def requested(step: dict[str, Any]) -> bool:
    """Whether the step's callable runs inside the transaction that records its success."""
    return step.get("transaction") is True


def call_and_succeed(
    using: str,
    job: ClaimedJob,
    invoke: Callable[[], StepResult],
    *,
    timeout: float,
    succeed: Callable[[StepResult], None],
) -> StepResult:
    """Call ``invoke`` and ``succeed`` with its result in one transaction, fenced by ``job``'s lease.

    Whatever ``invoke`` raises rolls its writes back and propagates, as does LeaseLost when the
    lease is gone before the call or by the time the success is written. A call that ends after
    ``timeout`` seconds raises StepTimeout, with the same rollback.
    """
    if using != DEFAULT_DB_ALIAS:
        raise exceptions.ImproperlyConfigured(
            f'A step with "transaction": true needs django-automate\'s tables on the {DEFAULT_DB_ALIAS!r} '
            f"database, where the function's writes go; this worker uses {using!r}.",
            details={"database": using},
        )
    deadline = time.monotonic() + timeout
    with transaction.atomic(using=using):
        lease.fence(job, using=using)
        try:
            with _statement_timeout(using, timeout):
                result = invoke()
        except Exception as exc:
            if time.monotonic() >= deadline:  # e.g. PostgreSQL cancelled a statement at the deadline
                raise _timeout(timeout) from exc
            raise
        if time.monotonic() >= deadline:
            raise _timeout(timeout)
        succeed(result)
    return result


def _timeout(timeout: float) -> StepTimeout:
    return StepTimeout(
        f"The step did not finish within {timeout:g}s; its writes were rolled back.",
        details={"timeout_seconds": timeout},
    )


@contextlib.contextmanager
def _statement_timeout(using: str, seconds: float) -> Iterator[None]:
    """PostgreSQL: the statements of the block each run under ``statement_timeout`` (restored after it)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)",
            [str(max(1, int(seconds * 1000)))],
        )
        previous = cursor.fetchone()[0]
    yield
    # Not reached when the block raised: the transaction rolls back, and SET LOCAL with it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
