"""Behaviour the conformance suites leave open: JavaScript-like coercions, Python pitfalls, the cache."""

from __future__ import annotations

import math
from typing import Any

import pytest

from django_automate.rules.jsonlogic import (
    JsonLogicEvaluationError,
    compile_logic,
    evaluate,
    truthy,
)
from django_automate.rules.jsonlogic import api as jsonlogic_api


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True), (False, False), (None, False), (0, False), (0.0, False), (math.nan, False), (-1, True),
        ("", False), ("0", True), ([], False), ([0], True), ({}, True), ({"a": 0}, True),
    ],
)  # fmt: skip
def test_truthy_follows_json_logic(value: Any, expected: bool) -> None:
    assert truthy(value) is expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"), (0.5, "0.5"), (-0.0, "0"), (1e21, "1e+21"), (1e-7, "1e-7"), (1.5e-6, "0.0000015"),
        (2.0**53, "9007199254740992"), (123456789012345680000.0, "123456789012345680000"), (None, ""),
        (True, "true"), (False, "false"), ([1, [2, None]], "1,2,"), ({"preserve": {"a": 1}}, '{"a":1}'),
    ],
)  # fmt: skip
def test_cat_stringifies_like_javascript(value: Any, text: str) -> None:
    assert evaluate({"cat": [value]}) == text


def test_cat_of_a_float_sum_keeps_javascript_digits() -> None:
    assert evaluate({"cat": [{"+": [0.1, 0.2]}]}) == "0.30000000000000004"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"==": [None, 0]}, True),
        ({"==": [None, False]}, True),
        ({"==": [None, ""]}, False),
        ({"==": [None, "x"]}, False),
        ({"==": [None, None]}, True),
        ({"==": [1, True]}, True),
        ({"==": ["1.0", 1]}, True),
        ({"===": [1, True]}, False),
        ({"===": [1, 1.0]}, True),
        ({"===": [[1, {"preserve": {"a": 2}}], [1, {"preserve": {"a": 2}}]]}, True),
        ({"===": [[True], [1]]}, False),
        ({"!==": [0, False]}, True),
        ({"<": ["10", "9"]}, True),  # two strings compare as strings
        ({"<": ["10", 9]}, False),  # otherwise as numbers
    ],
)
def test_equality_and_ordering(rule: Any, expected: bool) -> None:
    assert evaluate(rule) is expected


def test_loose_equality_with_a_non_numeric_string_raises_nan() -> None:
    with pytest.raises(JsonLogicEvaluationError, match="NaN") as raised:
        evaluate({"==": [{"var": "status"}, 1]}, {"status": "open"})
    assert raised.value.type == "NaN"
    assert raised.value.value == {"type": "NaN"}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"in": [1, [True]]}, False),
        ({"in": [True, [1, True]]}, True),
        ({"in": [1.0, [1]]}, True),
        ({"in": [None, [0]]}, False),
        ({"in": [1, "123"]}, True),
        ({"in": ["a", None]}, False),
        ({"in": [{"var": "t"}, ["push", "pull_request"]]}, True),
    ],
)
def test_in_uses_strict_equality_for_arrays(rule: Any, expected: bool) -> None:
    assert evaluate(rule, {"t": "push"}) is expected


@pytest.mark.parametrize(
    ("text", "number"),
    [(" 12 ", 12), ("0x10", 16), ("0b101", 5), ("1e2", 100), (".5", 0.5), ("", 0), ("Infinity", math.inf)],
)
def test_strings_convert_like_javascript_number(text: str, number: float) -> None:
    assert evaluate({"+": [text]}) == number


@pytest.mark.parametrize("text", ["1_000", "nan", "inf", "-0x10", "1,5", "٣"])
def test_strings_python_accepts_but_javascript_does_not_are_nan(text: str) -> None:
    with pytest.raises(JsonLogicEvaluationError, match="NaN"):
        evaluate({"+": [text]})


def test_integers_stay_within_javascript_range() -> None:
    assert evaluate({"*": [2**52, 4]}) == pytest.approx(2.0**54)
    assert isinstance(evaluate({"*": [2**52, 4]}), float)
    assert evaluate({"+": [2, 3]}) == 5
    assert isinstance(evaluate({"+": [2, 3]}), int)


def test_remainder_takes_the_sign_of_the_dividend() -> None:
    assert evaluate({"%": [-7, 2]}) == -1
    assert evaluate({"%": [7.5, -2]}) == 1.5


@pytest.mark.parametrize(
    ("rule", "data", "expected"),
    [
        ({"var": ["a", 5]}, {"a": None}, None),  # a present null is not replaced by the default
        ({"var": ["a", 5]}, {}, 5),
        ({"var": "a.1"}, {"a": [1, 2]}, 2),
        ({"var": "a.-1"}, {"a": [1, 2]}, None),
        ({"var": "a.5"}, {"a": [1, 2]}, None),
        ({"var": "a.b"}, {"a": "text"}, None),
        ({"val": ["a.b"]}, {"a.b": 1}, 1),
        ({"val": [[5], "x"]}, {"x": 1}, 1),  # climbing past the root stays at the root
        ({"exists": ["a", 0]}, {"a": [None]}, True),
        ({"missing": ["a", "b.c", "d"]}, {"a": "", "b": {"c": 0}, "d": None}, ["a", "d"]),
    ],
)
def test_data_access(rule: Any, data: Any, expected: Any) -> None:
    assert evaluate(rule, data) == expected


def test_lookups_accept_dict_subclasses() -> None:
    from collections import OrderedDict

    assert evaluate({"var": "a.b"}, OrderedDict(a=OrderedDict(b=3))) == 3


def test_thrown_objects_reach_try_fallbacks() -> None:
    rule = {"try": [{"throw": {"preserve": {"type": "Rejected", "code": 7}}}, {"var": "code"}]}
    assert evaluate(rule) == 7
    with pytest.raises(JsonLogicEvaluationError) as raised:
        evaluate({"throw": {"preserve": {"type": "Rejected", "code": 7}}})
    assert raised.value.type == "Rejected"
    assert raised.value.value == {"type": "Rejected", "code": 7}


def test_try_restores_scopes_after_an_error_inside_an_iterator() -> None:
    rule = {
        "map": [
            [1, 2],
            {"try": [{"map": [[0], {"/": [1, {"val": []}]}]}, {"val": [[3], "index"]}]},
        ]
    }
    assert evaluate(rule) == [0, 1]


def test_compiled_rule_is_reusable_and_keeps_no_state() -> None:
    fn = compile_logic({"reduce": [{"var": "xs"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}, 0]})
    assert [fn({"xs": list(range(n))}) for n in range(5)] == [0, 0, 1, 3, 6]


def test_compiled_rule_does_not_alias_the_source_rule() -> None:
    then: list[int] = [1, 2]
    fn = compile_logic({"if": [True, then, 3]})
    then.append(99)
    assert fn() == [1, 2]


def test_evaluate_compiles_each_distinct_rule_once() -> None:
    jsonlogic_api._compiled.cache_clear()
    for value in range(3):
        assert evaluate({"==": [{"var": "x"}, 1]}, {"x": value}) is (value == 1)
    # Same rule, keys in another order: same canonical form.
    assert evaluate({"if": [True, {"preserve": {"b": 1, "a": 2}}]}) == {"a": 2, "b": 1}
    assert evaluate({"if": [True, {"preserve": {"a": 2, "b": 1}}]}) == {"a": 2, "b": 1}
    info = jsonlogic_api._compiled.cache_info()
    assert (info.misses, info.hits) == (2, 3)
