"""Explaining rules: "does this rule match this event, and which predicate decided?" and
"which of the recent events would this rule have matched?".

Services for ``POST /automate/api/v1/rules/test/`` and the admin's rule page; they read only
(but for the audit entry of a raw test, :func:`audit_raw_reads`).
"""

from __future__ import annotations

import heapq
import json
from typing import Any

from django.utils import timezone

from django_automate import exceptions
from django_automate.models import Event, RuleSpec
from django_automate.policy import raw
from django_automate.policy.redaction import REDACTED, is_sensitive, redact
from django_automate.rules import reads
from django_automate.rules.index import glob_matcher, is_glob, literal_prefix
from django_automate.rules.jsonlogic import JsonLogicError, compile_logic, explain, truthy, validate_logic
from django_automate.rules.matching import event_data, type_matches
from django_automate.rules.services import validate_event_type_pattern
from django_automate.tracing import context

#: Largest ``limit`` of :func:`would_have_matched`.
MAX_LIMIT = 1000
#: Event types per query when a glob matches many types.
TYPES_PER_QUERY = 500
#: ``source`` of the sample event built from a payload.
SAMPLE_SOURCE = "test"
#: Largest explanation (JSON bytes) one rule test returns: a small rule can build large values.
MAX_EXPLANATION_BYTES = 1_000_000
RAW_PERMISSION = raw.PERMISSION


class ExplanationTooLarge(exceptions.ValidationError):
    """The explanation is larger than a rule test may return."""

    code = "explanation_too_large"


def test_rule(
    *,
    rule: RuleSpec | None = None,
    condition: Any = None,
    event_type: str | None = None,
    event: Event | None = None,
    payload: Any = None,
    tenant: str = "",
    redacted: bool = True,
) -> dict[str, Any]:
    """Evaluate a rule (or an ad-hoc ``condition``) against an Event or a sample ``payload``.

    Returns ``{"matched", "type_matched", "condition_matched", "explanation", "error"}``:
    ``matched`` is what routing would decide for an enabled rule (type pattern and condition);
    ``explanation`` is the tree of :func:`~django_automate.rules.jsonlogic.explain`; ``error`` is
    ``None`` or ``{"type", "message"}`` when evaluating failed (routing treats that as "no
    match"). An ad-hoc condition has no type pattern, so ``type_matched`` is true.

    A ``payload`` becomes a sample event of type ``event_type`` (default: the rule's type when
    it is not a glob) in the rule's tenant (or ``tenant`` for a condition).

    With ``redacted`` (for callers without ``automate.view_raw_payload``), a condition that
    reads a sensitive key of a stored event is refused before it runs
    (:class:`~django_automate.exceptions.PermissionDenied` with ``details["path"]``): its verdict
    alone would reveal the value, one comparison at a time. Objects in the tree are still
    redacted by key. Invalid input (both or neither of rule/condition or event/payload, an
    invalid condition, an event of another tenant) raises
    :class:`~django_automate.exceptions.ValidationError` with ``details["field"]``; so does a
    result JSON cannot carry (a non-finite number) or one over :data:`MAX_EXPLANATION_BYTES`
    (:class:`ExplanationTooLarge`).
    """
    if (rule is None) == (condition is None):
        raise _invalid("Give either a rule or a condition.", "rule")
    if (event is None) == (payload is None):
        raise _invalid("Give either an event or a payload.", "event")
    logic = rule.condition if rule is not None else condition
    scope = rule.tenant if rule is not None else tenant
    if rule is not None:
        validate_event_type_pattern(rule.event_type)
    try:
        validate_logic(logic)
    except JsonLogicError as exc:
        exc.details.setdefault("field", "condition")
        raise
    if event is not None:
        if event_type is not None:
            raise _invalid("event_type applies to a payload, not to a stored event.", "event_type")
        if event.tenant != scope:
            raise _invalid("The event belongs to another tenant.", "event")
        data = event_data(event)
        if redacted:
            _refuse_sensitive_reads(logic, data)
    else:
        data = _sample(rule, payload, event_type, scope)
    sample_type = data["event"]["type"]
    type_matched = rule is None or type_matches(rule.event_type, sample_type)
    tree = explain(logic, data)
    error = tree.get("error")
    condition_matched = error is None and truthy(tree.get("value"))
    result = {
        "matched": type_matched and condition_matched,
        "type_matched": type_matched,
        "condition_matched": condition_matched,
        "explanation": _redact_tree(tree) if redacted else tree,
        "error": error,
    }
    encoded_size(result)
    return result


test_rule.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, whatever its name


def sensitive_reads(rule: RuleSpec | None, event: Event, condition: Any = None) -> list[str]:
    """The sensitive paths of ``event`` the rule's (or ``condition``'s) condition reads (see :mod:`.reads`).

    Testing such a rule shows the values under them (through its verdict, explanation or
    errors), so it needs ``automate.view_raw_payload``, and callers audit it as a raw view.
    """
    logic = rule.condition if rule is not None else condition
    try:
        validate_logic(logic)
    except JsonLogicError:
        return []  # test_rule refuses it before evaluating anything
    return reads.sensitive_reads(logic, event_data(event))


def audit_raw_reads(user: Any, event: Event, rules: list[RuleSpec], *, via: str) -> list[str]:
    """Audit a raw view of ``event`` when the ``rules`` read its sensitive keys; return those paths.

    For callers with ``automate.view_raw_payload``, before they test the rules unredacted:
    ``via`` is ``"api"`` or ``"admin"``.
    """
    by_rule = {rule.name: sensitive_reads(rule, event) for rule in rules}
    paths = sorted({path for found in by_rule.values() for path in found})
    if paths:
        read_by = [name for name, found in by_rule.items() if found]
        raw.record_raw_view(
            user,
            event,
            trace_id=context.current_trace_id() or None,  # else the event's
            data={"via": f"rule_test:{via}", "paths": paths, "rules": read_by},
        )
    return paths


