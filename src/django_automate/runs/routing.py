"""Routing: turn one Event into ExecutionRuns (one per matched workflow) and their jobs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from django_automate import exceptions
from django_automate.internal import sql
from django_automate.models import Event, EventStatus, ExecutionRun, RuleSpec
from django_automate.observability import instrument, otel
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.policy import budgets
from django_automate.rules import generation
from django_automate.rules.matching import matching_rules
from django_automate.runs import debounce, wait_for
from django_automate.runs.starting import RUN_QUEUE as RUN_QUEUE
from django_automate.runs.starting import new_run, start_runs
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra
from django_automate.workflows.versions import get_version

logger = logging.getLogger(__name__)


#: Routing transactions tried before an IntegrityError propagates (a conflict needs a second router).
_ATTEMPTS = 3


@dataclass
class Handoff:
    """Asks routing to give the first run it creates to this worker, its job already claimed.

    After the commit, ``job`` (with ``run``, ready to execute) is the worker's own: it skips a
    claim, a NOTIFY and a wake-up, and the run's first step starts at once. The other runs of
    the event are queued as usual, for any worker.
    """

    worker_id: str
    job: ClaimedJob | None = None
    run: ExecutionRun | None = None


@dataclass
class _Routing:
    """One event to route: its claimed job, the event, and workflow -> (its highest-priority rule, current version)."""

    job: ClaimedJob
    event: Event
    chosen: dict[object, tuple[RuleSpec, UUID]]


@instrument.route
def route_event(job: ClaimedJob, *, using: str = "default", handoff: Handoff | None = None) -> list[ExecutionRun]:
    """Match rules and create runs, atomically with completing the routing job.

    Several rules pointing at one workflow create one run (the highest-priority rule is
    recorded). The runs are inserted in one statement; the (event, workflow, replay_seq=0)
    constraint makes a second routing of the same event a no-op even if fencing were
    bypassed: its insert fails, the transaction rolls back and is tried again without the
    runs that exist by then.
    """
    if job.event_id is None:
        raise exceptions.ValidationError("A route_event job needs an event.", details={"job_id": job.id})
    event = _events(using, handoff).get(id=job.event_id)
    return _route_all([_Routing(job, event, _choose(event, using))], using, handoff)


def route_events(jobs: list[ClaimedJob], *, using: str = "default", handoff: Handoff | None = None) -> list[UUID]:
    """Route several claimed routing jobs in one transaction: :func:`route_event` for each, with shared writes.

    The jobs complete, the runs and their jobs are inserted and the events marked, one
    statement each for the whole batch, and all of it commits together (or nothing does).
    Each event still gets its own ``automate.route`` span and log records under its trace.
    Returns the ids of the events routed; a job whose event is missing is left to the caller
    (:func:`route_event` gives it its error), as is the whole batch when this raises.
    """
    ids = [job.event_id for job in jobs if job.event_id is not None]
    events = {event.id: event for event in _events(using, handoff).filter(id__in=ids)}
    items = []
    # One read of the routing generations per tenant: the batch is routed as of that moment.
    tenants = {tenant: generation.read(tenant, using=using) for tenant in {event.tenant for event in events.values()}}
    for job in jobs:
        event = events.get(job.event_id) if job.event_id is not None else None
        if event is None:
            continue
        with (
            context.bind(trace_id=job.trace_id or None, event_id=event.id),
            otel.span(otel.ROUTE, attributes={"automate.event_id": event.id, "automate.job_id": job.id}) as span,
        ):
            chosen = _choose(event, using, tenants[event.tenant])
            span.set(**{"automate.runs_created": len(chosen), "automate.batch_size": len(jobs)})
        items.append(_Routing(job, event, chosen))
    if items:
        _route_all(items, using, handoff)
    return [item.event.id for item in items]


def _events(using: str, handoff: Handoff | None) -> QuerySet[Event]:
    events = Event.objects.using(using)
    if handoff is not None:
        # Read with the event, so a handed-off run of a tenant without budgets costs no budget query.
        events = events.annotate(automate_has_budgets=budgets.presence())
    return events


def _choose(
    event: Event, using: str, generations: generation.Generations | None = None
) -> dict[object, tuple[RuleSpec, UUID]]:
    """The workflows the event starts: each enabled one with a published version, with its highest-priority rule."""
    chosen: dict[object, tuple[RuleSpec, UUID]] = {}
    for rule in matching_rules(event, using=using, generations=generations):
        workflow = rule.workflow
        if workflow.pk not in chosen and workflow.enabled and workflow.current_version_id is not None:
            chosen[workflow.pk] = (rule, workflow.current_version_id)
    return chosen


def _route_all(items: list[_Routing], using: str, handoff: Handoff | None) -> list[ExecutionRun]:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return _route(items, using, check_existing=attempt > 1, handoff=handoff)
        except IntegrityError:
            if attempt == _ATTEMPTS:
                raise
            logger.info(
                "Events %s were routed concurrently; retrying",
                ", ".join(str(item.event.id) for item in items),
                extra=log_extra("route_conflict"),
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _route(items: list[_Routing], using: str, *, check_existing: bool, handoff: Handoff | None) -> list[ExecutionRun]:
    with transaction.atomic(using=using):
        # Completing the jobs first is the fence: conditional on the leases, it raises LeaseLost (rolling
        # everything back) if one is gone, and holds the jobs' row locks until the commit.
        lease.complete_all([item.job for item in items], using=using)
        existing: set[tuple[object, object]] = set()
        if check_existing and any(item.chosen for item in items):
            existing = set(
                ExecutionRun.objects.using(using)
                .filter(event__in=[item.event.id for item in items], replay_seq=0)
                .values_list("event_id", "workflow_id")
            )
        created: list[ExecutionRun] = []
        for item in items:
            for pk, (rule, version_id) in item.chosen.items():
                if (item.event.id, pk) in existing:
                    continue
                if rule.debounce_seconds and debounce.defer(rule, item.event, using=using):
                    continue  # its run starts when the key's burst is over
                created.append(new_run(item.event, rule, version_id, using=using))
        handed = start_runs(created, using=using, worker_id=handoff.worker_id if handoff is not None else None)
        now = timezone.now()
        for status, ids in (
            (EventStatus.ROUTED, [item.event.id for item in items if item.chosen]),
            (EventStatus.UNMATCHED, [item.event.id for item in items if not item.chosen]),
        ):
            if ids:
                where = {"id": ids[0]} if len(ids) == 1 else {"id__in": ids}
                sql.update(Event, using, where, {"status": status, "routed_at": now})
        # Runs waiting for these events (``wait_for``) go on: found by index, their jobs made due.
        wait_for.resume_waiting([item.event for item in items], using=using)
    if handoff is not None and handed is not None:
        # Only once committed (or part of the caller's transaction): the job is the worker's.
        handoff.job, handoff.run = handed
        # What the executor reads of the run comes from memory: its event, workflow and (immutable) version.
        handoff.run.workflow_version = get_version(handoff.run.workflow_version_id, using=using)
        handoff.run.automate_has_budgets = handoff.run.event.automate_has_budgets  # type: ignore[attr-defined]
    return created
