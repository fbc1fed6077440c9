"""``for_each`` steps: one attempt chain per item, at most ``max_parallel`` in flight, outputs in item order.

The step's own job renders the list (at most ``AUTOMATE["MAX_ITEMS"]`` items), records the
step's attempt ``running`` with ``input = {"items": n}`` and writes a job for each of the
first ``max_parallel`` items, all in one transaction. An item runs like any step (its
attempts are recorded under ``<step_id>[<index>]``, with their own retries and the
idempotency key ``<run_id>:<step_id>:<index>``), then, under the lock on the run's row,
starts the next items so that ``max_parallel`` stay in flight. When every item has finished
the step's attempt closes ``succeeded`` with the list of the items' outputs (``None`` for an
item whose ``if`` was false), and the run advances (:mod:`django_automate.runs.graph`). An
item that fails for good fails the step: items not started never start, items in flight
finish and are recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from django_automate import conf, exceptions
from django_automate.internal import sql
from django_automate.models import ExecutionRun, JobKind, JobStatus, OutboxJob, StepRun, StepStatus
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.outbox.enqueue import enqueue
from django_automate.policy.redaction import redact
from django_automate.runs import states
from django_automate.runs.steps import (
    Outcome,
    StepCall,
    fail_attempt,
    new_attempt,
    record_attempt,
    settled,
    start_run,
)
from django_automate.workflows.templating import render
from django_automate.workflows.versions import priority_of

ITEM = re.compile(r"^(?P<step>[a-z][a-z0-9_]{0,63})\[(?P<index>[0-9]{1,7})\]$")
DEFAULT_MAX_PARALLEL = 10
#: Keys of a ``for_each`` step that belong to the step, not to each item's attempts.
STEP_ONLY = ("for_each", "max_parallel", "needs", "on_failure")
LIVE = (JobStatus.READY, JobStatus.CLAIMED)


def item_id(step_id: str, index: int) -> str:
    return f"{step_id}[{index}]"


def parse(step_id: str) -> tuple[str, int] | None:
    """``("lines", 3)`` for the item id ``lines[3]``; None for a step's own id."""
    match = ITEM.match(step_id)
    return (match["step"], int(match["index"])) if match else None


def render_items(step: dict[str, Any], data: dict[str, Any]) -> list[Any]:
    """The list ``step["for_each"]`` gives for ``data``; ValidationError if it is not a list or too long."""
    try:
        items = render(step["for_each"], data)
    except exceptions.AutomateError as exc:
        exc.details = {**(exc.details or {}), "field": "for_each"}
        raise
    if not isinstance(items, list):
        raise exceptions.ValidationError(
            f"for_each gave {type(items).__name__}, not a list.", details={"field": "for_each"}
        )
    limit = conf.max_items()
    if len(items) > limit:
        raise exceptions.ValidationError(
            f"for_each gave {len(items)} items; at most {limit} are allowed (MAX_ITEMS).",
            details={"field": "for_each", "items": len(items), "limit": limit},
        )
    return items


def item_call(call: StepCall, index: int, item: Any, history: list[StepRun]) -> StepCall:
    """The call of one item: the step without its step-only keys, reading ``item`` and ``item_index``."""
    step = {key: value for key, value in call.step.items() if key not in STEP_ONLY}
    step["id"] = item_id(call.step_id, index)
    data = {**call.data, "item": item, "item_index": index}
    key = f"{call.run.id}:{call.step_id}:{index}"
    return StepCall(
        job=call.job,
        run=call.run,
        index=call.index,
        step=step,
        data=data,
        using=call.using,
        history=history,
        budgets=call.budgets,
        key=key,
    )


def expand(call: StepCall) -> Outcome:
    """The step's own job: record its attempt and start the first items (``Outcome.WAITING``: the items go on)."""
    done = settled(call)  # an attempt left running by a run that failed meanwhile is closed here first
    if done is not None:
        return done
    attempt = len(call.history) + 1
    try:
        items = render_items(call.step, call.data)
    except exceptions.AutomateError as exc:
        return fail_attempt(call, attempt, {"code": exc.code, "message": exc.message, "details": exc.details})
    if not items:
        record_attempt(call, attempt, StepStatus.SUCCEEDED, input={"items": 0}, output=[])
        call.data["steps"][call.step_id] = {"status": "succeeded", "output": []}
        return Outcome.SUCCEEDED
    parent = new_attempt(call, attempt, StepStatus.RUNNING, input={"items": len(items)})
    with transaction.atomic(using=call.using):
        ExecutionRun.objects.using(call.using).select_for_update().values_list("status", flat=True).get(pk=call.run.pk)
        lease.fence(call.job, using=call.using)
        start_run(call.run, using=call.using)
        sql.insert(parent, call.using)
        state = ItemState.read(call.run, parent, len(items), call.using, exclude_job=call.job.id)
        _start_next(call.run, call.step, state, call.using)
        lease.complete(call.job, using=call.using)
    return Outcome.WAITING


