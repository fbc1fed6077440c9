"""Concurrency keys (SPEC §14): at most ``limit`` runs of a workflow with one key hold a slot at once.

A definition's ``"concurrency": {"key": "{{ event.payload.customer }}", "limit": 1}`` is
rendered when routing creates the run (with the event's data), and stored hashed with the
tenant and the workflow on ``ExecutionRun.concurrency_key``. When the run's job is first
claimed, :func:`admit` counts, under a lock on the workflow's row, the runs of the key that
hold a slot (admitted, not ended) and the pending runs of the key whose event arrived
earlier: the run is admitted (``admitted_at``) if both together leave a slot, so slots go
in the order the events arrived, among the runs created by then (events are routed in
parallel: a run not created yet cannot be waited for). Otherwise its job is put back for
:data:`RECHECK_SECONDS` and the run stays ``pending``.

A run that ends frees its slot: :func:`release` makes the jobs of the next pending runs of
the key due now. If that wake-up is lost (the worker died between the run's end and the
release, or a run ended while the next one was being checked), the waiting job's own
recheck comes within :data:`RECHECK_SECONDS`. A killed worker's run keeps its slot while its
job's lease runs: the run goes on when the job is recovered, so the slot is not leaked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from django.db import connections, transaction
from django.db.models import Q
from django.utils import timezone

from django_automate import exceptions
from django_automate.internal import sql
from django_automate.models import Event, ExecutionRun, JobKind, JobStatus, OutboxJob, RunStatus, Workflow
from django_automate.models.flow import KEY_DISPLAY_LENGTH
from django_automate.observability import metrics
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.outbox.notify import notify
from django_automate.policy.redaction import redact
from django_automate.rules.matching import event_data
from django_automate.runs import single_statement, states
from django_automate.tracing.logging import log_extra
from django_automate.workflows.templating import render_string
from django_automate.workflows.versions import get_version

logger = logging.getLogger(__name__)

#: ``last_error["code"]`` of the job of a run waiting for a slot.
CONCURRENCY_LIMITED = "concurrency_limited"
#: How long a run waiting for a slot waits before it checks again without being woken.
RECHECK_SECONDS = 5.0


def _rendered(spec: dict[str, Any], data: dict[str, Any]) -> str:
    """The key's text; a key that cannot be rendered (a missing field) renders as ""."""
    try:
        rendered = render_string(str(spec.get("key", "")), data)
    except exceptions.AutomateError:
        rendered = ""
    return rendered if isinstance(rendered, str) else repr(rendered)


