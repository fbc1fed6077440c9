"""Starting runs: insert them with their ``execute_run`` jobs, in the caller's transaction (routing, debounce)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django_automate.models import ExecutionRun, JobKind
from django_automate.outbox.claim import ClaimedJob
from django_automate.outbox.enqueue import enqueue_claimed, enqueue_runs
from django_automate.runs import concurrency
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra
from django_automate.workflows.versions import get_version, priority_of

if TYPE_CHECKING:
    from uuid import UUID

    from django_automate.models import Event, RuleSpec

logger = logging.getLogger(__name__)

#: The queue of run jobs.
RUN_QUEUE = "default"


def new_run(event: Event, rule: RuleSpec, version_id: UUID, *, using: str = "default") -> ExecutionRun:
    """The first run of ``event`` by ``rule``'s workflow, pinned to ``version_id``; not saved yet."""
    return ExecutionRun(
        event=event,
        workflow=rule.workflow,
        replay_seq=0,
        tenant=event.tenant,
        workflow_version_id=version_id,
        rule=rule,
        trace_id=event.trace_id,
        concurrency_key=concurrency.key_for(
            get_version(version_id, using=using).definition, event, rule.workflow_id, event.tenant
        ),
    )


def start_runs(
    runs: list[ExecutionRun], *, using: str, worker_id: str | None = None
) -> tuple[ClaimedJob, ExecutionRun] | None:
    """Insert ``runs`` (one statement) and their jobs; with ``worker_id``, the first one's job is claimed for it.

    Runs of a workflow with a concurrency key take a free slot now (``concurrency.admit_created``).

    Returns that claimed job and its run (a hand-off, see ``routing.Handoff``), else ``None``.
    """
    if not runs:
        return None
    ExecutionRun.objects.using(using).bulk_create(runs)
    concurrency.admit_created(runs, using=using)
    handed: tuple[ClaimedJob, ExecutionRun] | None = None
    queued = runs
    if worker_id is not None:
        run = runs[0]
        claimed = enqueue_claimed(
            JobKind.EXECUTE_RUN,
            worker_id=worker_id,
            run=run,
            tenant=run.tenant,
            trace_id=run.trace_id,
            queue=RUN_QUEUE,
            priority=priority_of(run.workflow_version_id, using=using),
            using=using,
        )
        handed, queued = (claimed, run), runs[1:]
    priorities = [priority_of(run.workflow_version_id, using=using) for run in queued]
    enqueue_runs(queued, queue=RUN_QUEUE, using=using, priorities=priorities)
    for run in runs:
        with context.bind(trace_id=run.trace_id or None, event_id=run.event_id):
            logger.info(
                "Rule %s matched; run %s created",
                run.rule.name if run.rule else "",
                run.id,
                extra=log_extra("run_created", rule_id=run.rule_id, run_id=run.id),
            )
    return handed
