"""The waterfall of a run: one row per step attempt on a time axis, in milliseconds from the run's creation.

Rows come from the stored attempts (:class:`~django_automate.models.StepRun`) and, for
``wait_for`` and ``approval`` steps, from their :class:`~django_automate.models.RunWait` rows.
Parallel branches and ``for_each`` items (``f[3]``) overlap on the axis because their times
do; every retry is a row of its own under the step's first. The run page, the trace page and
their tests read this; drawing is :mod:`django_automate.admin.drawing.waterfall`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from django_automate.models import ExecutionRun, RunWait, StepRun, StepStatus
from django_automate.runs import items

#: The ``action`` recorded on the attempts of steps that make the run wait, and their row kinds.
WAIT_ACTIONS = {"sleep": "sleep", "wait_for": "wait_for", "approval": "approval"}
#: Attempts that are still going on: their bar ends at "now" (or at the run's end).
OPEN = (StepStatus.PENDING, StepStatus.RUNNING)


@dataclass(frozen=True)
class Row:
    """One attempt: where its bar starts and ends (ms from the run's creation) and what it shows."""

    step_id: str
    attempt: int
    kind: str  # "step" | "sleep" | "wait_for" | "approval" | "for_each"
    status: str
    start_ms: int
    end_ms: int
    open: bool  # still going on: ``end_ms`` is now
    state: str = ""  # a wait's state: "until …", "resumed by …", "approve by …", "pending"
    error: str = ""
    attempt_id: str = ""

    @property
    def label(self) -> str:
        return f"{self.step_id} #{self.attempt}" if self.attempt > 1 else self.step_id

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class Waterfall:
    run_id: str
    origin: dt.datetime
    span_ms: int
    rows: list[Row] = field(default_factory=list)


def ms_between(start: dt.datetime, end: dt.datetime) -> int:
    return round((end - start).total_seconds() * 1000)


def run_waterfall(run: ExecutionRun, *, now: dt.datetime | None = None, using: str = "default") -> Waterfall:
    """The rows of ``run``'s attempts, ordered by step (first start), item and attempt."""
    now = now or timezone.now()
    attempts = list(StepRun.objects.using(using).filter(run=run.pk))
    waits = {(w.step_id, w.attempt): w for w in RunWait.objects.using(using).filter(run=run.pk)}
    origin = run.created_at
    closed = run.finished_at or now
    parents = {parsed[0] for parsed in (items.parse(a.step_id) for a in attempts) if parsed}
    rows = [_row(a, waits.get((a.step_id, a.attempt)), origin, closed, parents) for a in attempts]
    rows.sort(key=_order(rows, attempts))
    ends = [row.end_ms for row in rows]
    if run.finished_at:
        ends.append(ms_between(origin, run.finished_at))
    return Waterfall(str(run.pk), origin, max([1, *ends]), rows)


def _order(rows: list[Row], attempts: Iterable[StepRun]) -> Any:
    index = {a.step_id: a.step_index for a in attempts}
    first: dict[str, int] = {}
    for row in rows:
        base = _base(row.step_id)[0]
        first[base] = min(first.get(base, row.start_ms), row.start_ms)

    def key(row: Row) -> tuple[int, int, str, int, int]:
        base, item = _base(row.step_id)
        return (first[base], index.get(row.step_id, 0), base, item, row.attempt)

    return key


def _base(step_id: str) -> tuple[str, int]:
    """``("f", 3)`` for an item ``f[3]``; ``(step_id, -1)`` for a step, so its items follow it."""
    parsed = items.parse(step_id)
    return parsed if parsed is not None else (step_id, -1)


def _row(attempt: StepRun, wait: RunWait | None, origin: dt.datetime, closed: dt.datetime, parents: set[str]) -> Row:
    start = attempt.started_at or attempt.created_at
    is_open = attempt.status in OPEN and attempt.finished_at is None
    if attempt.finished_at is not None:
        end = attempt.finished_at
    elif attempt.duration_ms is not None and not is_open:
        end = start + dt.timedelta(milliseconds=attempt.duration_ms)
    else:
        end = max(start, closed)
    kind = "for_each" if attempt.step_id in parents else _kind(attempt)
    error = attempt.error or {}
    return Row(
        step_id=attempt.step_id,
        attempt=attempt.attempt,
        kind=kind,
        status=attempt.status,
        start_ms=ms_between(origin, start),
        end_ms=ms_between(origin, end),
        open=is_open,
        state=_state(kind, attempt, wait, origin),
        error=f"{error.get('code')}: {error.get('message')}" if error else "",
        attempt_id=str(attempt.pk),
    )


def _kind(attempt: StepRun) -> str:
    if not attempt.connector and attempt.action in WAIT_ACTIONS:
        return WAIT_ACTIONS[attempt.action]
    if isinstance(attempt.input, dict) and list(attempt.input) == ["items"] and attempt.input["items"] == 0:
        return "for_each"  # a for_each step over an empty list: no items to tell it by
    return "step"


def _state(kind: str, attempt: StepRun, wait: RunWait | None, origin: dt.datetime) -> str:
    """What a wait waits for (a sleep: until when, in ms from the run's creation), or how it ended."""
    shown = attempt.input if isinstance(attempt.input, dict) else {}
    if kind == "sleep":
        until = parse_datetime(str(shown.get("until", "")))
        return f"until +{ms_between(origin, until)} ms" if until is not None else "until ?"
    if kind == "approval":
        if wait is not None and wait.decision:
            return f"{wait.decision} by {wait.decided_by or 'the timeout'}"
        return "pending decision" if attempt.status in OPEN else "not decided"
    if kind == "wait_for":
        event_type = wait.event_type if wait is not None else shown.get("event_type", "")
        if wait is not None and wait.event_id:
            return f"{event_type}: resumed by event {wait.event_id}"
        if attempt.status in OPEN:
            return f"waiting for {event_type}"
        return f"{event_type}: timed out" if attempt.status == StepStatus.SUCCEEDED else f"{event_type}: ended"
    if kind == "for_each":
        return f"{shown.get('items')} items"
    return ""
