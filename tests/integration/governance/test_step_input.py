"""What a step's rendered input may be: finite JSON numbers only, and at most ``MAX_STEP_INPUT_BYTES``.

Both are permanent ``validation_error`` failures of the step, decided before anything is
stored or sent: the run fails at once and its job is not claimed again.
"""

from __future__ import annotations

from typing import Any

import pytest

import django_automate
from django_automate.models import ExecutionRun, OutboxJob, StepRun

pytestmark = pytest.mark.django_db(transaction=True)

RETRY = {"max_attempts": 5, "initial_seconds": 0.001, "max_seconds": 0.001}


def call(url: str, **with_: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": "call",
            "connector": "http",
            "action": "request",
            "with": {"method": "POST", "url": f"{url}/in", **with_},
            "retry": RETRY,
        }
    ]


def assert_failed_once_for_good(run_worker, code: str = "validation_error") -> StepRun:
    [step] = StepRun.objects.all()
    assert (step.status, step.error["code"], step.attempt) == ("failed", code, 1)
    assert step.input is None  # nothing of the rejected input was stored
    assert ExecutionRun.objects.get().status == "failed"
    assert not OutboxJob.objects.filter(run__isnull=False, status="ready").exists()
    run_worker()
    assert StepRun.objects.count() == 1  # the job is not claimed again
    return step


@pytest.mark.parametrize(
    ("logic", "qty"),
    [
        ({"*": [{"var": "event.payload.qty"}, 10]}, 1e308),
        ({"-": [0, {"*": [{"var": "event.payload.qty"}, 10]}]}, 1e308),
        ({"-": [{"*": [{"var": "event.payload.qty"}, 10]}, {"*": [{"var": "event.payload.qty"}, 10]}]}, 1e308),
        ({"merge": [[1], [{"*": [{"var": "event.payload.qty"}, 10]}]]}, 1e308),
    ],
    ids=["infinity", "minus_infinity", "nan", "inside_a_list"],
)
def test_a_computed_value_that_is_not_a_finite_number_fails_the_step_for_good(
    logic, qty, http_sink, workflow_factory, rule_factory, run_worker
):
    rule_factory(workflow_factory(steps=call(http_sink.url, json={"order": {"total": {"$logic": logic}}})))
    django_automate.emit("order.created", {"qty": qty})
    run_worker()
    step = assert_failed_once_for_good(run_worker)
    assert step.error["details"]["field"].startswith("with.json.order.total")
    assert http_sink.requests == []


def test_many_references_to_a_large_value_stop_at_the_input_limit(
    http_sink, workflow_factory, rule_factory, run_worker
):
    """100 references to a 400 KB value would render 40 MB; rendering stops at the 1 MiB default."""
    rule_factory(workflow_factory(steps=call(http_sink.url, json=["{{ event.payload.blob }}"] * 100)))
    django_automate.emit("order.created", {"blob": "x" * 400_000})
    run_worker()
    step = assert_failed_once_for_good(run_worker)
    assert step.error["details"]["limit"] == 1024 * 1024
    assert "MAX_STEP_INPUT_BYTES" in step.error["message"]
    assert http_sink.requests == []


def test_the_input_limit_counts_text_built_from_placeholders_and_is_configurable(
    settings, http_sink, workflow_factory, rule_factory, run_worker
):
    settings.AUTOMATE = {**settings.AUTOMATE, "MAX_STEP_INPUT_BYTES": 10_000}
    rule_factory(workflow_factory(steps=call(http_sink.url, body="{{ event.payload.blob }}" * 4)))
    django_automate.emit("order.created", {"blob": "y" * 3_000})
    run_worker()
    step = assert_failed_once_for_good(run_worker)
    assert step.error["details"] == {"field": "with.body", "limit": 10_000}


def test_an_input_under_the_limit_is_sent_whole(settings, http_sink, workflow_factory, rule_factory, run_worker):
    settings.AUTOMATE = {**settings.AUTOMATE, "MAX_STEP_INPUT_BYTES": 10_000}
    rule_factory(workflow_factory(steps=call(http_sink.url, body="{{ event.payload.blob }}" * 3)))
    django_automate.emit("order.created", {"blob": "y" * 3_000})
    run_worker()
    assert StepRun.objects.get().status == "succeeded"
    assert http_sink.requests[0]["body"] == b"y" * 9_000
