"""The run page in a browser: the waterfall of a graph run, Retry with its confirmation, no buttons without
the permission; the trace page's waterfall and a workflow version's step graph."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Permission, User

import django_automate
from django_automate.models import AuditEntry, ExecutionRun, StepRun
from tests.browser.conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def make_user(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="automate", codename__in=codenames))
    return user


def log(step_id: str, message: str = "hi", **extra: object) -> dict:
    return {"id": step_id, "connector": "log", "action": "write", "with": {"message": message}, **extra}


def until_done(run_worker, seconds: float = 10.0) -> ExecutionRun:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        run_worker()
        run = ExecutionRun.objects.get()
        if run.status in ("succeeded", "failed") or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


@pytest.fixture
def graph_run(workflow_factory, rule_factory, http_sink, run_worker) -> ExecutionRun:
    """A diamond whose branch b fails once and is retried, a for_each of three items, then a short sleep."""
    http_sink.responses = [(500, {}, b"{}")]
    retry = {"max_attempts": 2, "initial_seconds": 0.05, "backoff": "fixed", "jitter": "none"}
    call = {"method": "POST", "url": f"{http_sink.url}/b", "json": {"token": "s3cret"}}
    steps = [
        log("a"),
        {"id": "b", "connector": "http", "action": "request", "with": call, "needs": ["a"], "retry": retry},
        log("c", needs=["a"]),
        log("d", "{{ steps.b.status }}/{{ steps.c.status }}", needs=["b", "c"]),
        log("lines", "line {{ item }}", for_each="{{ event.payload.lines }}", needs=["d"]),
        {"id": "nap", "sleep": {"seconds": 0.2}},
    ]
    rule_factory(workflow_factory(steps=steps, slug="orders"))
    django_automate.emit("order.created", {"lines": [1, 2, 3]})
    run = until_done(run_worker)
    assert run.status == "succeeded"
    return run


def test_the_run_page_draws_a_row_per_attempt_and_folds_redacted_inputs(page, graph_run):
    make_user("viewer", "view_executionrun")
    login(page, "viewer")
    page.goto(f"/admin/automate/executionrun/{graph_run.pk}/change/")
    page.wait_for_selector("svg.automate-waterfall")
    rows = page.locator("g.automate-wf-row")
    assert rows.count() == StepRun.objects.filter(run=graph_run).count() == 10
    shown = {(rows.nth(n).get_attribute("data-step"), rows.nth(n).get_attribute("data-attempt")) for n in range(10)}
    assert {("b", "1"), ("b", "2"), ("lines[2]", "1"), ("nap", "1")} <= shown
    assert page.locator("g.automate-wf-row[data-kind=sleep]").count() == 1
    assert page.locator("g.automate-wf-row[data-status=retrying]").count() == 1
    assert "s3cret" not in page.content()
    details = page.locator("details.automate-attempt[data-step='b'][data-attempt='2']")
    assert not details.locator("pre").is_visible()  # folded until opened
    details.locator("summary").click()
    assert "[REDACTED]" in details.inner_text()
    # A viewer without the operate/replay permissions sees no buttons.
    assert page.locator("form.automate-run-action").count() == 0
    screenshot(page, "run-waterfall")


def test_retry_asks_for_confirmation_then_the_run_goes_on(page, workflow_factory, rule_factory, http_sink, run_worker):
    http_sink.responses = [(500, {}, b"{}")]
    call = {"method": "POST", "url": http_sink.url}
    step = {"id": "charge", "connector": "http", "action": "request", "with": call, "retry": {"max_attempts": 1}}
    rule_factory(workflow_factory(steps=[log("first"), step]))
    django_automate.emit("order.created", {})
    run = until_done(run_worker)
    assert run.status == "failed"
    make_user("operator", "view_executionrun", "change_executionrun")
    login(page, "operator")
    page.goto(f"/admin/automate/executionrun/{run.pk}/change/")
    assert page.locator("form.automate-run-action button").all_inner_texts() == ["Retry"]
    page.click("button[data-label=Retry]")
    page.wait_for_selector("#automate-confirm")
    run.refresh_from_db()
    assert run.status == "failed"  # nothing happens before the confirmation
    page.click("#automate-confirm-yes")
    page.wait_for_selector(".messagelist")
    assert "queued for retry" in page.inner_text(".messagelist")
    assert page.locator("button[data-label=Retry]").count() == 0  # no longer failed
    assert AuditEntry.objects.filter(action="run.retried", actor="operator").count() == 1
    assert until_done(run_worker).status == "succeeded"
    page.goto(f"/admin/automate/executionrun/{run.pk}/change/")
    assert page.locator("g.automate-wf-row[data-step=charge]").count() == 2


def test_the_trace_page_shows_the_run_waterfall(page, graph_run):
    make_user("tracer", "view_executionrun", "view_event")
    login(page, "tracer")
    page.goto(f"/admin/automate/event/trace/{graph_run.trace_id}/")
    page.wait_for_selector(f"#automate-trace-run-{graph_run.pk} svg.automate-waterfall")
    assert page.locator("g.automate-wf-row").count() == 10
    assert "+0 ms" in page.inner_text("#automate-trace")
    screenshot(page, "trace-waterfall")


def test_a_workflow_version_draws_its_step_graph(page, graph_run):
    make_user("author", "view_workflowversion")
    login(page, "author")
    page.goto(f"/admin/automate/workflowversion/{graph_run.workflow_version_id}/change/")
    page.wait_for_selector("svg.automate-graph")
    nodes = page.locator("g.automate-graph-node")
    assert nodes.count() == 6
    assert page.locator("g.automate-graph-node[data-kind=for_each]").get_attribute("data-step") == "lines"
    assert page.locator("g.automate-graph-node[data-step=d]").get_attribute("data-layer") == "2"
    assert page.locator("line.automate-graph-edge").count() == 6
    screenshot(page, "workflow-graph")
