"""Writing rules: validate, save (which bumps ``version``), audit. The API and admin call these."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from django_automate import exceptions
from django_automate.audit import log as audit
from django_automate.models import RuleSpec
from django_automate.rules.jsonlogic import JsonLogicError, validate_logic
from django_automate.workflows.templating import placeholders

#: Longest ``event_type`` pattern and name (the columns' lengths).
MAX_EVENT_TYPE = 255
MAX_NAME = 200
#: Longest debounce window (a day) and key template.
MAX_DEBOUNCE_SECONDS = 86400
MAX_DEBOUNCE_KEY = 255


def validate_rule(rule: RuleSpec) -> None:
    """Raise :class:`~django_automate.exceptions.ValidationError` (``details["field"]``) for an invalid rule.

    Checks the name, the type pattern, the condition (JSON Logic, with the JSON Pointer of the
    offending node in ``details["path"]``), and that the workflow belongs to the rule's tenant.
    """
    if not isinstance(rule.name, str) or not rule.name.strip():
        raise exceptions.ValidationError("A rule needs a name.", details={"field": "name"})
    if len(rule.name) > MAX_NAME:
        raise exceptions.ValidationError(f"The name is longer than {MAX_NAME} characters.", details={"field": "name"})
    validate_event_type_pattern(rule.event_type)
    try:
        validate_logic(rule.condition)
    except JsonLogicError as exc:
        exc.details.setdefault("field", "condition")
        raise
    if not isinstance(rule.priority, int) or isinstance(rule.priority, bool):
        raise exceptions.ValidationError("The priority must be an integer.", details={"field": "priority"})
    validate_debounce(rule.debounce_seconds, rule.debounce_key)
    if rule.workflow_id is None:
        raise exceptions.ValidationError("A rule needs a workflow.", details={"field": "workflow"})
    if rule.workflow.tenant != rule.tenant:
        raise exceptions.ValidationError(
            "The workflow belongs to another tenant.", details={"field": "workflow", "workflow": str(rule.workflow_id)}
        )


def validate_debounce(seconds: object, key: object) -> None:
    """``debounce_seconds`` (1-86400, or null) and ``debounce_key`` (a template over the event, required with it)."""
    if seconds is not None and (
        not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= MAX_DEBOUNCE_SECONDS
    ):
        raise exceptions.ValidationError(
            f"debounce_seconds must be an integer from 1 to {MAX_DEBOUNCE_SECONDS}, or null.",
            details={"field": "debounce_seconds"},
        )
    if key is None or key == "":
        if seconds is not None:
            raise exceptions.ValidationError(
                'A debounced rule needs a debounce_key, e.g. "{{ event.payload.id }}".',
                details={"field": "debounce_key"},
            )
        return
    if not isinstance(key, str) or len(key) > MAX_DEBOUNCE_KEY:
        raise exceptions.ValidationError(
            f"debounce_key must be a string of at most {MAX_DEBOUNCE_KEY} characters.",
            details={"field": "debounce_key"},
        )
    if seconds is None:
        raise exceptions.ValidationError("debounce_key needs debounce_seconds.", details={"field": "debounce_seconds"})
    try:
        for placeholder in placeholders(key):
            if placeholder.root != "event":
                raise exceptions.ValidationError(
                    f"{placeholder.path!r}: a debounce key reads only the event (event.payload, event.type, ...).",
                    details={"path": placeholder.path},
                )
    except exceptions.ValidationError as exc:
        raise exceptions.ValidationError(
            exc.message, details={**(exc.details or {}), "field": "debounce_key"}
        ) from None


def validate_event_type_pattern(pattern: object) -> None:
    """An exact event type or an ``fnmatch`` glob (``order.*``, ``*.failed``): 1-255 printable characters."""
    if not isinstance(pattern, str) or not pattern:
        raise exceptions.ValidationError("The event type must be a non-empty string.", details={"field": "event_type"})
    if len(pattern) > MAX_EVENT_TYPE:
        raise exceptions.ValidationError(
            f"The event type is longer than {MAX_EVENT_TYPE} characters.", details={"field": "event_type"}
        )
    if not pattern.isprintable() or pattern != pattern.strip():
        raise exceptions.ValidationError(
            "The event type must not contain control characters or surrounding spaces.",
            details={"field": "event_type"},
        )


def save_rule(rule: RuleSpec, *, actor: str) -> RuleSpec:
    """Validate and save a new or changed rule, and record ``rule.created`` / ``rule.updated`` in the audit log.

    Saving an existing rule bumps its ``version``, which every routing process notices on its
    next event (see docs/rules.md, "Matching at scale").
    """
    validate_rule(rule)
    created = rule._state.adding
    duplicate = RuleSpec.objects.filter(tenant=rule.tenant, name=rule.name).exclude(pk=rule.pk)
    if duplicate.exists():
        raise _name_taken(rule)
    with transaction.atomic():
        try:
            with transaction.atomic():
                rule.save()
        except IntegrityError as exc:  # a concurrent save took the name
            raise _name_taken(rule) from exc
        audit.record(
            "rule.created" if created else "rule.updated",
            actor=actor,
            object_type="rule",
            object_id=str(rule.pk),
            tenant=rule.tenant,
            data={
                "name": rule.name,
                "event_type": rule.event_type,
                "condition": rule.condition,
                "workflow": rule.workflow.slug,
                "priority": rule.priority,
                "enabled": rule.enabled,
                "debounce_seconds": rule.debounce_seconds,
                "debounce_key": rule.debounce_key,
                "version": rule.version,
            },
        )
    return rule


def _name_taken(rule: RuleSpec) -> exceptions.Conflict:
    return exceptions.Conflict(f"A rule named {rule.name!r} already exists.", details={"field": "name"})


def delete_rule(rule: RuleSpec, *, actor: str) -> None:
    """Delete a rule and record ``rule.deleted``; runs it created keep their history (``rule`` becomes null)."""
    with transaction.atomic():
        rule_id, name = str(rule.pk), rule.name
        rule.delete()
        audit.record(
            "rule.deleted",
            actor=actor,
            object_type="rule",
            object_id=rule_id,
            tenant=rule.tenant,
            data={"name": name, "event_type": rule.event_type},
        )
