"""What replaying an event starts now: one run per workflow its *current* rules match, as ``replay_event`` does.

The dry run counts these runs and the batches create them, through the same two functions, so
the dry run's prediction is what a backfill of the same events starts (rules unchanged between).
"""

from __future__ import annotations

from uuid import UUID

from django_automate.models import Event, ExecutionRun, RuleSpec
from django_automate.rules import generation
from django_automate.rules.matching import matching_rules
from django_automate.runs.starting import new_run

#: workflow pk -> (its highest-priority matching rule, the workflow's current version id).
Plan = dict[object, tuple[RuleSpec, UUID]]


def plan(event: Event, *, using: str = "default", generations: generation.Generations | None = None) -> Plan:
    """The workflows the event's current rules start: each enabled one with a published version, once."""
    chosen: Plan = {}
    for rule in matching_rules(event, using=using, generations=generations):
        workflow = rule.workflow
        if workflow.pk not in chosen and workflow.enabled and workflow.current_version_id is not None:
            chosen[workflow.pk] = (rule, workflow.current_version_id)
    return chosen


def replay_runs(planned: list[tuple[Event, Plan]], *, using: str = "default") -> list[ExecutionRun]:
    """Unsaved runs for ``planned``: each the next ``replay_seq`` of its (event, workflow), ``replay_of`` the last.

    An (event, workflow) that never ran gets its first run (``replay_seq`` 0). The unique
    (event, workflow, replay_seq) constraint turns a concurrent replay of the same event into an
    IntegrityError instead of a duplicate.
    """
    ids = [event.id for event, chosen in planned if chosen]
    if not ids:
        return []
    last: dict[tuple[object, object], tuple[int, UUID]] = {}
    rows = (
        ExecutionRun.objects.using(using)
        .filter(event_id__in=ids)
        .values_list("event_id", "workflow_id", "replay_seq", "id")
    )
    for event_id, workflow_id, seq, run_id in rows:
        key = (event_id, workflow_id)
        if key not in last or seq > last[key][0]:
            last[key] = (seq, run_id)
    runs = []
    for event, chosen in planned:
        for pk, (rule, version_id) in chosen.items():
            run = new_run(event, rule, version_id, using=using)
            previous = last.get((event.id, pk))
            if previous is not None:
                run.replay_seq, run.replay_of_id = previous[0] + 1, previous[1]
            runs.append(run)
    return runs
