"""The ordered timeline of everything that happened under one trace_id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django_automate.models import AuditEntry, Event, ExecutionRun, StepRun


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # "event" | "run" | "step" | "audit"
    at: Any
    data: dict[str, Any] = field(default_factory=dict)


def _duration_ms(start: Any, end: Any) -> int | None:
    if start is None or end is None:
        return None
    return int((end - start).total_seconds() * 1000)


def trace_timeline(trace_id: str, *, using: str = "default") -> list[TimelineEntry]:
    """Events, rule matches, runs, step attempts and audit entries of ``trace_id``, oldest first."""
    entries: list[TimelineEntry] = []
    for event in Event.objects.using(using).filter(trace_id=trace_id):
        entries.append(
            TimelineEntry(
                "event",
                event.received_at,
                {"id": str(event.id), "type": event.type, "source": event.source, "status": event.status},
            )
        )
    runs = (
        ExecutionRun.objects.using(using)
        .filter(trace_id=trace_id)
        .select_related("workflow", "workflow_version", "rule")
    )
    for run in runs:
        entries.append(
            TimelineEntry(
                "run",
                run.created_at,
                {
                    "id": str(run.id),
                    "event_id": str(run.event_id),
                    "rule": run.rule.name if run.rule else None,
                    "workflow": run.workflow.slug,
                    "version": run.workflow_version.number,
                    "status": run.status,
                    "duration_ms": _duration_ms(run.started_at, run.finished_at),
                    "error": run.error,
                },
            )
        )
    for step in StepRun.objects.using(using).filter(trace_id=trace_id).order_by("created_at", "step_index", "attempt"):
        entries.append(
            TimelineEntry(
                "step",
                step.started_at or step.created_at,
                {
                    "id": str(step.id),
                    "run_id": str(step.run_id),
                    "step_id": step.step_id,
                    "connector": step.connector,
                    "action": step.action,
                    "attempt": step.attempt,
                    "status": step.status,
                    "duration_ms": step.duration_ms,
                    "error": step.error,
                },
            )
        )
    for audit in AuditEntry.objects.using(using).filter(trace_id=trace_id):
        entries.append(TimelineEntry("audit", audit.created_at, {"action": audit.action, "actor": audit.actor}))
    order = {"event": 0, "run": 1, "step": 2, "audit": 3}
    entries.sort(key=lambda e: (e.at, order[e.kind]))
    return entries
