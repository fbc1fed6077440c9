"""The published JSON Schema (draft 2020-12) of ``WorkflowVersion.definition`` (SPEC §5).

The schema covers the shape of a definition. What a schema cannot express (connectors and
actions that exist, unique step ids, references to earlier steps, valid JSON Logic and
templates) is checked by :func:`django_automate.workflows.definition.validate_definition`.
"""

from __future__ import annotations

import copy
from typing import Any

SCHEMA_ID = "urn:django-automate:schema:workflow-definition:1"
STEP_ID_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
MAX_STEPS = 100
MAX_TIMEOUT_SECONDS = 3600
MAX_RETRY_SECONDS = 86400
#: The longest ``sleep.seconds``: 366 days. ``sleep.until`` is not capped.
MAX_SLEEP_SECONDS = 366 * 86400
#: Keys a ``sleep`` step cannot have: it calls no connector.
NOT_IN_SLEEP = (
    "connector",
    "action",
    "with",
    "retry",
    "timeout_seconds",
    "for_each",
    "max_parallel",
    "transaction",
    "rate_limit",
)
#: The highest step ``rate_limit.per_second``.
MAX_RATE_PER_SECOND = 10000
#: The bound of a definition's ``priority`` (either sign).
MAX_PRIORITY = 1000
#: The most items of a ``for_each`` step in flight at once.
MAX_PARALLEL = 100
#: The step kinds that make a run wait instead of calling a connector (each has none of NOT_IN_SLEEP).
WAIT_KINDS = ("sleep", "wait_for", "approval")
#: The longest ``timeout_seconds`` of a ``wait_for`` or an ``approval`` (366 days), also their default.
MAX_WAIT_SECONDS = 366 * 86400
#: Where a ``wait_for`` correlation value is read in the awaited event.
CORRELATION_PATH_PATTERN = r"^(payload|headers)(\.[A-Za-z0-9_-]{1,64}){1,16}$"

