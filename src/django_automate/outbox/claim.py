"""Claiming ready jobs: ``SELECT … FOR UPDATE SKIP LOCKED`` where supported, a conditional update elsewhere.

On PostgreSQL a claim is one statement (``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP
LOCKED LIMIT 1) RETURNING …``): one round trip and one implicit transaction per claim.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import OperationalError, connections, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from django_automate import conf
from django_automate.internal.outage import is_lock_conflict
from django_automate.internal.sql import hot_cursor
from django_automate.models import JobKind, JobStatus, OutboxJob

if TYPE_CHECKING:
    from django_automate.models import ExecutionRun

CANDIDATES = 8
DEADLOCK_RETRIES = 2
#: Expired jobs recovered per pass (the next pass, a few seconds later, takes the rest).
RECOVER_BATCH = 500
# What a worker needs of a claimed job, in ClaimedJob's order (after ``lease_token``).
_RETURNED = ("attempts", "trace_id", "tenant", "event_id", "run_id", "step_id")


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds; ``lease_token`` fences every later write."""

    id: int
    kind: str
    lease_token: uuid.UUID
    attempts: int
    trace_id: str
    tenant: str
    event_id: uuid.UUID | None
    run_id: uuid.UUID | None
    #: The job's run, read by the claim itself (``claim(..., with_runs=True)`` on PostgreSQL), ready to execute.
    run: ExecutionRun | None = field(default=None, compare=False, repr=False)
    #: The step an ``execute_step`` job runs ("" for other kinds).
    step_id: str = ""


def _lease_until(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=conf.lease_seconds())


def _ready(using: str, queues: list[str], now: dt.datetime):  # type: ignore[no-untyped-def]
    return (
        OutboxJob.objects.using(using)
        .filter(status=JobStatus.READY, queue__in=queues, available_at__lte=now)
        .order_by("-priority", "available_at", "id")
    )


def _claim_values(worker_id: str, token: uuid.UUID, now: dt.datetime) -> dict[str, Any]:
    return {
        "status": JobStatus.CLAIMED,
        "lease_token": token,
        "leased_by": worker_id,
        "lease_expires_at": _lease_until(now),
        "updated_at": now,
        "attempts": F("attempts") + 1,
    }


def claim_one(*, worker_id: str, queues: list[str], using: str = "default") -> ClaimedJob | None:
    """Claim the oldest ready job of ``queues`` with a fresh lease token, or return ``None``."""
    jobs = claim(worker_id=worker_id, queues=queues, using=using)
    return jobs[0] if jobs else None


def claim(
    *, worker_id: str, queues: list[str], routing_batch: int = 1, with_runs: bool = False, using: str = "default"
) -> list[ClaimedJob]:
    """Claim the oldest ready job of ``queues``, and if it is a routing job, up to ``routing_batch - 1`` more behind it.

    All under one fresh lease token, in the statements one claim costs: the routing jobs
    waiting behind the first are routed with it in one transaction. Jobs of other kinds are
    claimed one at a time, since executing a run can take long and other workers should get
    the next one. An empty list when nothing is ready. With ``with_runs``, on PostgreSQL, the
    claim also reads a run job's run, event and workflow, ready to execute (``ClaimedJob.run``).
    """
    if not queues:
        return []
    now = timezone.now()
    token = uuid.uuid4()
    more = max(0, routing_batch - 1)
    connection = connections[using]
    if connection.vendor == "postgresql":
        return _claim_returning(using, token, worker_id, now, queues=queues, more=more, with_runs=with_runs)
    values = _claim_values(worker_id, token, now)
    if connection.features.has_select_for_update_skip_locked:
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                return _claim_locking(using, queues, now, token, values, more)
            except OperationalError as exc:
                # InnoDB may pick a claim as a deadlock victim; it rolled back whole, so claim again.
                if not is_lock_conflict(exc) or attempt == DEADLOCK_RETRIES:
                    raise
        return []  # pragma: no cover - the loop returns or raises
    # Single-writer backends (SQLite): a conditional update decides who wins a candidate.
    candidates = list(_ready(using, queues, now).values_list("id", "kind")[: max(5, more + 1)])
    for n, (job_id, kind) in enumerate(candidates):
        ids = [job_id, *_behind(kind, candidates[n + 1 :], more)]
        with transaction.atomic(using=using):
            if OutboxJob.objects.using(using).filter(id=job_id, status=JobStatus.READY).update(**values):
                if len(ids) > 1:
                    OutboxJob.objects.using(using).filter(id__in=ids[1:], status=JobStatus.READY).update(**values)
                rows = OutboxJob.objects.using(using).filter(lease_token=token).values("id", "kind", *_RETURNED)
                return _in_order([ClaimedJob(lease_token=token, **row) for row in rows], ids)
    return []


