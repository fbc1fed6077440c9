"""``POST rules/test/``: run :func:`django_automate.rules.explain.test_rule` for one rule or all of a tenant's.

Against a stored event, a rule that reads a sensitive key needs ``automate.view_raw_payload``
(without it :func:`~django_automate.rules.explain.test_rule` refuses the rule), and with it the
test is audited as a raw view of the event, like ``?raw=true`` on ``events/``.
"""

from __future__ import annotations

from typing import Any

from django_automate.models import Event, RuleSpec
from django_automate.rules import explain


def check_rules(
    *,
    tenant: str,
    rules: list[RuleSpec],
    event: Event | None = None,
    sample: dict[str, Any] | None = None,
    redacted: bool,
    user: Any = None,
) -> list[dict[str, Any]]:
    """One result per rule: its identity plus ``test_rule``'s verdict and explanation.

    The results together stay under :data:`~django_automate.rules.explain.MAX_EXPLANATION_BYTES`.
    """
    if event is not None and not redacted:
        explain.audit_raw_reads(user, event, rules, via="api")
    results = []
    remaining = explain.MAX_EXPLANATION_BYTES
    for rule in rules:
        verdict = explain.test_rule(
            rule=rule,
            event=event,
            payload=sample["payload"] if sample is not None else None,
            event_type=sample["type"] if sample is not None else None,
            tenant=tenant,
            redacted=redacted,
        )
        saved = not rule._state.adding
        result = {"rule_id": str(rule.pk) if saved else None, "name": rule.name, "event_type": rule.event_type}
        result.update(verdict)
        remaining -= explain.encoded_size(result, limit=remaining)
        results.append(result)
    return results


def draft_rule(values: dict[str, Any], tenant: str) -> RuleSpec:
    """An unsaved rule to try before creating it."""
    return RuleSpec(
        tenant=tenant, name="(unsaved rule)", event_type=values["event_type"], condition=values["condition"]
    )
