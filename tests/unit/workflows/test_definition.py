"""Definition validation: the SPEC §5 example passes, and every kind of problem is reported with its JSON path."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from django_automate import exceptions
from django_automate.workflows.definition import definition_problems, validate_definition
from django_automate.workflows.schema import definition_schema

SPEC_EXAMPLE: dict[str, Any] = {
    "steps": [
        {
            "id": "notify",
            "connector": "http",
            "action": "request",
            "with": {
                "method": "POST",
                "url": "https://api.example.com/orders/{{ event.payload.id }}",
                "headers": {"Authorization": "Bearer $secret:EXAMPLE_TOKEN"},
                "json": {
                    "total": "{{ event.payload.total }}",
                    "tag": {"$logic": {"cat": ["o-", {"var": "event.payload.id"}]}},
                },
            },
            "if": {"==": [{"var": "event.payload.status"}, "paid"]},
            "retry": {
                "max_attempts": 5,
                "backoff": "exponential",
                "initial_seconds": 1,
                "max_seconds": 600,
                "jitter": "full",
            },
            "timeout_seconds": 30,
            "on_failure": "fail_run",
        }
    ]
}


def log_step(step_id: str = "a", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "connector": "log", "action": "write", "with": {"message": "hi"}, **extra}


def problems(definition: Any) -> dict[str, str]:
    """path -> message (the last one, when a path has several)."""
    return {p["path"]: p["message"] for p in definition_problems(definition)}


def test_the_spec_example_is_valid():
    validate_definition(SPEC_EXAMPLE)
    assert definition_problems(SPEC_EXAMPLE) == []


def test_the_published_schema_is_valid_json_schema_and_accepts_the_spec_example():
    schema = definition_schema()
    Draft202012Validator.check_schema(schema)
    assert json.loads(json.dumps(schema)) == schema  # servable as JSON
    assert list(Draft202012Validator(schema).iter_errors(SPEC_EXAMPLE)) == []
    wrong = copy.deepcopy(SPEC_EXAMPLE)
    wrong["steps"][0]["on_failure"] = "explode"
    assert [e.json_path for e in Draft202012Validator(schema).iter_errors(wrong)] == ["$.steps[0].on_failure"]


def test_definition_schema_returns_a_copy_callers_may_change():
    definition_schema()["properties"].clear()
    assert "steps" in definition_schema()["properties"]
    validate_definition(SPEC_EXAMPLE)


def test_an_invalid_definition_raises_validation_error_listing_every_problem():
    bad = {"steps": [log_step("a"), log_step("a", on_failure="explode")], "extra": 1}
    with pytest.raises(exceptions.ValidationError) as info:
        validate_definition(bad)
    assert info.value.code == "validation_error"
    errors = info.value.details["errors"]
    assert [e["path"] for e in errors] == ["$.extra", "$.steps[1].id", "$.steps[1].on_failure"]
    assert info.value.message.startswith("The workflow definition is invalid: $.extra: ")


@pytest.mark.parametrize(
    ("definition", "path", "fragment"),
    [
        ([], "$", "must be of type object"),
        ({}, "$.steps", "steps is required"),
        ({"steps": []}, "$.steps", "at least 1 item"),
        ({"steps": {"a": 1}}, "$.steps", "must be of type array"),
        ({"steps": [log_step()], "nope": 1}, "$.nope", "Unknown key"),
        ({"steps": ["a"]}, "$.steps[0]", "must be of type object"),
        ({"steps": [{"id": "a", "action": "write"}]}, "$.steps[0].connector", "connector is required"),
        ({"steps": [{"id": "a", "connector": "log"}]}, "$.steps[0].action", "action is required"),
        ({"steps": [{"connector": "log", "action": "write"}]}, "$.steps[0].id", "id is required"),
        ({"steps": [log_step("Bad")]}, "$.steps[0].id", "must match"),
        ({"steps": [log_step("a" * 65)]}, "$.steps[0].id", "must match"),
        ({"steps": [log_step(), log_step("a")]}, "$.steps[1].id", "Duplicate step id 'a'"),
        ({"steps": [log_step(connector="nope")]}, "$.steps[0].connector", "Unknown connector 'nope'"),
        ({"steps": [log_step(action="fly")]}, "$.steps[0].action", "Unknown action 'fly'"),
        ({"steps": [log_step(**{"with": "x"})]}, "$.steps[0].with", "must be of type object"),
        ({"steps": [log_step(unknown=1)]}, "$.steps[0].unknown", "Unknown key"),
        ({"steps": [log_step(on_failure="explode")]}, "$.steps[0].on_failure", "fail_run, continue"),
        ({"steps": [log_step(timeout_seconds=0)]}, "$.steps[0].timeout_seconds", "greater than 0"),
        ({"steps": [log_step(timeout_seconds=7200)]}, "$.steps[0].timeout_seconds", "at most 3600"),
        ({"steps": [log_step(timeout_seconds="30")]}, "$.steps[0].timeout_seconds", "type number"),
        ({"steps": [log_step(retry={"max_attempts": 0})]}, "$.steps[0].retry.max_attempts", "at least 1"),
        ({"steps": [log_step(retry={"max_attempts": 2.5})]}, "$.steps[0].retry.max_attempts", "type integer"),
        ({"steps": [log_step(retry={"backoff": "linear"})]}, "$.steps[0].retry.backoff", "exponential, fixed"),
        ({"steps": [log_step(retry={"tries": 3})]}, "$.steps[0].retry.tries", "Unknown key"),
        (
            {"steps": [log_step(retry={"initial_seconds": 10, "max_seconds": 5})]},
            "$.steps[0].retry.initial_seconds",
            "must not exceed max_seconds",
        ),
        ({"steps": [log_step(**{"if": {"nope": [1]}})]}, "$.steps[0].if", "Unknown Operator"),
        ({"steps": [log_step(**{"if": {"==": [1]}})]}, "$.steps[0].if", "at least 2 arguments"),
    ],
)
def test_each_problem_is_reported_at_its_path(definition, path, fragment):
    found = problems(definition)
    assert path in found, found
    assert fragment in found[path]


def with_message(value: Any, step_id: str = "b") -> dict[str, Any]:
    """A definition whose second step writes ``value``; step ``a`` runs before it, ``c`` after it."""
    return {"steps": [log_step("a"), log_step(step_id, **{"with": {"message": value}}), log_step("c")]}


@pytest.mark.parametrize(
    ("value", "path", "fragment"),
    [
        ("{{ steps.c.output }}", "$.steps[1].with.message", "runs after this step"),
        ("{{ steps.b.output }}", "$.steps[1].with.message", "cannot read its own output"),
        ("{{ steps.zz.output }}", "$.steps[1].with.message", "There is no step 'zz'"),
        ("see {{ payload.id }}", "$.steps[1].with.message", "Unknown data root 'payload'"),
        ("{{ event.payload.id | upper }}", "$.steps[1].with.message", "Unsupported template expression"),
        ("{{ event.payload.id", "$.steps[1].with.message", "never closed"),
        ({"$logic": {"var": "steps.c.output"}}, '$.steps[1].with.message["$logic"].var', "runs after this step"),
        ({"$logic": {"nope": []}}, '$.steps[1].with.message["$logic"]', "Unknown Operator"),
        ({"$logic": 1, "x": 2}, '$.steps[1].with.message["$logic"]', "only key"),
        (["ok", {"deep": ["{{ steps.c.x }}"]}], "$.steps[1].with.message[1].deep[0]", "runs after this step"),
    ],
)
def test_templates_and_logic_in_with_are_checked_with_their_paths(value, path, fragment):
    found = problems(with_message(value))
    assert path in found, found
    assert fragment in found[path]


def test_steps_may_read_earlier_steps_and_every_documented_root():
    text = "{{ steps.a.output.logged }} {{ event.payload.x | default(1) }} {{ run.id }} {{ trace_id }}"
    logic = {"$logic": {"cat": [{"var": "steps.a.status"}, {"var": "event.type"}, {"var": ["run.version", 0]}]}}
    assert problems(with_message(text)) == {}
    assert problems(with_message(logic)) == {}


def test_step_conditions_may_read_earlier_steps_but_not_later_ones():
    definition = {"steps": [log_step("a"), log_step("b", **{"if": {"==": [{"var": "steps.a.status"}, "failed"]}})]}
    assert problems(definition) == {}
    definition["steps"][1]["if"] = {"==": [{"var": "steps.b.status"}, "x"]}
    assert "cannot read its own output" in problems(definition)['$.steps[1].if["=="][0].var']


def test_lookups_inside_iterator_bodies_read_the_item_and_are_not_checked():
    logic = {"$logic": {"map": [{"var": "event.payload.items"}, {"var": "name"}]}}
    assert problems(with_message(logic)) == {}
    outer = {"$logic": {"map": [{"var": "steps.c.output"}, {"var": "name"}]}}
    assert '$.steps[1].with.message["$logic"].map[0].var' in problems(with_message(outer))


@pytest.mark.parametrize(
    ("definition", "fragment"),
    [
        ({"steps": [log_step(**{"with": {"message": {1, 2}}})]}, "set is not a JSON value"),
        ({"steps": [log_step(timeout_seconds=float("nan"))]}, "NaN"),
        ({"steps": [log_step(**{"with": {1: "x"}})]}, "keys must be strings"),
    ],
)
def test_values_that_are_not_json_are_reported_before_anything_else(definition, fragment):
    found = definition_problems(definition)
    assert len(found) == 1 and fragment in found[0]["message"]


def test_deeply_nested_definitions_fail_cleanly():
    deep: Any = "x"
    for _ in range(10_000):
        deep = [deep]
    found = definition_problems({"steps": [log_step(**{"with": {"message": deep}})]})
    assert any("Nested deeper than 64 levels" in p["message"] for p in found)


def test_problems_come_sorted_by_path_with_numeric_indexes():
    steps = [log_step(f"s{i}") for i in range(12)]
    steps[2]["on_failure"] = steps[10]["on_failure"] = "x"
    assert [p["path"] for p in definition_problems({"steps": steps})] == [
        "$.steps[2].on_failure",
        "$.steps[10].on_failure",
    ]
