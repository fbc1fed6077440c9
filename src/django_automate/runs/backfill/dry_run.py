"""The dry run: how many events a filter selects, a sample, and per workflow what replaying them would start.

It reads only. The events are read in chunks (keyset pagination), the filter's condition and
the current rules are evaluated in Python, and the runs that exist already are counted per chunk.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count, Q

from django_automate.models import Event, ExecutionRun
from django_automate.rules import generation
from django_automate.runs.backfill import planning
from django_automate.runs.backfill.filters import Selection

#: Events read per query.
CHUNK = 1000
#: Events shown in the sample.
SAMPLE_SIZE = 10


@dataclass(frozen=True)
class WorkflowForecast:
    """One workflow: runs the current rules would start, against what ran for the same events before."""

    workflow: str  # slug
    would_start: int
    ran_originally: int  # the events' first runs of this workflow (replay_seq 0)
    runs_so_far: int  # all their runs of this workflow, replays included


@dataclass(frozen=True)
class DryRun:
    matched: int  # events the whole filter selects
    scanned: int  # events its fields (all but the condition) select
    would_start: int  # runs in all
    workflows: list[WorkflowForecast]
    sample: list[Event] = field(default_factory=list)
    seconds: float = 0.0


def dry_run(selection: Selection, *, sample_size: int = SAMPLE_SIZE, using: str = "default") -> DryRun:
    """Count what replaying ``selection``'s events would start now, without writing anything."""
    began = time.monotonic()
    scanned = matched = 0
    sample: list[Event] = []
    would: Counter[str] = Counter()
    original: Counter[str] = Counter()
    so_far: Counter[str] = Counter()
    for chunk in selection.chunks(size=CHUNK, using=using):
        scanned += len(chunk)
        generations = generation.read(selection.tenant, using=using)
        chosen = [event for event in chunk if selection.matches(event)]
        matched += len(chosen)
        sample.extend(chosen[: max(0, sample_size - len(sample))])
        for event in chosen:
            for rule, _version in planning.plan(event, using=using, generations=generations).values():
                would[rule.workflow.slug] += 1
        if chosen:
            rows = (
                ExecutionRun.objects.using(using)
                .filter(event_id__in=[event.id for event in chosen])
                .values("workflow__slug")
                .annotate(original=Count("id", filter=Q(replay_seq=0)), runs=Count("id"))
                .order_by()
            )
            for row in rows:
                original[row["workflow__slug"]] += row["original"]
                so_far[row["workflow__slug"]] += row["runs"]
    workflows = [
        WorkflowForecast(slug, would[slug], original[slug], so_far[slug]) for slug in sorted({*would, *so_far})
    ]
    return DryRun(matched, scanned, sum(would.values()), workflows, sample, time.monotonic() - began)
