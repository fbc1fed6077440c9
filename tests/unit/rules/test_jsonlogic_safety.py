"""Hostile rules fail fast with a clean ``validation_error``: no hang, no RecursionError, no attribute access.

The speed target (each under 100 ms) is measured by ``bench/rules.py``; here the bound is a
generous second so a noisy machine does not make the suite flaky.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from django_automate import exceptions
from django_automate.rules.jsonlogic import (
    JsonLogicError,
    JsonLogicEvaluationError,
    JsonLogicLimitExceeded,
    JsonLogicValidationError,
    Limits,
    compile_logic,
    evaluate,
    validate_logic,
)

GENEROUS_SECONDS = 5.0  # a hang guard on a shared machine; the speed itself is measured in bench/rules.py


@contextmanager
def fails_fast(error: type[Exception] = JsonLogicLimitExceeded, match: str | None = None) -> Iterator[None]:
    started = time.perf_counter()
    with pytest.raises(error, match=match) as raised:
        yield
    assert time.perf_counter() - started < GENEROUS_SECONDS
    assert isinstance(raised.value, exceptions.ValidationError)
    assert raised.value.code == "validation_error"


def nest(levels: int, wrap: Callable[[Any], Any], leaf: Any = True) -> Any:
    rule = leaf
    for _ in range(levels):
        rule = wrap(rule)
    return rule


DEEP_RULES = {
    "not-chain": nest(10_000, lambda inner: {"!": inner}),
    "and-chain": nest(10_000, lambda inner: {"and": [inner, True]}),
    "array-chain": nest(10_000, lambda inner: [inner]),
    "var-default-chain": nest(10_000, lambda inner: {"var": ["x", inner]}),
    "preserve-chain": {"preserve": nest(10_000, lambda inner: {"a": inner})},
}


@pytest.mark.parametrize("rule", DEEP_RULES.values(), ids=DEEP_RULES.keys())
@pytest.mark.parametrize("entry", [compile_logic, validate_logic, evaluate], ids=lambda fn: fn.__name__)
def test_rule_nested_10000_levels_is_rejected_without_recursion(rule: Any, entry: Callable[[Any], Any]) -> None:
    with fails_fast(match="nested deeper than 64 levels"):
        entry(rule)


def test_depth_error_points_at_the_offending_node() -> None:
    with pytest.raises(JsonLogicLimitExceeded) as raised:
        validate_logic(nest(100, lambda inner: {"!": inner}))
    assert raised.value.path == "/!" * 64
    assert raised.value.limit == "max_depth"


def test_rule_at_the_depth_limit_still_compiles() -> None:
    assert compile_logic(nest(63, lambda inner: [inner], leaf=1))() == nest(63, lambda inner: [inner], leaf=1)


def test_rule_with_too_many_values_is_rejected() -> None:
    with fails_fast(match="more than 10000 values"):
        compile_logic({"+": list(range(20_000))})


def test_huge_string_literal_is_rejected() -> None:
    with fails_fast(match="longer than"):
        compile_logic({"cat": ["x" * 2_000_000]})


HUGE = {"items": list(range(1_000_000))}
HUGE_INPUT_RULES = {
    "map": {"map": [{"var": "items"}, {"+": [{"var": ""}, 1]}]},
    "filter": {"filter": [{"var": "items"}, {">": [{"var": ""}, 0]}]},
    "reduce": {"reduce": [{"var": "items"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}, 0]},
    "all": {"all": [{"var": "items"}, {">=": [{"var": ""}, 0]}]},
    "some": {"some": [{"var": "items"}, {"<": [{"var": ""}, 0]}]},
    "none": {"none": [{"var": "items"}, {"<": [{"var": ""}, 0]}]},
    "missing": {"missing": {"var": "items"}},
}


@pytest.mark.parametrize("rule", HUGE_INPUT_RULES.values(), ids=HUGE_INPUT_RULES.keys())
def test_huge_iterator_input_exhausts_the_work_budget(rule: Any) -> None:
    with fails_fast(match="work budget"):
        evaluate(rule, HUGE)


def test_nested_iterators_are_charged_for_every_inner_iteration() -> None:
    rule = {"map": [{"var": "items"}, {"map": [{"val": [[2], "items"]}, {"+": [{"val": []}, 1]}]}]}
    with fails_fast(match="work budget"):
        evaluate(rule, {"items": list(range(3_000))})


def test_string_doubling_hits_the_string_cap() -> None:
    rule = {"reduce": [{"var": "items"}, {"cat": [{"var": "accumulator"}, {"var": "accumulator"}]}, "ab"]}
    with fails_fast(match="string of"):
        evaluate(rule, {"items": list(range(1_000))})


def test_array_doubling_hits_the_array_cap() -> None:
    rule = {"reduce": [{"var": "items"}, {"merge": [{"var": "accumulator"}, {"var": "accumulator"}]}, [1]]}
    with fails_fast(match="array of"):
        evaluate(rule, {"items": list(range(1_000))})


def test_scanning_a_large_string_in_a_loop_is_charged() -> None:
    rule = {"map": [{"var": "items"}, {"in": ["needle", {"val": [[2], "text"]}]}]}
    with fails_fast(match="work budget"):
        evaluate(rule, {"items": list(range(10_000)), "text": "x" * 500_000})


def test_number_growth_stays_bounded() -> None:
    rule = {"reduce": [{"var": "items"}, {"*": [{"var": "accumulator"}, {"var": "accumulator"}]}, 3]}
    started = time.perf_counter()
    assert evaluate(rule, {"items": list(range(1_000))}) == float("inf")
    assert time.perf_counter() - started < GENEROUS_SECONDS


def test_try_cannot_swallow_a_limit() -> None:
    rule = {"try": [{"map": [{"var": "items"}, {"+": [{"var": ""}, 1]}]}, "caught"]}
    with fails_fast(match="work budget"):
        evaluate(rule, HUGE)


def test_budget_is_per_evaluation_not_per_compiled_rule() -> None:
    fn = compile_logic({"map": [{"var": "items"}, {"var": ""}]}, limits=Limits(max_work=100))
    for _ in range(10):
        assert fn({"items": list(range(40))}) == list(range(40))
    with fails_fast(match="budget of 100 units"):
        fn({"items": list(range(60))})


class Secretive:
    password = "hunter2"

    def __getattr__(self, name: str) -> str:
        raise AssertionError("the engine must never read attributes")


@pytest.mark.parametrize(
    "rule",
    [
        {"var": "password"},
        {"var": "__class__.__init__.__globals__"},
        {"val": ["__class__"]},
        {"exists": "password"},
        {"missing": ["password"]},
    ],
)
def test_data_attributes_are_never_read(rule: Any) -> None:
    result = evaluate(rule, Secretive())
    assert result in (None, False, ["password"])


def test_dict_methods_are_not_reachable_through_var() -> None:
    assert evaluate({"var": "items"}, {"a": 1}) is None
    assert evaluate({"var": "__len__"}, [1, 2]) is None


def test_unknown_operator_is_rejected_before_evaluation() -> None:
    with fails_fast(JsonLogicValidationError, match="'method' is not a supported operator"):
        evaluate({"method": [{"var": "s"}, "upper"]}, {"s": "x"})


def test_log_does_no_io(capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate({"log": "hello"}) == "hello"
    assert capsys.readouterr() == ("", "")


def test_deeply_nested_data_compared_strictly_fails_cleanly() -> None:
    deep: Any = 1
    for _ in range(50_000):
        deep = [deep]
    with fails_fast(JsonLogicError):
        evaluate({"===": [{"var": "a"}, {"var": "b"}]}, {"a": deep, "b": deep})


def test_every_engine_error_is_a_validation_error() -> None:
    for error in (JsonLogicValidationError, JsonLogicEvaluationError, JsonLogicLimitExceeded):
        assert issubclass(error, JsonLogicError)
        assert issubclass(error, exceptions.ValidationError)
        assert error.code == "validation_error"
