"""The template-injection corpus: every payload is rejected or inert, bounded, and touches nothing.

"Touches nothing" is observed, not assumed: a Python audit hook records every audited
operation (file opens, imports, ``exec``/``compile``, process and socket calls, sensitive
attribute reads such as ``__globals__`` or frames) while a payload renders, and the
working directory (where payloads try to write ``ssti-marker``) must stay empty.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest

from django_automate.rules.jsonlogic import JsonLogicError
from django_automate.workflows.definition import definition_problems
from django_automate.workflows.templating import MAX_OUTPUT_CHARS, TemplateError, placeholders, render
from tests.unit.workflows.ssti_corpus import CORPUS

DATA: dict[str, Any] = {
    "event": {
        "id": "e-1",
        "type": "order.created",
        "payload": {
            "id": 7,
            "total": 12.5,
            "tags": ["a", "b"],
            "customer": {"email": "x@example.com"},
            "blob": "x" * 4096,
        },
    },
    "steps": {"notify": {"status": "succeeded", "output": {"status": 201}}},
    "run": {"id": "r-1"},
    "trace_id": "t-1",
}
#: A payload must fail or finish within this bound (the issue's limit), measured as the best of 3 runs.
BOUND_SECONDS = 0.1


class AuditRecorder:
    """Collects audit events raised while ``active``; the hook stays installed (hooks cannot be removed)."""

    def __init__(self) -> None:
        self.active = False
        self.events: list[str] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self.active:
            self.events.append(event)


_recorder = AuditRecorder()
sys.addaudithook(_recorder)


def _render(payload: str) -> tuple[str, Any]:
    try:
        return "rendered", render({"message": [payload]}, DATA)["message"][0]
    except TemplateError as exc:
        return "rejected", exc


def test_the_corpus_has_at_least_200_distinct_payloads():
    assert len(set(CORPUS)) == len(CORPUS) >= 200


def test_every_payload_is_rejected_or_inert_fast_and_touches_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _render("warm-up {{ event.payload.id }}")  # imports happen once, before recording starts
    _render("{{ event.__class__ }}")
    failures = []
    for payload in CORPUS:
        timings = []
        for _ in range(3):
            _recorder.events.clear()
            _recorder.active = True
            started = time.perf_counter()
            outcome, result = _render(payload)
            timings.append(time.perf_counter() - started)
            _recorder.active = False
            if _recorder.events:
                failures.append((payload[:80], "audited operations", sorted(set(_recorder.events))))
        if outcome == "rendered" and result != payload:
            failures.append((payload[:80], "rendered to something else", str(result)[:80]))
        if min(timings) >= BOUND_SECONDS:
            failures.append((payload[:80], "too slow", min(timings)))
    assert failures == []
    assert list(tmp_path.iterdir()) == []


def test_payloads_with_placeholders_are_mostly_rejected_not_passed_through():
    """Inert output is only allowed for text without ``{{``: every ``{{`` payload is rejected."""
    with_braces = [p for p in CORPUS if "{{" in p]
    assert len(with_braces) > 100
    assert [p[:80] for p in with_braces if _render(p)[0] != "rejected"] == []


def test_syntax_errors_in_the_corpus_are_reported_when_the_workflow_is_published():
    """A payload that cannot even be parsed never reaches a run: validation reports it with its path."""
    checked = 0
    for payload in CORPUS:
        try:
            list(placeholders(payload))
        except TemplateError:
            checked += 1
            step = {"id": "a", "connector": "log", "action": "write", "with": {"message": payload}}
            paths = {p["path"] for p in definition_problems({"steps": [step]})}
            assert "$.steps[0].with.message" in paths, payload[:80]
    assert checked > 100


def test_rendered_text_is_capped_while_it_is_built():
    with pytest.raises(TemplateError, match="exceeds"):
        render("{{ event.payload.blob }}" * (MAX_OUTPUT_CHARS // 4096 + 1), DATA)
    big = "y" * (MAX_OUTPUT_CHARS - 10)
    assert render(big + "{{ run.id }}", DATA) == big + "r-1"


def test_logic_values_cannot_reach_attributes_either():
    for logic in (
        {"var": "event.__class__"},
        {"var": "event.payload.id.real"},
        {"var": "event.payload.tags.__len__"},
        {"method": [{"var": "event"}, "keys"]},
    ):
        try:
            value = render({"$logic": logic}, DATA)
        except JsonLogicError:
            continue  # e.g. "method" is not an operator
        assert value is None
