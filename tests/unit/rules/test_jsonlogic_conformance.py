"""The community JSON Logic conformance suites (json-logic/compat-tables): all 1,138 cases must pass.

The suites are read from ``<repo>/../shared/conformance/jsonlogic/suites`` through their
``index.json``; when the folder is missing the test fails instead of skipping.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.rules.jsonlogic_support import SUITES_DIR, load_suites, same_json

from django_automate.rules.jsonlogic import JsonLogicError, compile_logic, evaluate

EXPECTED_CASES = 1138
SUITES = load_suites()
CASES = [pytest.param(case, id=case_id) for case_id, case in SUITES] or [pytest.param(None, id="suites-missing")]


def test_all_suites_are_present() -> None:
    assert (SUITES_DIR / "index.json").is_file(), f"JSON Logic conformance suites not found in {SUITES_DIR}"
    assert len(SUITES) == EXPECTED_CASES


@pytest.mark.parametrize("case", CASES)
def test_conformance(case: dict[str, Any] | None) -> None:
    assert case is not None, f"JSON Logic conformance suites not found in {SUITES_DIR}"
    rule, data = case["rule"], case.get("data")
    if "error" in case:
        expected = case["error"]["type"].lower()
        for fold in (True, False):
            with pytest.raises(JsonLogicError) as raised:
                compile_logic(rule, fold=fold)(data)
            seen = f"{type(raised.value).__name__} {getattr(raised.value, 'type', '')} {raised.value}".lower()
            assert expected in seen, f"expected error {expected!r}, got {seen!r}"
            assert raised.value.code == "validation_error"
        return
    actual = compile_logic(rule)(data)
    assert same_json(actual, case["result"]), f"{actual!r} != {case['result']!r}"
    # Without constant folding every operator runs at evaluation time: same results.
    assert same_json(compile_logic(rule, fold=False)(data), case["result"])
    assert same_json(evaluate(rule, data), case["result"])
