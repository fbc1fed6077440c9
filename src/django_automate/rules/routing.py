"""Routing: turn one Event into ExecutionRuns (one per matched workflow) and their jobs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from django_automate import exceptions
from django_automate.internal import sql
from django_automate.models import Event, EventStatus, ExecutionRun, JobKind, RuleSpec
from django_automate.observability import instrument
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.outbox.enqueue import enqueue, enqueue_claimed
from django_automate.policy import budgets
from django_automate.rules.matching import matching_rules
from django_automate.tracing.logging import log_extra
from django_automate.workflows.versions import get_version

logger = logging.getLogger(__name__)


#: Routing transactions tried before an IntegrityError propagates (a conflict needs a second router).
_ATTEMPTS = 3
#: The queue of run jobs.
RUN_QUEUE = "default"


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
    events = Event.objects.using(using)
    if handoff is not None:
        # Read with the event, so a handed-off run of a tenant without budgets costs no budget query.
        events = events.annotate(automate_has_budgets=budgets.presence())
    event = events.get(id=job.event_id)
    chosen: dict[object, tuple[RuleSpec, UUID]] = {}  # workflow -> its highest-priority rule, current version
    for rule in matching_rules(event, using=using):
        workflow = rule.workflow
        if workflow.pk not in chosen and workflow.enabled and workflow.current_version_id is not None:
            chosen[workflow.pk] = (rule, workflow.current_version_id)
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return _route(job, event, chosen, using, check_existing=attempt > 1, handoff=handoff)
        except IntegrityError:
            if attempt == _ATTEMPTS:
                raise
            logger.info("Event %s was routed concurrently; retrying", event.id, extra=log_extra("route_conflict"))
    raise AssertionError("unreachable")  # pragma: no cover


def _route(
    job: ClaimedJob,
    event: Event,
    chosen: dict[object, tuple[RuleSpec, UUID]],
    using: str,
    *,
    check_existing: bool,
    handoff: Handoff | None,
) -> list[ExecutionRun]:
    handed: tuple[ClaimedJob, ExecutionRun] | None = None
    with transaction.atomic(using=using):
        # Completing the job first is the fence: conditional on the lease, it raises LeaseLost (rolling
        # everything back) if the lease is gone, and holds the job's row lock until the commit.
        lease.complete(job, using=using)
        existing: set[object] = set()
        if check_existing and chosen:
            existing = set(
                ExecutionRun.objects.using(using)
                .filter(event=event, replay_seq=0, workflow__in=list(chosen))
                .values_list("workflow_id", flat=True)
            )
        created = [
            ExecutionRun(
                event=event,
                workflow=rule.workflow,
                replay_seq=0,
                tenant=event.tenant,
                workflow_version_id=version_id,
                rule=rule,
                trace_id=event.trace_id,
            )
            for pk, (rule, version_id) in chosen.items()
            if pk not in existing
        ]
        if created:
            ExecutionRun.objects.using(using).bulk_create(created)
        for run in created:
            if handoff is not None and handed is None:
                claimed = enqueue_claimed(
                    JobKind.EXECUTE_RUN,
                    worker_id=handoff.worker_id,
                    run=run,
                    tenant=run.tenant,
                    trace_id=run.trace_id,
                    queue=RUN_QUEUE,
                    using=using,
                )
                handed = (claimed, run)
            else:
                enqueue(
                    JobKind.EXECUTE_RUN, run=run, tenant=run.tenant, trace_id=run.trace_id, queue=RUN_QUEUE, using=using
                )
            logger.info(
                "Rule %s matched; run %s created",
                run.rule.name if run.rule else "",
                run.id,
                extra=log_extra("run_created", rule_id=run.rule_id, run_id=run.id),
            )
        status = EventStatus.ROUTED if chosen else EventStatus.UNMATCHED
        sql.update(Event, using, {"id": event.id}, {"status": status, "routed_at": timezone.now()})
    if handoff is not None and handed is not None:
        # Only once committed (or part of the caller's transaction): the job is the worker's.
        handoff.job, handoff.run = handed
        # What the executor reads of the run comes from memory: its event, workflow and (immutable) version.
        handoff.run.workflow_version = get_version(handoff.run.workflow_version_id, using=using)
        handoff.run.automate_has_budgets = event.automate_has_budgets  # type: ignore[attr-defined]
    return created