def key_for(definition: dict[str, Any], event: Event, workflow_id: Any, tenant: str) -> str:
    """The stored key of a new run of ``definition`` for ``event`` ("" without ``concurrency``).

    Runs whose key renders as "" share one key.
    """
    spec = definition.get("concurrency")
    if not isinstance(spec, dict):
        return ""
    text = _rendered(spec, event_data(event))
    return hashlib.sha256(f"{tenant}\0{workflow_id}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()


def display_key(run: ExecutionRun, *, using: str = "default") -> str:
    """The run's key as operators see it: rendered from the event with sensitive values redacted."""
    spec = run.workflow_version.definition.get("concurrency")
    if not isinstance(spec, dict):
        return ""
    event = Event.objects.using(using).get(pk=run.event_id)
    data = event_data(event)
    data["event"]["payload"], data["event"]["headers"] = redact(event.payload), redact(event.headers)
    return _rendered(spec, data)[:KEY_DISPLAY_LENGTH]


def limit_of(run: ExecutionRun, *, using: str = "default") -> int:
    spec = get_version(run.workflow_version_id, using=using).definition.get("concurrency") or {}
    return max(1, int(spec.get("limit", 1)))


def admit_created(runs: list[ExecutionRun], *, using: str = "default") -> None:
    """In the transaction that creates ``runs`` (routing, debounce, backfill): admit the keyed ones a slot allows.

    Under the lock of each keyed workflow's row (taken in a fixed order), in arrival order, with
    the same counts as :func:`admit`: a run created while its key has a free slot and nobody
    waiting ahead holds the slot from its creation, and its first claim has nothing to check.
    The others stay pending and go through :func:`admit` when their jobs are claimed.
    """
    keyed = [run for run in runs if run.concurrency_key]
    if not keyed:
        return
    for workflow_id in sorted({run.workflow_id for run in keyed}, key=str):
        list(Workflow.objects.using(using).select_for_update().filter(pk=workflow_id).values_list("pk"))
    now = timezone.now()
    for run in sorted(keyed, key=lambda run: (run.event.received_at, run.id)):
        if _count_and_admit(run, limit_of(run, using=using), now, using)[2]:
            run.admitted_at = now
            metrics.slot_wait(0.0)


def admit(job: ClaimedJob, run: ExecutionRun, *, using: str = "default") -> bool:
    """Give the pending run a slot of its key (True), or put its job back until a slot may be free (False)."""
    limit = limit_of(run, using=using)
    now = timezone.now()
    with transaction.atomic(using=using):
        # A write first (SQLite takes its write lock now, not halfway), then the key's lock: the workflow's row.
        _fence_and_lock(job, run.workflow_id, now, using)
        held, waiting, admitted = _count_and_admit(run, limit, now, using)
        if admitted:
            run.admitted_at = now
            metrics.slot_wait(max(0.0, (now - run.created_at).total_seconds()))
            return True
        key = display_key(run, using=using)
        error = {
            "code": CONCURRENCY_LIMITED,
            "message": f"Waiting for a slot of {key!r}: {held} of {limit} held, {waiting} waiting ahead.",
            "details": {"limit": limit, "holding": held, "ahead": waiting, "key": key},
        }
        lease.reschedule(job, now + dt.timedelta(seconds=RECHECK_SECONDS), error, using=using)
    logger.info("Run %s waits for a concurrency slot", run.id, extra=log_extra("run_throttled"))
    return False


def _fence_and_lock(job: ClaimedJob, workflow_id: Any, now: dt.datetime, using: str) -> None:
    """Extend the job's lease (LeaseLost if it is gone), then lock the workflow's row: one statement on PostgreSQL."""
    if transaction.get_connection(using).vendor != "postgresql":
        lease.fence(job, using=using)
        list(Workflow.objects.using(using).select_for_update().filter(pk=workflow_id).values_list("pk"))
        return
    fence, params = single_statement.fence_sql(job, now, using)
    table = transaction.get_connection(using).ops.quote_name(Workflow._meta.db_table)
    statement = (
        f"WITH fence AS ({fence} RETURNING 1)"
        f" SELECT 1 FROM {table} WHERE id = %s AND EXISTS (SELECT 1 FROM fence) FOR UPDATE"
    )
    with sql.hot_cursor(using) as cursor:
        cursor.execute(statement, [*params, workflow_id])
        if cursor.fetchone() is None:
            raise exceptions.LeaseLost(details={"job_id": job.id})


def _count_and_admit(run: ExecutionRun, limit: int, now: dt.datetime, using: str) -> tuple[int, int, bool]:
    """(runs of the key holding a slot, pending runs ahead of ``run``, whether ``run`` was admitted).

    Read after the workflow's lock was taken: each statement of a READ COMMITTED transaction
    sees what committed before it began, so the counts include every admission before ours.
    One statement on PostgreSQL (:data:`_ADMIT`); the ORM's three elsewhere.
    """
    arrived = run.event.received_at
    if transaction.get_connection(using).vendor == "postgresql":
        terminal = sorted(str(status) for status in states.TERMINAL)
        params = [run.concurrency_key, *terminal, run.concurrency_key, str(RunStatus.PENDING), arrived, arrived, run.id]
        with sql.hot_cursor(using) as cursor:
            cursor.execute(_ADMIT, [*params, now, run.id, limit])
            held, waiting, admitted = cursor.fetchone()
        return int(held), int(waiting), bool(admitted)
    same = ExecutionRun.objects.using(using).filter(concurrency_key=run.concurrency_key)
    held = same.filter(admitted_at__isnull=False).exclude(status__in=states.TERMINAL).count()
    earlier = Q(event__received_at__lt=arrived) | Q(event__received_at=arrived, id__lt=run.id)
    waiting = same.filter(earlier, admitted_at__isnull=True, status=RunStatus.PENDING).count()
    admitted = held + waiting < limit and bool(
        ExecutionRun.objects.using(using).filter(pk=run.pk, admitted_at__isnull=True).update(admitted_at=now)
    )
    return held, waiting, admitted


#: PostgreSQL: the counts of :func:`_count_and_admit` and the admission, in one statement. Hand-written
#: (the ORM would compile three querysets per admission, costing more than the statement itself).
_ADMIT = f"""WITH holding AS (
  SELECT count(*) AS n FROM {ExecutionRun._meta.db_table}
  WHERE concurrency_key = %s AND admitted_at IS NOT NULL AND status NOT IN (%s, %s, %s)
), ahead AS (
  SELECT count(*) AS n FROM {ExecutionRun._meta.db_table} r JOIN {Event._meta.db_table} e ON e.id = r.event_id
  WHERE r.concurrency_key = %s AND r.admitted_at IS NULL AND r.status = %s
    AND (e.received_at < %s OR (e.received_at = %s AND r.id < %s))
), admitted AS (
  UPDATE {ExecutionRun._meta.db_table} SET admitted_at = %s
  WHERE id = %s AND admitted_at IS NULL AND (SELECT n FROM holding) + (SELECT n FROM ahead) < %s RETURNING 1
)
SELECT (SELECT n FROM holding), (SELECT n FROM ahead), (SELECT count(*) FROM admitted)"""

#: PostgreSQL: :func:`release` in one statement.
_RELEASE = f"""UPDATE {OutboxJob._meta.db_table} SET available_at = %s, updated_at = %s
WHERE kind = %s AND status = %s AND run_id IN (
  SELECT r.id FROM {ExecutionRun._meta.db_table} r JOIN {Event._meta.db_table} e ON e.id = r.event_id
  WHERE r.concurrency_key = %s AND r.status = %s AND r.admitted_at IS NULL
  ORDER BY e.received_at, r.id LIMIT %s
)"""


def release(run: ExecutionRun, *, using: str = "default") -> int:
    """After ``run`` ended: make the jobs of the next pending runs of its key due now; the jobs woken."""
    if not run.concurrency_key:
        return 0
    limit = limit_of(run, using=using)
    now = timezone.now()
    if connections[using].vendor == "postgresql":
        params = [now, now, str(JobKind.EXECUTE_RUN), str(JobStatus.READY), run.concurrency_key]
        params += [str(RunStatus.PENDING), limit]
        with sql.hot_cursor(using) as cursor:
            cursor.execute(_RELEASE, params)
            woken = cursor.rowcount
    else:
        pending = (
            ExecutionRun.objects.using(using)
            .filter(concurrency_key=run.concurrency_key, status=RunStatus.PENDING, admitted_at__isnull=True)
            .order_by("event__received_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        woken = (
            OutboxJob.objects.using(using)
            .filter(run_id__in=list(pending), kind=JobKind.EXECUTE_RUN, status=JobStatus.READY)
            .update(available_at=now, updated_at=now)
        )
    if woken:
        notify(using, "default")
    return int(woken)
