"""Which rules match an event: type (exact or glob) first, then the JSON Logic condition."""

from __future__ import annotations

import fnmatch
import functools
import logging
from collections.abc import Callable
from typing import Any

from django_automate import exceptions
from django_automate.internal.jsonutil import canonical_json
from django_automate.models import Event, RuleSpec
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)


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
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(event_type, pattern)
    return pattern == event_type


@functools.lru_cache(maxsize=4096)
def _compiled(rule_id: str, version: int, condition_json: str) -> Callable[[Any], Any]:
    import json

    from django_automate.rules.jsonlogic import compile_logic

    return compile_logic(json.loads(condition_json))


def condition_holds(rule: RuleSpec, data: dict[str, Any]) -> bool:
    """Evaluate the rule's condition; an evaluation error means "no match" and is logged."""
    from django_automate.rules.jsonlogic import truthy

    try:
        fn = _compiled(str(rule.pk), rule.version, canonical_json(rule.condition))
        return truthy(fn(data))
    except exceptions.AutomateError as exc:
        logger.warning(
            "Rule %s failed to evaluate: %s", rule.name, exc.message, extra=log_extra("rule_error", rule_id=rule.pk)
        )
        return False


def matching_rules(event: Event, *, using: str = "default") -> list[RuleSpec]:
    """Enabled rules of the event's tenant whose type pattern and condition match, by priority."""
    candidates = (
        RuleSpec.objects.using(using)
        .filter(tenant=event.tenant, enabled=True)
        .select_related("workflow")
        .order_by("-priority", "name")
    )
    data = event_data(event)
    return [r for r in candidates if type_matches(r.event_type, event.type) and condition_holds(r, data)]
