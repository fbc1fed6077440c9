"""The data templates and step conditions see while a run executes."""

from __future__ import annotations

from typing import Any

from django_automate.models import ExecutionRun
from django_automate.rules.matching import event_data


def run_data(run: ExecutionRun) -> dict[str, Any]:
    """``{"event": …, "run": {"id": …}, "trace_id": …, "steps": {}}``; steps fill in as they finish."""
    data = event_data(run.event)
    data["run"] = {
        "id": str(run.id),
        "workflow": run.workflow.slug,
        "version": run.workflow_version.number,
        "replay_of": str(run.replay_of_id) if run.replay_of_id else None,
        "tenant": run.tenant,
    }
    data["trace_id"] = run.trace_id
    data["steps"] = {}
    return data
