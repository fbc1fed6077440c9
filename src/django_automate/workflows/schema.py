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
NOT_IN_SLEEP = ("connector", "action", "with", "retry", "timeout_seconds", "transaction")

_DEFINITION: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "django-automate workflow definition",
    "description": "The steps of one workflow version, run in order.",
    "type": "object",
    "properties": {
        "description": {"type": "string", "maxLength": 10000},
        "steps": {"type": "array", "minItems": 1, "maxItems": MAX_STEPS, "items": {"$ref": "#/$defs/step"}},
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
            },
            "required": ["id"],
            "additionalProperties": False,
            # A step calls a connector, or it is a sleep (which has none of the connector's keys).
            "if": {"required": ["sleep"]},
            "then": {"properties": {key: {"not": {}} for key in NOT_IN_SLEEP}},
            "else": {"required": ["connector", "action"]},
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
