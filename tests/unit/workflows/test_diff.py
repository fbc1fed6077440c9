"""Diffs between definitions: JSON-path changes (steps matched by id) and a unified text diff."""

from __future__ import annotations

import copy
from typing import Any

from django_automate.workflows.diff import diff_definitions, unified_diff


def step(step_id: str, message: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "connector": "log", "action": "write", "with": {"message": message}, **extra}


OLD = {"steps": [step("a"), step("b", timeout_seconds=30)]}


def test_identical_definitions_have_no_changes_and_an_empty_text_diff():
    assert diff_definitions(OLD, copy.deepcopy(OLD)) == []
    assert unified_diff(OLD, copy.deepcopy(OLD)) == ""


def test_changed_added_and_removed_values_are_reported_by_path():
    new = copy.deepcopy(OLD)
    new["steps"][1]["timeout_seconds"] = 10
    new["steps"][1]["on_failure"] = "continue"
    del new["steps"][0]["with"]
    new["description"] = "nightly"
    assert diff_definitions(OLD, new) == [
        {"op": "added", "path": "$.description", "new": "nightly"},
        {"op": "removed", "path": "$.steps[0].with", "old": {"message": "hi"}},
        {"op": "added", "path": "$.steps[1].on_failure", "new": "continue"},
        {"op": "changed", "path": "$.steps[1].timeout_seconds", "old": 30, "new": 10},
    ]


def test_inserting_a_step_reports_one_added_step_not_a_change_of_every_later_step():
    new = {"steps": [step("first"), *copy.deepcopy(OLD["steps"])]}
    assert diff_definitions(OLD, new) == [{"op": "added", "path": "$.steps[0]", "new": step("first")}]


def test_removing_a_step_reports_it_at_its_old_index():
    new = {"steps": [copy.deepcopy(OLD["steps"][1])]}
    assert diff_definitions(OLD, new) == [{"op": "removed", "path": "$.steps[0]", "old": step("a")}]


def test_reordering_reports_the_moved_step_only():
    old = {"steps": [step("a"), step("b"), step("c")]}
    new = {"steps": [step("b"), step("c"), step("a", "changed")]}
    assert diff_definitions(old, new) == [
        {"op": "moved", "path": "$.steps[2]", "old": 0, "new": 2},
        {"op": "changed", "path": "$.steps[2].with.message", "old": "hi", "new": "changed"},
    ]


def test_lists_without_ids_are_compared_by_index_and_types_matter():
    old = {"steps": [step("a", tags=[1, 2, 3])]}
    new = {"steps": [step("a", tags=[1.0, True])]}
    assert diff_definitions(old, new) == [
        {"op": "changed", "path": "$.steps[0].tags[1]", "old": 2, "new": True},
        {"op": "removed", "path": "$.steps[0].tags[2]", "old": 3},
    ]


def test_keys_that_are_not_identifiers_are_quoted_in_paths():
    old = {"steps": [step("a", **{"with": {"headers": {"X-Trace": "1"}}})]}
    new = {"steps": [step("a", **{"with": {"headers": {"X-Trace": "2"}}})]}
    assert diff_definitions(old, new)[0]["path"] == '$.steps[0].with.headers["X-Trace"]'


def test_unified_diff_shows_the_changed_lines_of_the_pretty_json():
    new = copy.deepcopy(OLD)
    new["steps"][1]["timeout_seconds"] = 10
    text = unified_diff(OLD, new, old_label="v1", new_label="v2")
    assert text.startswith("--- v1\n+++ v2\n")
    assert '-      "timeout_seconds": 30,\n' in text
    assert '+      "timeout_seconds": 10,\n' in text
