"""Which rules match an event: type (exact or glob) first, then the JSON Logic condition.

Routing asks the tenant's :class:`~django_automate.rules.index.RuleIndex` (cached per process,
see :mod:`django_automate.rules.cache`), which only evaluates the conditions of rules whose
type pattern matches, then loads the matched rules with their workflows from the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from django_automate.models import Event, RuleSpec
from django_automate.rules import cache
from django_automate.rules.index import Condition, glob_matcher, is_glob

#: Compiled conditions kept for :func:`condition_holds`, by (rule id, version).
CONDITION_CACHE_SIZE = 4096
_conditions: OrderedDict[tuple[Hashable, int], Condition] = OrderedDict()
_conditions_lock = threading.Lock()


def event_data(event: Event) -> dict[str, Any]:
    """The data a rule condition sees (SPEC §4)."""
    return {
        "event": {
            "id": str(event.id),
            "type": event.type,
            "source": event.source,
            "tenant": event.tenant,
            "payload": event.payload,
            "headers": event.headers,
            "received_at": event.received_at.isoformat() if event.received_at else None,
        }
    }


def type_matches(pattern: str, event_type: str) -> bool:
    """Whether ``event_type`` matches a rule's ``event_type``: equal, or matched by the glob (case-sensitive)."""
    if is_glob(pattern):
        return glob_matcher(pattern)(event_type) is not None
    return pattern == event_type


def compiled_condition(rule: RuleSpec) -> Condition:
    """The rule's condition, compiled once per (rule id, version).

    The cached entry is reused only while it still holds the rule's current ``condition``,
    so an edited but unsaved instance is never judged by its old condition.
    """
    key = (rule.pk, rule.version)
    with _conditions_lock:
        condition = _conditions.get(key)
        if condition is not None and condition.logic == rule.condition:
            _conditions.move_to_end(key)
            return condition
    condition = Condition(rule.pk, rule.version, rule.condition, rule.name)
    with _conditions_lock:
        _conditions[key] = condition
        while len(_conditions) > CONDITION_CACHE_SIZE:
            _conditions.popitem(last=False)
    return condition


def condition_holds(rule: RuleSpec, data: dict[str, Any]) -> bool:
    """Evaluate the rule's condition; an evaluation error means "no match" and is logged."""
    return compiled_condition(rule).holds(data)


def matching_rules(event: Event, *, using: str = "default") -> list[RuleSpec]:
    """Enabled rules of the event's tenant whose type pattern and condition match, by priority.

    Costs one small query for the rules generation, plus one that loads the matched rules with
    their workflows (only when something matched), so what routing reads of a workflow is
    never older than the event. A rule changed after the index was read is judged again
    by its current row.
    """
    index = cache.rule_index(event.tenant, using=using)
    data = event_data(event)
    matched = index.match(event.type, data)
    if not matched:
        return []
    rows: dict[Any, RuleSpec] = {
        row.pk: row
        for row in RuleSpec.objects.using(using)
        .filter(pk__in=[rule.id for rule in matched], tenant=event.tenant, enabled=True)
        .select_related("workflow")
    }
    result = []
    for rule in matched:
        row = rows.get(rule.id)
        if row is None:  # deleted or disabled since the index was read
            continue
        if row.version == rule.version or (type_matches(row.event_type, event.type) and condition_holds(row, data)):
            result.append(row)
    return result