_DEFINITION: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "django-automate workflow definition",
    "description": "The steps of one workflow version: in order, or as a graph of needs.",
    "type": "object",
    "properties": {
        "description": {"type": "string", "maxLength": 10000},
        "steps": {"type": "array", "minItems": 1, "maxItems": MAX_STEPS, "items": {"$ref": "#/$defs/step"}},
        "concurrency": {
            "type": "object",
            "description": "At most `limit` runs of this workflow with the same rendered `key` (a template over"
            " the event) are running or waiting at once; the others wait, in arrival order, for a slot.",
            "properties": {
                "key": {"type": "string", "minLength": 1, "maxLength": 255},
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
            },
            "required": ["key", "limit"],
            "additionalProperties": False,
        },
        "priority": {
            "type": "integer",
            "minimum": -MAX_PRIORITY,
            "maximum": MAX_PRIORITY,
            "description": "Runs of higher priority (and their steps) are claimed first among ready jobs; default 0.",
        },
    },
    "required": ["steps"],
    "additionalProperties": False,
    "$defs": {
        "step": {
            "type": "object",
            "properties": {
                "id": {
                    "type": "string",
                    "pattern": STEP_ID_PATTERN,
                    "description": "Unique within the definition; later steps read {{ steps.<id>.output }}.",
                },
                "connector": {"type": "string", "minLength": 1, "maxLength": 64},
                "action": {"type": "string", "minLength": 1, "maxLength": 64},
                "with": {
                    "type": "object",
                    "description": 'The action\'s input. Strings may hold {{ path }} placeholders; {"$logic": …} '
                    "objects are computed with JSON Logic; $secret:NAME is resolved at call time.",
                },
                "if": {"description": "JSON Logic over the run data; the step is skipped when it is false."},
                "retry": {"$ref": "#/$defs/retry"},
                "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT_SECONDS},
                "on_failure": {"enum": ["fail_run", "continue"]},
                "transaction": {
                    "type": "boolean",
                    "description": "python steps only: the function runs inside the database transaction that"
                    " records the step's success, so its ORM writes commit exactly once with it.",
                },
                "sleep": {"$ref": "#/$defs/sleep"},
                "for_each": {
                    "description": 'A list to run the step for, item by item: a template ("{{ steps.a.output.lines }}")'
                    ' or {"$logic": …}. {{ item }} and {{ item_index }} are readable in with and if; the output is'
                    " the list of the items' outputs, in item order.",
                    "anyOf": [
                        {"type": "string", "minLength": 1, "maxLength": 1024},
                        {"type": "object", "required": ["$logic"], "maxProperties": 1},
                    ],
                },
                "max_parallel": {"type": "integer", "minimum": 1, "maximum": MAX_PARALLEL},
                "needs": {
                    "type": "array",
                    "items": {"type": "string", "pattern": STEP_ID_PATTERN},
                    "maxItems": MAX_STEPS,
                    "uniqueItems": True,
                    "description": "The steps this one waits for ([] starts with the run). Without it, a step"
                    " needs the step listed before it. Steps whose needs are met run in parallel.",
                },
                "rate_limit": {"$ref": "#/$defs/rate_limit"},
                "wait_for": {"$ref": "#/$defs/wait_for"},
                "approval": {"$ref": "#/$defs/approval"},
            },
            "required": ["id"],
            "additionalProperties": False,
            "dependentRequired": {"max_parallel": ["for_each"]},
            # A step calls a connector, or it waits (sleep, wait_for, approval: one of them, and none
            # of the connector's keys).
            "allOf": [
                {
                    "if": {"required": [kind]},
                    "then": {"properties": {key: {"not": {}} for key in (*NOT_IN_SLEEP, *WAIT_KINDS) if key != kind}},
                }
                for kind in WAIT_KINDS
            ],
            "if": {"anyOf": [{"required": [kind]} for kind in WAIT_KINDS]},
            "else": {"required": ["connector", "action"]},
        },
        "wait_for": {
            "type": "object",
            "description": "Wait, holding no worker, for the first event of event_type (same tenant, received"
            " after the run was created) whose value at correlate.path equals correlate.value (a template"
            " allowed) and for which `if` (JSON Logic over {event}) holds; or until timeout_seconds.",
            "properties": {
                "event_type": {"type": "string", "minLength": 1, "maxLength": 255},
                "correlate": {
                    "type": "object",
                    "properties": {
                        "path": {"type": "string", "pattern": CORRELATION_PATH_PATTERN, "maxLength": 255},
                        "value": {"description": "The value to equal, usually a template."},
                    },
                    "required": ["path", "value"],
                    "additionalProperties": False,
                },
                "if": {"description": "JSON Logic over {event}: the candidate event must also satisfy it."},
                "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_WAIT_SECONDS},
            },
            "required": ["event_type", "correlate"],
            "additionalProperties": False,
        },
        "approval": {
            "type": "object",
            "description": "Wait, holding no worker, for a person holding `permission` to approve or reject"
            " (API or admin); on timeout, `on_timeout` decides.",
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 500},
                "permission": {"type": "string", "pattern": r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$", "maxLength": 150},
                "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_WAIT_SECONDS},
                "on_timeout": {"enum": ["reject", "approve"]},
            },
            "required": ["title"],
            "additionalProperties": False,
        },
        "sleep": {
            "type": "object",
            "description": 'Wait, holding no worker: {"seconds": n} or {"until": ISO 8601 date-time with offset}'
            " (a template allowed). A time already past does not wait.",
            "properties": {
                "seconds": {"type": "number", "minimum": 0, "maximum": MAX_SLEEP_SECONDS},
                "until": {"type": "string", "minLength": 1, "maxLength": 1024},
            },
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": False,
        },
        "rate_limit": {
            "type": "object",
            "description": "Calls sharing the rendered key (within the tenant) are spread across every worker so"
            " that at most per_second start per second, after an initial burst (default: per_second rounded up);"
            " a step held back is delayed, not failed.",
            "properties": {
                "key": {"type": "string", "minLength": 1, "maxLength": 255},
                "per_second": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_RATE_PER_SECOND},
                "burst": {"type": "integer", "minimum": 1},
            },
            "required": ["key", "per_second"],
            "additionalProperties": False,
        },
        "retry": {
            "type": "object",
            "properties": {
                "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100},
                "backoff": {"enum": ["exponential", "fixed"]},
                "initial_seconds": {"type": "number", "minimum": 0, "maximum": MAX_RETRY_SECONDS},
                "max_seconds": {"type": "number", "minimum": 0, "maximum": MAX_RETRY_SECONDS},
                "jitter": {"enum": ["full", "none"]},
            },
            "additionalProperties": False,
        },
    },
}


def definition_schema() -> dict[str, Any]:
    """A fresh copy of the definition's JSON Schema (callers may serialise or modify it)."""
    return copy.deepcopy(_DEFINITION)


def schema() -> dict[str, Any]:
    """The shared, read-only schema object (validators cache compiled schemas by identity)."""
    return _DEFINITION