@dataclass
class ItemState:
    """What the items of one ``for_each`` step have done so far (read under the lock on the run)."""

    count: int
    finished: dict[int, Any] = field(default_factory=dict)  # index -> output
    failed: dict[int, Any] = field(default_factory=dict)  # index -> error
    attempted: set[int] = field(default_factory=set)
    live: set[int] = field(default_factory=set)

    @classmethod
    def read(cls, run: ExecutionRun, parent: StepRun, count: int, using: str, *, exclude_job: int) -> ItemState:
        """The items of ``parent``'s step; an item that failed before ``parent`` started (a retried run) runs again."""
        state = cls(count)
        prefix = f"{parent.step_id}["
        rows = StepRun.objects.using(using).filter(run=run.pk, step_id__startswith=prefix).order_by("attempt")
        last: dict[int, tuple[str, Any, Any, Any]] = {}
        for sid, status, output, error, finished_at in rows.values_list(
            "step_id", "status", "output", "error", "finished_at"
        ):
            parsed = parse(sid)
            if parsed is not None and parsed[1] < count:
                last[parsed[1]] = (status, output, error, finished_at)
        since = parent.started_at
        for index, (status, output, error, finished_at) in last.items():
            if status == StepStatus.FAILED and since is not None and finished_at is not None and finished_at < since:
                continue  # failed in an earlier round of the step: this round runs it again
            state.attempted.add(index)
            if status == StepStatus.SUCCEEDED:
                state.finished[index] = output
            elif status == StepStatus.SKIPPED:
                state.finished[index] = None
            elif status == StepStatus.FAILED:
                state.failed[index] = error
        jobs = OutboxJob.objects.using(using).filter(
            run=run.pk, kind=JobKind.EXECUTE_STEP, step_id__startswith=prefix, status__in=LIVE
        )
        for sid in jobs.exclude(id=exclude_job).values_list("step_id", flat=True):
            parsed = parse(sid)
            if parsed is not None:
                state.live.add(parsed[1])
                state.failed.pop(parsed[1], None)  # in flight again (a retry): not failed for good
        return state


def _start_next(run: ExecutionRun, step: dict[str, Any], state: ItemState, using: str) -> None:
    """Write jobs for the next items not started, up to ``max_parallel`` in flight."""
    room = int(step.get("max_parallel", DEFAULT_MAX_PARALLEL)) - len(state.live)
    waiting = (i for i in range(state.count) if i not in state.attempted and i not in state.live)
    for index in list(waiting)[: max(0, room)]:
        enqueue(
            JobKind.EXECUTE_STEP,
            run=run,
            step_id=item_id(str(step["id"]), index),
            tenant=run.tenant,
            trace_id=run.trace_id,
            priority=priority_of(run.workflow_version_id, using=using),
            using=using,
        )


def after_item(job: ClaimedJob, run: ExecutionRun, step: dict[str, Any], using: str) -> bool:
    """Inside the advance's transaction (the run locked): start more items or close the step.

    True when the step closed (the run advances next); False when items go on (the job is completed here).
    """
    step_id = str(step["id"])
    parent = StepRun.objects.using(using).filter(run=run.pk, step_id=step_id).order_by("-attempt").first()
    if parent is None or parent.status != StepStatus.RUNNING:
        lease.complete(job, using=using)  # the step closed already (a repeated advance)
        return False
    count = int((parent.input or {}).get("items", 0))
    state = ItemState.read(run, parent, count, using, exclude_job=job.id)
    duration_ms = max(0, int((timezone.now() - (parent.started_at or timezone.now())).total_seconds() * 1000))
    if state.failed:
        index = min(state.failed)
        error = state.failed[index] or {}
        failure = {
            "code": error.get("code", "item_failed"),
            "message": f"Item {index} failed: {error.get('message', '')}",
            "details": {"item_index": index},
        }
        _cancel_waiting_items(run, step_id, job, using)
        states.close_step(parent, StepStatus.FAILED, using=using, error=failure, duration_ms=duration_ms)
        return True
    if len(state.finished) == count:
        outputs = redact([state.finished[i] for i in range(count)])
        states.close_step(parent, StepStatus.SUCCEEDED, using=using, output=outputs, duration_ms=duration_ms)
        return True
    _start_next(run, step, state, using)
    lease.complete(job, using=using)
    return False


def _cancel_waiting_items(run: ExecutionRun, step_id: str, job: ClaimedJob, using: str) -> None:
    now = timezone.now()
    waiting = OutboxJob.objects.using(using).filter(
        run=run.pk, kind=JobKind.EXECUTE_STEP, step_id__startswith=f"{step_id}[", status=JobStatus.READY
    )
    cancelled = list(waiting.exclude(id=job.id).values_list("id", "step_id"))
    OutboxJob.objects.using(using).filter(id__in=[pk for pk, _ in cancelled]).update(
        status=JobStatus.CANCELLED, finished_at=now, updated_at=now
    )
    for _, sid in cancelled:  # an item waiting for its retry: that retry will not come
        states.close_open_attempts(run, using=using, error=states.ENDED_ATTEMPT, step_id=sid)
