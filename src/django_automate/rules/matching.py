"""Which rules match an event: type (exact or glob) first, then the JSON Logic condition.

Routing asks the tenant's :class:`~django_automate.rules.index.RuleIndex` (cached per process,
see :mod:`django_automate.rules.cache`), which only evaluates the conditions of rules whose
type pattern matches, and hands out the matched rules with their workflows (cached alike, see
:mod:`django_automate.rules.workflow_cache`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from django_automate.models import Event, RuleSpec
from django_automate.rules import cache, generation, workflow_cache
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


def matching_rules(
    event: Event, *, using: str = "default", generations: generation.Generations | None = None
) -> list[RuleSpec]:
    """Enabled rules of the event's tenant whose type pattern and condition match, by priority, with their workflows.

    Costs one tiny query: the tenant's generations (one row read by its key). The rules come
    from the tenant's index and the workflows from their cache, both current as of that read
    (see :mod:`django_automate.rules.cache`); only a workflow not cached since it last changed
    is read, in one more query. Each call returns its own model instances. ``generations``, read
    by the caller for several events of one tenant, saves that query.
    """
    if generations is None:
        generations = generation.read(event.tenant, using=using)
    index = cache.rule_index(event.tenant, using=using, generations=generations)
    matched = index.match(event.type, event_data(event))
    if not matched:
        return []
    ids = {rule.workflow_id for rule in matched}
    workflows = workflow_cache.workflows(event.tenant, ids, using=using, generations=generations)
    result = []
    for entry in matched:
        workflow = workflows.get(entry.workflow_id)
        if workflow is None:  # deleted since (only with its rules, which protect it)
            continue
        assert entry.row is not None, "the cache builds every entry with its row"
        rule = RuleSpec.from_db(using, cache.FIELDS, entry.row)
        rule.condition = _copy_json(rule.condition)  # the caller's to change; the index's stays intact
        rule.workflow = workflow
        result.append(rule)
    return result


def _copy_json(value: Any) -> Any:
    """A deep copy of a JSON value (several times faster than ``copy.deepcopy``, which routing would feel)."""
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    return value