def encoded_size(result: Any, limit: int | None = None) -> int:
    """The size in bytes of ``result`` as JSON; a clear error when it cannot be returned.

    A condition may compute a number JSON cannot represent (``{"*": [1e308, 10]}`` is infinity)
    or a value far larger than itself (``merge`` and ``map`` of the data): both are answered as
    validation errors rather than failing while the response is rendered.
    """
    bound = MAX_EXPLANATION_BYTES if limit is None else limit
    try:
        text = json.dumps(result, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        raise exceptions.ValidationError(
            "The condition computed a number JSON cannot represent (infinity or NaN); the explanation "
            "cannot be returned.",
            details={"field": "condition", "reason": "non_finite_number"},
        ) from None
    size = len(text.encode())
    if size > bound:
        raise ExplanationTooLarge(
            f"The explanation would be {size} bytes; a rule test returns at most {bound}. "
            "Test fewer rules or a condition that builds smaller values.",
            details={"field": "condition", "limit": bound, "size": size},
        )
    return size


def _refuse_sensitive_reads(logic: Any, data: dict[str, Any]) -> None:
    paths = reads.sensitive_reads(logic, data)
    if paths:
        raise exceptions.PermissionDenied(
            f"The condition reads {paths[0]}, a redacted value of the event: testing it against a stored "
            f"event needs the permission {RAW_PERMISSION}.",
            details={"permission": RAW_PERMISSION, "required": [RAW_PERMISSION], "path": paths[0], "paths": paths},
        )


def would_have_matched(rule: RuleSpec, *, limit: int = 100) -> list[str]:
    """Ids of the events, among the last ``limit`` stored events of the rule's tenant whose type
    matches its pattern, that the rule's condition matches; newest first.

    Enabled or not, the rule is judged as it is now (an unsaved edit included). Events whose
    evaluation fails do not match.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise _invalid(f"limit must be an integer from 1 to {MAX_LIMIT}.", "limit")
    validate_event_type_pattern(rule.event_type)
    try:
        fn = compile_logic(rule.condition)
    except JsonLogicError as exc:
        exc.details.setdefault("field", "condition")
        raise
    matched = []
    for event in _recent_events(rule, limit):
        try:
            if truthy(fn(event_data(event))):
                matched.append(str(event.id))
        except JsonLogicError:
            continue
    return matched


def _recent_events(rule: RuleSpec, limit: int) -> list[Event]:
    """The last ``limit`` events of the rule's tenant whose type matches its pattern, newest first."""
    events = Event.objects.filter(tenant=rule.tenant).order_by("-received_at", "-id")
    if not is_glob(rule.event_type):
        return list(events.filter(type=rule.event_type)[:limit])
    prefix = literal_prefix(rule.event_type)
    candidates = Event.objects.filter(tenant=rule.tenant)
    if prefix:
        candidates = candidates.filter(type__startswith=prefix)
    match = glob_matcher(rule.event_type)
    # distinct types first (the type index answers it), so the events query is exact
    types = sorted({t for t in candidates.order_by().values_list("type", flat=True).distinct() if match(t)})
    found: list[Event] = []
    for start in range(0, len(types), TYPES_PER_QUERY):
        found.extend(events.filter(type__in=types[start : start + TYPES_PER_QUERY])[:limit])
    return heapq.nlargest(limit, found, key=lambda e: (e.received_at, str(e.id)))


def _sample(rule: RuleSpec | None, payload: Any, event_type: str | None, tenant: str) -> dict[str, Any]:
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise _invalid("The payload is not JSON.", "payload") from exc
    if event_type is None:
        if rule is not None and is_glob(rule.event_type):
            raise _invalid("Give an event_type for the payload: the rule's type is a glob.", "event_type")
        event_type = rule.event_type if rule is not None else ""
    if not isinstance(event_type, str):
        raise _invalid("event_type must be a string.", "event_type")
    return {
        "event": {
            "id": None,
            "type": event_type,
            "source": SAMPLE_SOURCE,
            "tenant": tenant,
            "payload": payload,
            "headers": {},
            "received_at": timezone.now().isoformat(),
        }
    }


def _redact_tree(node: dict[str, Any]) -> dict[str, Any]:
    """Redact what the tree shows of the data: reads of sensitive keys, and objects by key."""
    result = dict(node)
    if "args" in result:
        result["args"] = [_redact_tree(arg) for arg in result["args"]]
    if "array" in result:
        result["array"] = [_redact_tree(item) for item in result["array"]]
    if "value" in result:
        op = result.get("op")
        if op in ("var", "val") and _reads_sensitive_key(op, result.get("args", [])):
            result["value"] = REDACTED
        elif isinstance(result["value"], (dict, list)):
            result["value"] = redact(result["value"])
    return result


def _reads_sensitive_key(op: str, args: list[dict[str, Any]]) -> bool:
    """Whether a literal ``var``/``val`` path names a sensitive key (``var``'s 2nd argument is a default)."""
    paths = [arg.get("value") for arg in (args[:1] if op == "var" else args)]
    return any(is_sensitive(key) for path in paths if isinstance(path, str) for key in path.split(".") if key)


def _invalid(message: str, field: str) -> exceptions.ValidationError:
    return exceptions.ValidationError(message, details={"field": field})
