"""The in-memory rule index: only rules whose type pattern can match are looked at, in priority order."""

from __future__ import annotations

import fnmatch
import logging
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from django_automate.rules.index import Condition, IndexedRule, RuleIndex, literal_prefix
from django_automate.rules.matching import type_matches


def rule(name: str, event_type: str, condition: Any = True, priority: int = 0, version: int = 1) -> IndexedRule:
    values = {"id": name, "name": name, "event_type": event_type, "condition": condition}
    return IndexedRule.from_values({**values, "priority": priority, "version": version})


def data(**payload: Any) -> dict[str, Any]:
    return {"event": {"type": "t", "payload": payload}}


def names(rules: Any) -> list[str]:
    return [r.name for r in rules]


def test_literal_prefix_is_the_text_before_the_first_wildcard() -> None:
    assert literal_prefix("order.*") == "order."
    assert literal_prefix("order.?aid") == "order."
    assert literal_prefix("order.[cp]*") == "order."
    assert literal_prefix("*.failed") == ""
    assert literal_prefix("order.created") == "order.created"


def test_exact_glob_and_catch_all_rules_are_found_for_a_type() -> None:
    index = RuleIndex(
        [
            rule("exact", "order.created"),
            rule("other-exact", "order.paid"),
            rule("prefix", "order.*"),
            rule("question", "order.?reated"),
            rule("class", "order.[cd]reated"),
            rule("negated-class", "order.[!c]reated"),
            rule("catch-all", "*.created"),
            rule("everything", "*"),
            rule("other-prefix", "invoice.*"),
            rule("longer-prefix", "order.created.*"),
        ]
    )
    assert sorted(names(index.candidates("order.created"))) == [
        "catch-all",
        "class",
        "everything",
        "exact",
        "prefix",
        "question",
    ]
    assert sorted(names(index.candidates("invoice.created"))) == ["catch-all", "everything", "other-prefix"]
    assert names(index.candidates("x")) == ["everything"]
    assert index.stats() == {"rules": 10, "exact_types": 2, "glob_prefixes": 4, "catch_all": 2}


def test_type_patterns_are_case_sensitive() -> None:
    index = RuleIndex([rule("exact", "Order.Created"), rule("glob", "order.*")])
    assert names(index.candidates("order.created")) == ["glob"]
    assert names(index.candidates("Order.Created")) == ["exact"]
    assert not type_matches("order.*", "ORDER.created")


def test_candidates_come_in_priority_then_name_order_across_buckets() -> None:
    index = RuleIndex(
        [
            rule("b-low", "*.created", priority=-1),
            rule("a-exact", "order.created", priority=5),
            rule("z-glob-high", "order.*", priority=10),
            rule("c-exact", "order.created", priority=5),
            rule("a-catch-all", "*", priority=5),
        ]
    )
    assert names(index.candidates("order.created")) == ["z-glob-high", "a-catch-all", "a-exact", "c-exact", "b-low"]


def test_match_evaluates_conditions_of_type_matched_rules_only() -> None:
    big = {">": [{"var": "event.payload.amount"}, 100]}
    index = RuleIndex(
        [
            rule("big-orders", "order.*", big),
            rule("all-orders", "order.created"),
            rule("big-invoices", "invoice.*", big),
        ]
    )
    assert names(index.match("order.created", data(amount=500))) == ["all-orders", "big-orders"]
    assert names(index.match("order.created", data(amount=5))) == ["all-orders"]
    invoices = index.get("big-invoices")
    assert invoices is not None
    assert not invoices.condition.compiled  # never needed, never compiled


def test_a_failing_or_invalid_condition_does_not_match_and_is_logged(caplog: Any) -> None:
    index = RuleIndex(
        [
            rule("nan", "order.created", {">": [{"var": "event.payload.amount"}, 1]}),
            rule("invalid", "order.created", {"frobnicate": []}),
            rule("ok", "order.created"),
        ]
    )
    with caplog.at_level(logging.WARNING, logger="django_automate.rules.index"):
        assert names(index.match("order.created", data(amount="lots"))) == ["ok"]
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "nan" in messages
    assert "invalid" in messages
    assert {getattr(record, "action", None) for record in caplog.records} == {"rule_error"}


def test_a_condition_compiles_once_and_can_be_shared_by_a_later_index() -> None:
    condition = Condition("r1", 3, {"==": [{"var": "event.payload.ok"}, True]}, "r1")
    first = RuleIndex([IndexedRule(id="r1", name="r1", event_type="a", condition=condition, version=3)])
    assert names(first.match("a", data(ok=True))) == ["r1"]
    compiled = condition.compiled
    second = RuleIndex([IndexedRule(id="r1", name="r1", event_type="a", condition=condition, version=3)])
    assert names(second.match("a", data(ok=True))) == ["r1"]
    assert compiled and condition.compiled


def test_memoised_candidates_stay_correct_for_many_types() -> None:
    index = RuleIndex([rule("glob", "t.*"), rule("exact", "t.5")])
    for round_ in range(2):  # the second round reads the memo (and the memo is emptied when full)
        for number in range(5000):
            expected = ["exact", "glob"] if number == 5 else ["glob"]
            assert names(index.candidates(f"t.{number}")) == expected, round_


PATTERN_ALPHABET = st.sampled_from(["a", "b", ".", "*", "?", "[ab]", "[!a]", "[", "]"])
TYPE_ALPHABET = st.sampled_from(["a", "b", ".", "[", "]", "!"])


@settings(max_examples=200, deadline=None)
@given(
    patterns=st.lists(st.lists(PATTERN_ALPHABET, max_size=6).map("".join), max_size=25),
    types=st.lists(st.lists(TYPE_ALPHABET, max_size=6).map("".join), min_size=1, max_size=10),
)
def test_the_index_finds_exactly_the_rules_a_full_scan_finds(patterns: list[str], types: list[str]) -> None:
    rules = [rule(f"r{number:02d}", pattern) for number, pattern in enumerate(patterns)]
    index = RuleIndex(rules)
    for event_type in types:
        expected = sorted(r.name for r in rules if fnmatch.fnmatchcase(event_type, r.event_type))
        assert sorted(names(index.candidates(event_type))) == expected
        assert all(type_matches(r.event_type, event_type) for r in index.candidates(event_type))
