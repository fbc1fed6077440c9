"""``for_each`` steps: per-item attempts and keys, ordered outputs, max_parallel, failures and retry (SPEC §13)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.test import override_settings

import django_automate
from django_automate.models import ExecutionRun, JobStatus, OutboxJob, StepRun
from django_automate.runs import operations
from django_automate.worker.loop import Worker
from django_automate.workflows.definition import definition_problems

pytestmark = pytest.mark.django_db(transaction=True)


def per_item(url: str, **extra: object) -> dict:
    return {
        "id": "each",
        "for_each": "{{ event.payload.lines }}",
        "connector": "http",
        "action": "request",
        "with": {"method": "POST", "url": url, "json": {"sku": "{{ item.sku }}", "index": "{{ item_index }}"}},
        **extra,
    }


def after(message: str = "out={{ steps.each.output }}") -> dict:
    return {"id": "after", "connector": "log", "action": "write", "with": {"message": message}}


def lines(count: int) -> list[dict]:
    return [{"sku": f"sku-{n}"} for n in range(count)]


def paths(definition: dict) -> dict[str, str]:
    return {p["path"]: p["message"] for p in definition_problems(definition)}


def indexes(http_sink) -> list[int]:
    return [json.loads(r["body"])["index"] for r in http_sink.requests]


def test_for_each_is_validated_with_json_paths():
    assert definition_problems({"steps": [per_item("http://x.example")]}) == []
    item_elsewhere = paths({"steps": [after("{{ item.sku }}")]})
    assert "Unknown data root 'item'" in item_elsewhere["$.steps[0].with.message"]
    parallel_alone = paths({"steps": [{**after("hi"), "max_parallel": 2}]})
    assert parallel_alone == {"$.steps[0]": "max_parallel needs for_each."}
    on_sleep = paths({"steps": [{"id": "nap", "sleep": {"seconds": 1}, "for_each": "{{ event.payload.lines }}"}]})
    assert "$.steps[0].for_each" in on_sleep
    too_parallel = paths({"steps": [per_item("http://x.example", max_parallel=101)]})
    assert "$.steps[0].max_parallel" in too_parallel
    reads_later = paths({"steps": [{**per_item("http://x.example"), "for_each": "{{ steps.after.output }}"}, after()]})
    assert "not among the steps this step needs" in reads_later["$.steps[0].for_each"]


def test_each_item_is_called_once_with_its_own_key_and_outputs_keep_item_order(
    workflow_factory, rule_factory, run_worker, http_sink
):
    rule_factory(workflow_factory(steps=[per_item(http_sink.url, max_parallel=3), after()]))
    django_automate.emit("order.created", {"lines": lines(25)})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "succeeded", run.error
    assert sorted(indexes(http_sink)) == list(range(25))
    keys = [r["headers"]["idempotency-key"] for r in http_sink.requests]
    assert sorted(keys) == sorted(f"{run.id}:each:{n}" for n in range(25))
    step = StepRun.objects.get(step_id="each")
    assert step.status == "succeeded" and step.input == {"items": 25} and len(step.output) == 25
    items = StepRun.objects.filter(step_id__startswith="each[")
    assert items.count() == 25 and set(items.values_list("status", flat=True)) == {"succeeded"}
    for n in range(25):
        item = items.get(step_id=f"each[{n}]")
        assert item.input["json"] == {"sku": f"sku-{n}", "index": n}
        assert step.output[n] == item.output
    assert StepRun.objects.get(step_id="after").status == "succeeded"


def test_no_more_than_max_parallel_items_are_in_flight(workflow_factory, rule_factory, http_sink):
    http_sink.delay_seconds = 0.15
    rule_factory(workflow_factory(steps=[per_item(http_sink.url, max_parallel=2)]))
    worker = Worker(concurrency=4, install_signal_handlers=False)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        django_automate.emit("order.created", {"lines": lines(12)})
        deadline = time.monotonic() + 60
        while not ExecutionRun.objects.filter(status__in=("succeeded", "failed")).exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(10)
    assert ExecutionRun.objects.get().status == "succeeded"
    windows = [(r["arrived_at"], r["answered_at"]) for r in http_sink.requests]
    in_flight = max(sum(1 for a, b in windows if a <= start < b) for start, _ in windows)
    assert in_flight <= 2
    assert sorted(indexes(http_sink)) == list(range(12))


def test_an_items_if_skips_it_and_its_output_is_null(workflow_factory, rule_factory, run_worker, http_sink):
    step = per_item(http_sink.url, **{"if": {"!=": [{"var": "item_index"}, 1]}})
    rule_factory(workflow_factory(steps=[step]))
    django_automate.emit("order.created", {"lines": lines(3)})
    run_worker()
    assert ExecutionRun.objects.get().status == "succeeded"
    output = StepRun.objects.get(step_id="each").output
    assert output[1] is None and output[0] is not None and output[2] is not None
    assert sorted(indexes(http_sink)) == [0, 2]


def test_an_empty_list_succeeds_at_once_with_an_empty_output(workflow_factory, rule_factory, run_worker, http_sink):
    rule_factory(workflow_factory(steps=[per_item(http_sink.url), after()]))
    django_automate.emit("order.created", {"lines": []})
    run_worker()
    assert ExecutionRun.objects.get().status == "succeeded"
    assert StepRun.objects.get(step_id="each").output == []
    assert StepRun.objects.get(step_id="after").input == {"message": "out=[]"}


@pytest.mark.parametrize(
    "payload, message",
    [({"lines": {"a": 1}}, "not a list"), ({"lines": lines(6)}, "at most 5")],
)
def test_a_value_that_is_not_a_list_or_too_long_fails_the_step(
    workflow_factory, rule_factory, run_worker, http_sink, payload, message
):
    rule_factory(workflow_factory(steps=[per_item(http_sink.url)]))
    with override_settings(AUTOMATE={"API_AUTH_FAILURE_RATE": None, "MAX_ITEMS": 5}):
        django_automate.emit("order.created", payload)
        run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "failed" and run.error["step_id"] == "each"
    assert run.error["code"] == "validation_error" and message in run.error["message"]
    assert run.error["details"]["field"] == "for_each"
    assert http_sink.requests == []


def test_a_failed_item_fails_the_step_and_a_retry_runs_only_the_failed_item(
    workflow_factory, rule_factory, run_worker, http_sink
):
    http_sink.responses.extend([(200, {}, b"{}"), (400, {}, b"{}")])  # the second item called fails for good
    rule_factory(workflow_factory(steps=[per_item(http_sink.url, max_parallel=1), after()]))
    django_automate.emit("order.created", {"lines": lines(4)})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "failed" and run.error["step_id"] == "each"
    assert run.error["details"] == {"item_index": 1} and "Item 1 failed" in run.error["message"]
    # With max_parallel 1 the items after the failed one never started.
    assert indexes(http_sink) == [0, 1]
    assert not OutboxJob.objects.filter(status__in=(JobStatus.READY, JobStatus.CLAIMED)).exists()
    operations.retry_run(run, actor="test")
    run_worker()
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert indexes(http_sink) == [0, 1, 1, 2, 3]
    assert [s.status for s in StepRun.objects.filter(step_id="each").order_by("attempt")] == ["failed", "succeeded"]
    assert len(StepRun.objects.get(step_id="each", status="succeeded").output) == 4


def test_a_failed_for_each_with_on_failure_continue_lets_the_run_go_on(
    workflow_factory, rule_factory, run_worker, http_sink
):
    http_sink.responses.append((400, {}, b"{}"))
    steps = [per_item(http_sink.url, max_parallel=1, on_failure="continue"), after("{{ steps.each.status }}")]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {"lines": lines(2)})
    run_worker()
    assert ExecutionRun.objects.get().status == "succeeded"
    assert StepRun.objects.get(step_id="after").input == {"message": "failed"}
