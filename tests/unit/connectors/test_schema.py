"""Validating step input against action schemas, before rendering (partial) and after (full)."""

from __future__ import annotations

import pytest

from django_automate.connectors.http import REQUEST_SCHEMA
from django_automate.connectors.schema import is_deferred, schema_errors, schema_problems

SCHEMA = {
    "type": "object",
    "properties": {
        "count": {"type": "integer", "minimum": 1},
        "mode": {"enum": ["a", "b"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "auth": {
            "oneOf": [
                {"type": "object", "properties": {"bearer": {"type": "string"}}, "required": ["bearer"]},
                {"type": "object", "properties": {"user": {"type": "string"}}, "required": ["user"]},
            ]
        },
        "content-type": {"type": "string"},
    },
    "required": ["count"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("value", "deferred"),
    [
        ("{{ event.payload.id }}", True),
        ("Order {{ event.payload.id }}", True),
        ("Bearer $secret:TOKEN", True),
        ({"$logic": {"+": [1, 2]}}, True),
        ({"$logic": 1, "other": 2}, False),
        ("plain", False),
        (3, False),
    ],
)
def test_what_is_deferred_to_run_time(value, deferred):
    assert is_deferred(value) is deferred


def test_partial_validation_skips_deferred_values_but_checks_the_rest():
    value = {
        "count": "{{ event.payload.n }}",
        "mode": {"$logic": {"if": [True, "a", "z"]}},
        "tags": ["x", "{{ event.payload.tag }}", 3],
        "auth": {"bearer": "$secret:TOKEN"},
    }
    assert schema_errors(SCHEMA, value, "$.with", partial=True) == [
        {"path": "$.with.tags[2]", "message": "must be of type string."}
    ]
    assert schema_errors(SCHEMA, {"mode": "{{ x }}", "nope": 1}, "$.with", partial=True) == [
        {"path": "$.with.count", "message": "count is required."},
        {"path": "$.with.nope", "message": "Unknown key."},
    ]


def test_full_validation_checks_rendered_values():
    errors = schema_errors(SCHEMA, {"count": 0, "mode": "c", "content-type": 1})
    assert errors == [
        {"path": '$["content-type"]', "message": "must be of type string."},
        {"path": "$.count", "message": "must be at least 1."},
        {"path": "$.mode", "message": 'must be one of "a", "b".'},
    ]


def test_messages_never_quote_the_value():
    secret = "sk_live_very_secret_value"
    errors = schema_errors(SCHEMA, {"count": secret, "mode": secret, "auth": {"bearer": [secret]}})
    assert errors and all(secret not in e["message"] for e in errors)
    assert {"path": "$.auth.bearer", "message": "must be of type string."} in errors


def test_schema_problems():
    assert schema_problems({"type": "object"}) == []
    assert schema_problems({"type": "string"}) == ['the input schema must describe an object ("type": "object")']
    assert schema_problems({"type": "object", "properties": {"a": {"type": "nonsense"}}})[0].startswith("invalid")
    assert schema_problems([]) == ["the input schema must be a dict"]
    assert schema_problems(REQUEST_SCHEMA) == []
