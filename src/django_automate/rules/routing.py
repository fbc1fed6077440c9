"""Routing: turn one Event into ExecutionRuns (one per matched workflow) and their jobs."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from django_automate import exceptions
from django_automate.models import Event, EventStatus, ExecutionRun, JobKind
from django_automate.observability import instrument
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.outbox.enqueue import enqueue
from django_automate.rules.matching import matching_rules
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)


@instrument.route
def route_event(job: ClaimedJob, *, using: str = "default") -> list[ExecutionRun]:
    """Match rules and create runs, atomically with completing the routing job.

    Several rules pointing at one workflow create one run (the highest-priority rule is
    recorded). The (event, workflow, replay_seq=0) constraint makes a second routing of the
    same event a no-op even if fencing were bypassed.
    """
    if job.event_id is None:
        raise exceptions.ValidationError("A route_event job needs an event.", details={"job_id": job.id})
    event = Event.objects.using(using).get(id=job.event_id)
    rules = matching_rules(event, using=using)
    created: list[ExecutionRun] = []
    with transaction.atomic(using=using):
        # Completing the job first is the fence: conditional on the lease, it raises LeaseLost (rolling
        # everything back) if the lease is gone, and holds the job's row lock until the commit.
        lease.complete(job, using=using)
        seen: set[object] = set()
        for rule in rules:
            workflow = rule.workflow
            if workflow.pk in seen or not workflow.enabled or workflow.current_version_id is None:
                continue
            seen.add(workflow.pk)
            run, was_created = ExecutionRun.objects.using(using).get_or_create(
                event=event,
                workflow=workflow,
                replay_seq=0,
                defaults={
                    "tenant": event.tenant,
                    "workflow_version_id": workflow.current_version_id,
                    "rule": rule,
                    "trace_id": event.trace_id,
                },
            )
            if was_created:
                enqueue(JobKind.EXECUTE_RUN, run=run, tenant=run.tenant, trace_id=run.trace_id, using=using)
                created.append(run)
                logger.info(
                    "Rule %s matched; run %s created",
                    rule.name,
                    run.id,
                    extra=log_extra("run_created", rule_id=rule.pk, run_id=run.id),
                )
        Event.objects.using(using).filter(id=event.id).update(
            status=EventStatus.ROUTED if seen else EventStatus.UNMATCHED, routed_at=timezone.now()
        )
    return created
