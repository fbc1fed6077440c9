"""Rules are validated when saved: unknown operators, wrong arity and non-JSON values get a precise path."""

from __future__ import annotations

import math
from typing import Any

import pytest

from django_automate.rules.jsonlogic import JsonLogicValidationError, compile_logic, evaluate, validate_logic


def error_for(rule: Any) -> JsonLogicValidationError:
    with pytest.raises(JsonLogicValidationError) as raised:
        validate_logic(rule)
    return raised.value


def test_valid_rule_passes() -> None:
    validate_logic({"and": [{"==": [{"var": "event.type"}, "order.created"]}, {">": [{"var": "n"}, 1]}]})


def test_unknown_operator_is_reported_with_its_json_pointer() -> None:
    error = error_for({"and": [True, {"==": [{"frobnicate": [1]}, 1]}]})
    assert error.path == "/and/1/==/0"
    assert "'frobnicate' is not a supported operator" in error.message
    assert error.details["path"] == "/and/1/==/0"
    assert error.code == "validation_error"


def test_root_errors_have_an_empty_path() -> None:
    error = error_for({"nope": []})
    assert error.path == ""
    assert "(at the root)" in error.message


def test_path_escapes_slashes_in_operator_names() -> None:
    assert error_for({"/": []}).path == "/~1"


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        ({"==": [1]}, "/==", "'==' takes at least 2 arguments, got 1"),
        ({"if": {"var": "x"}}, "/if", "'if' takes an array of arguments, not an operation ('var')"),
        ({"and": True}, "/and", "'and' takes an array of arguments, not a boolean"),
        ({"%": [1]}, "/%", "'%' takes at least 2 arguments, got 1"),
        ({"substr": ["abc"]}, "/substr", "'substr' takes 2 to 3 arguments, got 1"),
        ({"in": ["a", "b", "c"]}, "/in", "'in' takes exactly 2 arguments, got 3"),
        ({"!": [1, 2]}, "/!", "'!' takes 0 to 1 arguments, got 2"),
        ({"map": [{"var": "x"}]}, "/map", "'map' takes exactly 2 arguments, got 1"),
        ({"reduce": [[1], {"var": ""}, 0, 1]}, "/reduce", "'reduce' takes 2 to 3 arguments, got 4"),
        ({"map": [None, {"var": ""}]}, "/map/0", "first argument of 'map' must be an array"),
        ({"filter": [[1], None]}, "/filter/1", "second argument of 'filter' must be an expression"),
        ({"var": ["a", 1, 2]}, "/var", "'var' takes 0 to 2 arguments, got 3"),
        ({"val": [[1, 2], "a"]}, "/val/0", "a scope must be written [n]"),
        ({"throw": []}, "/throw", "'throw' takes exactly 1 argument, got 0"),
        ({"try": []}, "/try", "'try' takes at least 1 argument, got 0"),
        ({"missing_some": [1]}, "/missing_some", "'missing_some' takes exactly 2 arguments, got 1"),
    ],
)
def test_wrong_arguments_are_invalid_arguments(rule: Any, path: str, message: str) -> None:
    error = error_for(rule)
    assert error.path == path
    assert message in error.message
    assert error.message.startswith("Invalid Arguments: ")


def test_object_with_several_keys_is_not_an_operation() -> None:
    error = error_for({"==": [{"a": 1, "b": 2}, 1]})
    assert error.path == "/==/0"
    assert "exactly one key" in error.message
    assert "preserve" in error.message


def test_empty_object_and_preserve_are_literals() -> None:
    assert evaluate({}) == {}
    assert evaluate({"preserve": {"a": 1, "b": [{"var": "x"}]}}) == {"a": 1, "b": [{"var": "x"}]}


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        ({"==": [math.nan, 1]}, "/==/0", "nan is not a JSON number"),
        ({"+": [1, math.inf]}, "/+/1", "inf is not a JSON number"),
        ({"in": ["a", {"a", "b"}]}, "/in/1", "A set is not a JSON value"),
        ({"var": b"x"}, "/var", "A bytes is not a JSON value"),
        ({"preserve": {1: "x"}}, "/preserve", "Object keys must be strings"),
        ({"==": [object(), 1]}, "/==/0", "A object is not a JSON value"),
    ],
)
def test_non_json_values_are_rejected(rule: Any, path: str, message: str) -> None:
    error = error_for(rule)
    assert error.path == path
    assert message in error.message


def test_evaluate_rejects_non_json_rules_precisely() -> None:
    with pytest.raises(JsonLogicValidationError, match="A set is not a JSON value"):
        evaluate({"in": ["a", {"a"}]})


def test_unknown_operators_never_evaluate() -> None:
    rules: list[Any] = [{"unknown": []}, {"or": [False, {"unknown": []}]}, {"if": [True, 1, {"x": 1}]}]
    for rule in rules:
        with pytest.raises(JsonLogicValidationError, match="not a supported operator"):
            compile_logic(rule)


def test_validation_does_not_need_data() -> None:
    validate_logic({"/": [{"var": "a"}, 0]})  # division by zero is a runtime matter
