"""Debounced rules: hold a key's burst of events back, then start one run, for the last of them (SPEC §14).

Routing calls :func:`defer` in its transaction for each event a debounced rule chose: it
upserts the rule's :class:`~django_automate.models.Debounce` row for the rendered key (the
new last event, ``due_at`` pushed to now + the window) and keeps one ``fire_debounce`` job
pending for the row, due at ``due_at``. :func:`fire` runs that job: if a later event pushed
``due_at``, it sleeps again until then; otherwise it starts the run and deletes the row, in
one transaction fenced by the job's lease. A burst is capped at :data:`MAX_BURST_WINDOWS`
windows from its first event: then its run starts anyway, and the next event begins a new burst.

Locks are taken in one order, the Debounce row before its job, by routers and by the job.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from django_automate import exceptions
from django_automate.models import Debounce, Event, ExecutionRun, JobKind, JobStatus, OutboxJob, RuleSpec
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.outbox.enqueue import enqueue
from django_automate.rules.matching import event_data
from django_automate.runs.starting import new_run, start_runs
from django_automate.tracing.logging import log_extra
from django_automate.workflows.templating import render_string

logger = logging.getLogger(__name__)

#: A burst longer than this many windows (from its first event) starts its run anyway.
MAX_BURST_WINDOWS = 10
#: The queue of ``fire_debounce`` jobs (they start runs, as routing does).
DEBOUNCE_QUEUE = "default"


def render_key(rule: RuleSpec, event: Event) -> str:
    """The rule's ``debounce_key`` rendered over the event (SPEC §4's data); non-text values as compact JSON."""
    value = render_string(rule.debounce_key, event_data(event))
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def defer(rule: RuleSpec, event: Event, *, using: str) -> bool:
    """In the routing transaction: add ``event`` to its key's burst; ``False`` if it must start its run now.

    A key that cannot be rendered (a missing value without ``| default(...)``) does not
    debounce: the event starts its run at once, and a warning is logged.
    """
    try:
        key = render_key(rule, event)
    except exceptions.ValidationError as exc:
        logger.warning(
            "Rule %s: the debounce key of event %s could not be rendered (%s); starting its run now",
            rule.name,
            event.id,
            exc.message,
            extra=log_extra("debounce_key_failed", rule_id=rule.pk),
        )
        return False
    key_hash = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    now = timezone.now()
    window = dt.timedelta(seconds=rule.debounce_seconds or 0)
    rows = Debounce.objects.using(using).filter(rule=rule, key_hash=key_hash)
    row = rows.select_for_update().first() if rows.exists() else None
    if row is None:
        try:
            with transaction.atomic(using=using):
                row = Debounce.objects.using(using).create(
                    tenant=event.tenant,
                    rule=rule,
                    key_hash=key_hash,
                    key=key[:255],
                    event=event,
                    first_at=now,
                    due_at=now + window,
                )
        except IntegrityError:  # another router started this burst at the same moment: join it
            row = rows.select_for_update().first()
            if row is None:
                raise
        else:
            _schedule(row, using)
            return True
    row.event = event
    row.events += 1
    row.due_at = min(now + window, row.first_at + window * MAX_BURST_WINDOWS)
    row.save(using=using, update_fields=["event", "events", "due_at"])
    _schedule(row, using)
    return True


def _schedule(row: Debounce, using: str) -> None:
    """Make the row's job due at ``row.due_at``, or write one if it has none that is pending."""
    if row.job_id is not None:
        jobs = OutboxJob.objects.using(using).filter(id=row.job_id)
        if jobs.filter(status=JobStatus.READY).update(available_at=row.due_at, updated_at=timezone.now()):
            return
        if jobs.filter(status=JobStatus.CLAIMED).exists():
            return  # being fired now: it reads the row after our commit (the row lock), and sleeps again
    job = enqueue(
        JobKind.FIRE_DEBOUNCE,
        trace_id=row.event.trace_id,
        tenant=row.tenant,
        queue=DEBOUNCE_QUEUE,
        available_at=row.due_at,
        using=using,
    )
    row.job = job
    row.save(using=using, update_fields=["job"])


def fire(job: ClaimedJob, *, using: str = "default") -> ExecutionRun | None:
    """Run a ``fire_debounce`` job: start the burst's run if it is over, else sleep until it is."""
    with transaction.atomic(using=using):
        row = (
            Debounce.objects.using(using)
            .select_for_update()
            .select_related("event", "rule__workflow")
            .filter(job_id=job.id)
            .first()
        )
        if row is None:  # the rule was deleted (and its rows with it)
            lease.complete(job, using=using)
            return None
        now = timezone.now()
        if row.due_at > now:
            lease.reschedule(job, row.due_at, None, using=using)
            return None
        rule, event = row.rule, row.event
        workflow = rule.workflow
        run = None
        startable = rule.enabled and workflow.enabled and workflow.current_version_id is not None
        started = ExecutionRun.objects.using(using).filter(event=event, workflow=workflow, replay_seq=0).exists()
        if startable and not started:
            assert workflow.current_version_id is not None
            run = new_run(event, rule, workflow.current_version_id)
            start_runs([run], using=using)
        elif not startable:
            logger.info(
                "Rule %s or its workflow is disabled (or unpublished); the debounced run of %r is dropped",
                rule.name,
                row.key,
                extra=log_extra("debounce_dropped", rule_id=rule.pk),
            )
        row.delete()
        lease.complete(job, using=using)
        return run
