"""``POST rules/test/``: run :func:`django_automate.rules.explain.test_rule` for one rule or all of a tenant's."""

from __future__ import annotations

from typing import Any

from django_automate.models import Event, RuleSpec
from django_automate.rules.explain import test_rule


def check_rules(
    *,
    tenant: str,
    rules: list[RuleSpec],
    event: Event | None = None,
    sample: dict[str, Any] | None = None,
    redacted: bool,
) -> list[dict[str, Any]]:
    """One result per rule: its identity plus ``test_rule``'s verdict and explanation."""
    results = []
    for rule in rules:
        verdict = test_rule(
            rule=rule,
            event=event,
            payload=sample["payload"] if sample is not None else None,
            event_type=sample["type"] if sample is not None else None,
            tenant=tenant,
            redacted=redacted,
        )
        saved = not rule._state.adding
        results.append(
            {"rule_id": str(rule.pk) if saved else None, "name": rule.name, "event_type": rule.event_type, **verdict}
        )
    return results


def draft_rule(values: dict[str, Any], tenant: str) -> RuleSpec:
    """An unsaved rule to try before creating it."""
    return RuleSpec(
        tenant=tenant, name="(unsaved rule)", event_type=values["event_type"], condition=values["condition"]
    )