def _behind(kind: str, candidates: list[tuple[int, str]], more: int) -> list[int]:
    """The ids of the routing jobs among ``candidates`` to claim with a job of ``kind``."""
    if kind != JobKind.ROUTE_EVENT or more < 1:
        return []
    return [job_id for job_id, other in candidates if other == JobKind.ROUTE_EVENT][:more]


def _in_order(jobs: list[ClaimedJob], ids: list[int]) -> list[ClaimedJob]:
    position = {job_id: n for n, job_id in enumerate(ids)}
    return sorted(jobs, key=lambda job: position[job.id])


def _claim_locking(
    using: str, queues: list[str], now: dt.datetime, token: uuid.UUID, values: dict[str, Any], more: int
) -> list[ClaimedJob]:
    with transaction.atomic(using=using):
        # A few candidates, not one: MariaDB applies LIMIT before skipping locked rows, so
        # "LIMIT 1 … SKIP LOCKED" finds nothing while another worker holds the oldest job.
        candidates = _ready(using, queues, now).select_for_update(skip_locked=True)
        rows = list(candidates.values("id", "kind", *_RETURNED)[: max(CANDIDATES, more + 1)])
        if not rows:
            return []
        head = rows[0]
        ids = [head["id"], *_behind(head["kind"], [(row["id"], row["kind"]) for row in rows[1:]], more)]
        OutboxJob.objects.using(using).filter(id__in=ids).update(**values)
    # The rows stayed locked from the SELECT to the commit: nobody changed them meanwhile.
    by_id = {row["id"]: row for row in rows}
    return [
        ClaimedJob(lease_token=token, **{**by_id[job_id], "attempts": by_id[job_id]["attempts"] + 1}) for job_id in ids
    ]


def claim_by_id(job_id: int, *, worker_id: str, using: str = "default") -> ClaimedJob | None:
    """Claim one specific job if it is ready (Celery and inline backends); ``None`` if someone else has it."""
    now = timezone.now()
    token = uuid.uuid4()
    if connections[using].vendor == "postgresql":
        claimed = _claim_returning(using, token, worker_id, now, job_id=job_id)
        return claimed[0] if claimed else None
    updated = (
        OutboxJob.objects.using(using)
        .filter(id=job_id, status=JobStatus.READY, available_at__lte=now)
        .update(**_claim_values(worker_id, token, now))
    )
    return _claimed(job_id, token, using) if updated else None


def _claimed(job_id: int, token: uuid.UUID, using: str) -> ClaimedJob:
    row = OutboxJob.objects.using(using).values("id", "kind", *_RETURNED).get(id=job_id)
    return ClaimedJob(lease_token=token, **row)


def _claim_returning(
    using: str,
    token: uuid.UUID,
    worker_id: str,
    now: dt.datetime,
    *,
    queues: list[str] | None = None,
    job_id: int | None = None,
    more: int = 0,
    with_runs: bool = False,
) -> list[ClaimedJob]:
    """PostgreSQL: pick (oldest ready of ``queues``, or ``job_id`` if ready), claim and read it in one statement.

    With ``more``, the same statement also claims up to that many routing jobs behind the
    oldest one, when that one is a routing job.
    """
    claiming = [JobStatus.CLAIMED, token, worker_id, _lease_until(now), now]
    if job_id is not None:
        # Conditional on the row itself: a concurrent claimer waits for our row lock, then sees it claimed.
        ctes = [f"claimed AS ({_update('= %s AND status = %s AND available_at <= %s')})"]
        params = [*claiming, job_id, JobStatus.READY, now]
        more = 0
    else:
        assert queues is not None
        ctes, params = _picking(queues, now, claiming, more)
    returned = ", ".join(("id", "kind", *_RETURNED))
    behind = f" UNION ALL SELECT {returned}{{nulls}} FROM claimed_behind" if more else ""
    read_run: Callable[[Sequence[Any]], ExecutionRun | None] = _no_run
    if with_runs:
        from django_automate.runs import loading

        # The claimed run job's run, event and workflow, in the same round trip (none for a routing job).
        columns = ", ".join(f"claimed.{name}" for name in ("id", "kind", *_RETURNED))
        select = f"SELECT {columns}, {loading.columns(using)} FROM claimed {loading.joins(using, 'claimed.run_id')}"
        select += behind.format(nulls=", NULL" * loading.width(using))
        params += loading.column_params()
        read_run = functools.partial(loading.from_values, using=using)
    else:
        select = f"SELECT {returned} FROM claimed" + behind.format(nulls="")
    with hot_cursor(using) as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} {select}", params)
        rows = cursor.fetchall()
    jobs = [
        ClaimedJob(
            row_id,
            kind,
            token,
            attempts,
            trace_id,
            tenant,
            event_id,
            run_id,
            None if run_id is None else read_run(rest),
            step_id,
        )
        for row_id, kind, attempts, trace_id, tenant, event_id, run_id, step_id, *rest in rows
    ]
    return sorted(jobs, key=lambda job: job.id) if len(jobs) > 1 else jobs


