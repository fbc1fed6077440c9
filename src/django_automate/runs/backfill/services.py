"""Requesting, cancelling and resuming backfills, and dry runs: what the API, the admin and the command call.

Every state change is audited (``backfill.requested``, ``.cancelled``, ``.resumed``; the worker
records ``.finished``) and written together with the job it enqueues or cancels.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db import transaction
from django.utils import timezone

from django_automate import conf, exceptions
from django_automate.audit import log as audit
from django_automate.models import Backfill, BackfillStatus, JobKind, JobStatus, OutboxJob
from django_automate.models.backfill import ACTIVE_STATUSES, RESUMABLE_STATUSES
from django_automate.outbox.claim import ClaimedJob
from django_automate.outbox.enqueue import enqueue, enqueue_claimed
from django_automate.runs.backfill import filters
from django_automate.runs.backfill.dry_run import DryRun, dry_run
from django_automate.tracing import context


def snapshot(spec: filters.EventFilter) -> filters.EventFilter:
    """The filter as of now: without an end, it ends now, so events received later are not replayed."""
    if spec.received_until is not None:
        return spec
    return dataclasses.replace(spec, received_until=timezone.now())


def preview(data: Any, *, tenant: str, actor: str, redacted: bool) -> tuple[filters.EventFilter, DryRun]:
    """Validate the filter ``data`` and dry-run it; a caller who may see raw values is audited if it read some."""
    spec = snapshot(filters.parse(data))
    selection = filters.select(spec, tenant, redacted=redacted)
    report = dry_run(selection)
    _audit_raw_reads(selection, actor, tenant, via="backfill_dry_run")
    return spec, report


def request(data: Any, *, tenant: str, actor: str, redacted: bool) -> Backfill:
    """Create a backfill of the filter ``data`` and the job of its first batch, for the workers."""
    backfill, _ = _create(data, tenant, actor, redacted, worker_id=None)
    return backfill


def request_here(data: Any, *, tenant: str, actor: str, redacted: bool, worker_id: str) -> tuple[Backfill, ClaimedJob]:
    """:func:`request`, the first batch's job claimed by ``worker_id``: the caller processes the batches itself.

    See :func:`~django_automate.runs.backfill.batches.run_batch`; if the caller dies, the job's
    lease expires and the workers carry on.
    """
    backfill, claimed = _create(data, tenant, actor, redacted, worker_id=worker_id)
    assert claimed is not None
    return backfill, claimed


def _create(
    data: Any, tenant: str, actor: str, redacted: bool, *, worker_id: str | None
) -> tuple[Backfill, ClaimedJob | None]:
    spec = snapshot(filters.parse(data))
    selection = filters.select(spec, tenant, redacted=redacted)
    trace_id = context.current_trace_id() or context.new_trace_id()  # the request's, else its own
    claimed = None
    with transaction.atomic():
        backfill = Backfill.objects.create(
            tenant=tenant,
            filter=spec.to_json(),
            redacted=redacted,
            total=selection.events().count(),
            requested_by=actor,
            trace_id=trace_id,
        )
        if worker_id is None:
            backfill.job = enqueue(JobKind.BACKFILL, trace_id=trace_id, tenant=tenant, queue=conf.backfill_queue())
        else:
            claimed = enqueue_claimed(
                JobKind.BACKFILL, worker_id=worker_id, trace_id=trace_id, tenant=tenant, queue=conf.backfill_queue()
            )
            backfill.job_id = claimed.id
        backfill.save(update_fields=["job", "updated_at"])
        _audit(backfill, "backfill.requested", actor, {"filter": backfill.filter, "total": backfill.total})
        named = filters.named_sensitive_paths(spec)
        if named:  # only a caller who may see raw values gets here with such a filter
            _raw_view(actor, tenant, "backfill", named)
    return backfill, claimed


def cancel(backfill: Backfill, *, actor: str) -> Backfill:
    """Stop a pending or running backfill after its current batch; ``resume`` continues from the cursor."""
    with transaction.atomic():
        locked = Backfill.objects.select_for_update().get(pk=backfill.pk)
        if locked.status not in ACTIVE_STATUSES:
            raise _illegal(locked, "cancel")
        if locked.job_id is not None:
            # A job a worker holds finds the backfill cancelled (it waits on this row's lock) and stops.
            now = timezone.now()
            OutboxJob.objects.filter(pk=locked.job_id, status=JobStatus.READY).update(
                status=JobStatus.CANCELLED, finished_at=now, updated_at=now
            )
        locked.status, locked.job, locked.finished_at = BackfillStatus.CANCELLED, None, timezone.now()
        locked.save(update_fields=["status", "job", "finished_at", "updated_at"])
        _audit(locked, "backfill.cancelled", actor, _progress(locked))
    return locked


def resume(backfill: Backfill, *, actor: str) -> Backfill:
    """Continue a cancelled or failed backfill from its cursor: events processed before are not replayed again."""
    with transaction.atomic():
        locked = Backfill.objects.select_for_update().get(pk=backfill.pk)
        if locked.status not in RESUMABLE_STATUSES:
            raise _illegal(locked, "resume")
        locked.status, locked.error, locked.finished_at = BackfillStatus.PENDING, None, None
        locked.job = enqueue(
            JobKind.BACKFILL, trace_id=locked.trace_id, tenant=locked.tenant, queue=conf.backfill_queue()
        )
        locked.save(update_fields=["status", "error", "finished_at", "job", "updated_at"])
        _audit(locked, "backfill.resumed", actor, _progress(locked))
    return locked


def needs_raw(backfill: Backfill) -> bool:
    """Whether seeing the backfill's progress needs ``automate.view_raw_payload``.

    A backfill requested by someone who may see raw values may filter on them: its counts are
    theirs to see, not every operator's.
    """
    return not backfill.redacted and backfill.filter.get("where") is not None


def _progress(backfill: Backfill) -> dict[str, Any]:
    return {"processed": backfill.processed, "matched": backfill.matched, "started": backfill.started}


def _audit(backfill: Backfill, action: str, actor: str, data: dict[str, Any]) -> None:
    audit.record(
        action,
        actor=actor,
        object_type="backfill",
        object_id=str(backfill.pk),
        tenant=backfill.tenant,
        trace_id=backfill.trace_id,
        data=data,
    )


def _audit_raw_reads(selection: filters.Selection, actor: str, tenant: str, *, via: str) -> None:
    if selection.sensitive_paths:
        _raw_view(actor, tenant, via, sorted(selection.sensitive_paths))


def _raw_view(actor: str, tenant: str, via: str, paths: list[str]) -> None:
    """A filter read raw values of events: audited like any raw view (the paths, not the values)."""
    audit.record(
        "raw_payload.viewed", actor=actor, object_type="event", tenant=tenant, data={"via": via, "paths": paths[:50]}
    )


def _illegal(backfill: Backfill, operation: str) -> exceptions.IllegalTransition:
    return exceptions.IllegalTransition(
        f"A {backfill.status} backfill cannot {operation}.",
        details={"backfill_id": str(backfill.pk), "status": backfill.status, "reason": f"cannot_{operation}"},
    )
