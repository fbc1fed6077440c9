"""explain() shows which sub-expression decided a result, for the "test this rule" API."""

from __future__ import annotations

import pytest

from django_automate.rules.jsonlogic import JsonLogicValidationError, explain

RULE = {
    "and": [
        {"==": [{"var": "event.type"}, "order.created"]},
        {">": [{"var": "event.payload.amount"}, 100]},
        {"in": [{"var": "event.payload.currency"}, ["usd", "eur"]]},
    ]
}
EVENT = {"event": {"type": "order.created", "payload": {"amount": 50, "currency": "usd"}}}


def test_tree_shows_the_deciding_predicate_and_skipped_ones() -> None:
    tree = explain(RULE, EVENT)
    assert tree["op"] == "and"
    assert tree["value"] is False
    first, second, third = tree["args"]
    assert first["value"] is True
    assert second == {
        "op": ">",
        "args": [{"op": "var", "args": [{"value": "event.payload.amount"}], "value": 50}, {"value": 100}],
        "value": False,
    }
    assert third["skipped"] is True
    assert "value" not in third


def test_nodes_inside_iterators_report_their_evaluation_count() -> None:
    tree = explain({"some": [{"var": "items"}, {">": [{"var": "qty"}, 2]}]}, {"items": [{"qty": 1}, {"qty": 3}]})
    assert tree["value"] is True
    body = tree["args"][1]
    assert body["evaluations"] == 2
    assert body["value"] is True


def test_errors_are_reported_on_the_failing_node() -> None:
    tree = explain({"or": [False, {"/": [1, {"var": "zero"}]}]}, {"zero": 0})
    failing = tree["args"][1]
    assert failing["error"]["type"] == "NaN"
    assert tree["error"]["type"] == "NaN"
    assert tree["args"][0]["value"] is False


def test_explain_matches_evaluation_for_scoped_rules() -> None:
    tree = explain({"map": [[1, 2, 3], {"+": [{"val": []}, {"val": [[1], "index"]}]}]}, None)
    assert tree["value"] == [1, 3, 5]


def test_explain_still_validates() -> None:
    with pytest.raises(JsonLogicValidationError):
        explain({"nope": 1}, {})