def _picking(queues: list[str], now: dt.datetime, claiming: list[Any], more: int) -> tuple[list[str], list[Any]]:
    """The CTEs that lock and claim the oldest ready job of ``queues`` and, with ``more``, routing jobs behind it.

    Each row is updated by its primary key in a part of its own (no join, no ``IN``): a plan
    prepared while the tables were small stays an index lookup as they grow. (Statistics of a
    table emptied and analyzed still mislead any plan: docs/scaling.md.)
    """
    table = OutboxJob._meta.db_table
    # ORDER BY matches automate_job_claim_order_idx; SKIP LOCKED passes over rows other claimers hold.
    # IN, not = ANY(array): with one queue the planner reads the index in order instead of sorting.
    ready = f"FROM {table} WHERE status = %s AND queue IN ({', '.join(['%s'] * len(queues))}) AND available_at <= %s"
    order = "ORDER BY priority DESC, available_at, id"
    ctes = [
        f"head AS MATERIALIZED (SELECT id, kind {ready} {order} LIMIT 1 FOR UPDATE SKIP LOCKED)",
        f"claimed AS ({_update('= (SELECT id FROM head)')})",
    ]
    params = [JobStatus.READY, *queues, now, *claiming]
    if more < 1:
        return ctes, params
    # Our own lock on the head does not make SKIP LOCKED skip it: it is excluded by id.
    ctes += [
        f"behind AS (SELECT id {ready} AND kind = %s AND id <> (SELECT id FROM head)"
        f" AND EXISTS (SELECT 1 FROM head WHERE kind = %s) {order} LIMIT %s FOR UPDATE SKIP LOCKED)",
        f"claimed_behind AS ({_update('= ANY(ARRAY(SELECT id FROM behind)) AND EXISTS (SELECT 1 FROM behind)')})",
    ]
    params += [JobStatus.READY, *queues, now, JobKind.ROUTE_EVENT, JobKind.ROUTE_EVENT, more, *claiming]
    return ctes, params


def _update(target: str) -> str:
    """Claim the rows whose ``id`` matches ``target``, with the values of ``_claim_returning``'s ``claiming``."""
    return (
        f"UPDATE {OutboxJob._meta.db_table} SET status = %s, lease_token = %s, leased_by = %s,"
        f" lease_expires_at = %s, updated_at = %s, attempts = attempts + 1"
        f" WHERE id {target} RETURNING id, kind, {', '.join(_RETURNED)}"
    )


def _no_run(values: Sequence[Any]) -> None:
    return None


def next_due(*, queues: list[str], using: str = "default") -> dt.datetime | None:
    """The next moment a worker of ``queues`` has something to do without being notified.

    The earliest of: a ready job of ``queues`` becoming claimable (retries, delayed jobs), and a
    claimed job's lease expiring (to recover it). ``None`` when there is neither.
    """
    row = (
        OutboxJob.objects.using(using)
        .filter(status__in=(JobStatus.READY, JobStatus.CLAIMED))
        .aggregate(
            ready=Min("available_at", filter=Q(status=JobStatus.READY, queue__in=queues)),
            expiry=Min("lease_expires_at", filter=Q(status=JobStatus.CLAIMED)),
        )
    )
    moments = [moment for moment in (row["ready"], row["expiry"]) if moment is not None]
    return min(moments, default=None)


def recover_expired(*, using: str = "default") -> int:
    """Make jobs whose lease expired claimable again; clearing the token fences the old holder out.

    Where the database can skip locked rows, the expired jobs are locked first (skipping any a
    worker is writing right now) and updated by id: a range UPDATE would lock index gaps on
    InnoDB and deadlock with concurrent claims.
    """
    now = timezone.now()
    expired = OutboxJob.objects.using(using).filter(status=JobStatus.CLAIMED, lease_expires_at__lt=now)
    values = {"status": JobStatus.READY, "lease_token": None, "leased_by": "", "lease_expires_at": None}
    if not connections[using].features.has_select_for_update_skip_locked:
        return expired.update(**values, updated_at=now)
    with transaction.atomic(using=using):
        ids = list(expired.select_for_update(skip_locked=True).values_list("id", flat=True)[:RECOVER_BATCH])
        if not ids:
            return 0
        return OutboxJob.objects.using(using).filter(id__in=ids).update(**values, updated_at=now)
