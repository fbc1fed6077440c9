"""Operator actions on runs and events: replay, retry from the failed step, cancel.

The API, the admin and ``manage.py automate`` call these, so every path gets the same
checks, audit entries and jobs.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from django_automate import exceptions
from django_automate.audit import log as audit
from django_automate.models import Event, ExecutionRun, JobKind, JobStatus, OutboxJob, RunStatus
from django_automate.observability.dashboard import rollups
from django_automate.outbox.enqueue import enqueue
from django_automate.rules.matching import matching_rules
from django_automate.runs import concurrency, states
from django_automate.workflows.versions import get_version, priority_of

#: The error of an attempt left running by a worker that died, closed when its run is cancelled.
CANCELLED_ATTEMPT = {"code": "run_cancelled", "message": "The run was cancelled before this attempt finished."}


def replay_event(event: Event, *, actor: str) -> list[ExecutionRun]:
    """Run the workflows that the event's rules match *now* again, as new runs marked ``replay_of``.

    Each replay run is pinned to the workflow's current version and gets the next
    ``replay_seq`` for its (event, workflow), so replays never collide with the original run.
    """
    runs: list[ExecutionRun] = []
    for attempt in range(5):
        try:
            with transaction.atomic():
                runs = _replay(event, actor)
            break
        except IntegrityError:
            if attempt == 4:
                raise exceptions.Conflict("The event is being replayed concurrently; try again.") from None
    return runs


def replay_events(events: QuerySet[Event], *, actor: str, limit: int = 10_000) -> dict[str, list[ExecutionRun]]:
    """Bulk replay: each event of ``events`` (oldest first, at most ``limit``) replayed on its own."""
    if events.count() > limit:
        raise exceptions.ValidationError(
            f"The filter matches more than {limit} events; narrow it down, or replay them with a backfill "
            "(POST events/replay/, Backfills in the admin, manage.py automate replay).",
            details={"limit": limit},
        )
    return {str(event.id): replay_event(event, actor=actor) for event in events.order_by("received_at", "id")}


def _replay(event: Event, actor: str) -> list[ExecutionRun]:
    runs: list[ExecutionRun] = []
    seen: set[object] = set()
    for rule in matching_rules(event):
        workflow = rule.workflow
        if workflow.pk in seen or not workflow.enabled or workflow.current_version_id is None:
            continue
        seen.add(workflow.pk)
        previous = ExecutionRun.objects.filter(event=event, workflow=workflow)
        last = previous.order_by("-replay_seq").first()
        next_seq = (previous.aggregate(n=Max("replay_seq"))["n"] or 0) + 1 if last else 0
        run = ExecutionRun.objects.create(
            tenant=event.tenant,
            event=event,
            workflow=workflow,
            workflow_version_id=workflow.current_version_id,
            rule=rule,
            replay_of=last,
            replay_seq=next_seq,
            trace_id=event.trace_id,
            concurrency_key=concurrency.key_for(
                get_version(workflow.current_version_id).definition, event, workflow.pk, event.tenant
            ),
        )
        priority = priority_of(run.workflow_version_id)
        enqueue(JobKind.EXECUTE_RUN, run=run, tenant=run.tenant, trace_id=run.trace_id, priority=priority)
        runs.append(run)
    audit.record(
        "event.replayed",
        actor=actor,
        object_type="event",
        object_id=str(event.id),
        tenant=event.tenant,
        trace_id=event.trace_id,
        data={"runs": [str(r.id) for r in runs]},
    )
    return runs


def retry_run(run: ExecutionRun, *, actor: str) -> ExecutionRun:
    """Resume a failed run from its failed step; succeeded steps are not run again."""
    with transaction.atomic():
        locked = ExecutionRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != RunStatus.FAILED:
            raise exceptions.IllegalTransition(
                f"Only failed runs can be retried; this one is {locked.status}.",
                details={"run_id": str(run.pk), "status": locked.status},
            )
        rollups.forget_run(locked, using=locked._state.db or "default")  # the dashboard counted it as failed
        states.transition(locked, RunStatus.RUNNING, error=None, finished_at=None)
        priority = priority_of(locked.workflow_version_id)
        enqueue(JobKind.EXECUTE_RUN, run=locked, tenant=locked.tenant, trace_id=locked.trace_id, priority=priority)
        audit.record(
            "run.retried",
            actor=actor,
            object_type="run",
            object_id=str(run.pk),
            tenant=run.tenant,
            trace_id=run.trace_id,
        )
    return locked


def cancel_run(run: ExecutionRun, *, actor: str) -> ExecutionRun:
    """Cancel a pending, running or waiting run; a step in flight finishes, no further step starts.

    A waiting (sleeping) run's job is ready for later, so it is cancelled here with the open sleep attempt.
    """
    with transaction.atomic():
        locked = ExecutionRun.objects.select_for_update().get(pk=run.pk)
        states.transition(locked, RunStatus.CANCELLED)
        OutboxJob.objects.filter(run=locked, status=JobStatus.READY).update(
            status=JobStatus.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now()
        )
        # No retry follows now. A step in flight finishes: a worker holding the job closes its own
        # attempt; with no job held, an attempt still marked running was abandoned by a dead worker.
        held = OutboxJob.objects.filter(run=locked, status=JobStatus.CLAIMED).exists()
        states.close_open_attempts(locked, error=CANCELLED_ATTEMPT, running=not held)
        audit.record(
            "run.cancelled",
            actor=actor,
            object_type="run",
            object_id=str(run.pk),
            tenant=run.tenant,
            trace_id=run.trace_id,
        )
    concurrency.release(locked)  # its slot, if it held one, goes to the next run of its key
    return locked
