"""The admin as operators use it, in a real browser."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission, User

import django_automate
from django_automate.models import AuditEntry, ExecutionRun
from tests.browser.conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def make_user(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="automate", codename__in=codenames))
    return user


@pytest.fixture
def event():
    return django_automate.emit("order.created", {"id": 7, "customer": {"password": "hunter2-secret", "name": "Ada"}})


def test_viewer_sees_a_redacted_payload_and_no_raw_button(page, event):
    make_user("viewer", "view_event")
    login(page, "viewer")
    page.goto(f"/admin/automate/event/{event.id}/change/")
    body = page.inner_text("#content")
    assert "[REDACTED]" in body and "Ada" in body
    assert "hunter2-secret" not in page.content()
    assert page.locator("#automate-show-raw").count() == 0
    page.goto(f"/admin/automate/event/{event.id}/change/?raw=1")
    assert "hunter2-secret" not in page.content()
    assert not AuditEntry.objects.filter(action="raw_payload.viewed").exists()
    screenshot(page, "event-redacted")


def test_raw_payload_permission_shows_raw_and_is_audited(page, event):
    make_user("auditor", "view_event", "view_raw_payload")
    login(page, "auditor")
    page.goto(f"/admin/automate/event/{event.id}/change/")
    page.click("#automate-show-raw")
    page.wait_for_selector(".automate-raw-note")
    assert "hunter2-secret" in page.inner_text("#content")
    entry = AuditEntry.objects.get(action="raw_payload.viewed")
    assert (entry.actor, entry.object_id, entry.trace_id) == ("auditor", str(event.id), event.trace_id)


def test_publishing_a_workflow_change_shows_the_diff(page, workflow_factory):
    workflow = workflow_factory(steps=[{"id": "say", "connector": "log", "action": "write", "with": {"message": "hi"}}])
    User.objects.create_superuser("admin", password="pw")
    login(page, "admin")
    page.goto(f"/admin/automate/workflow/{workflow.pk}/change/")
    new = {"steps": [{"id": "say", "connector": "log", "action": "write", "with": {"message": "hello there"}}]}
    page.fill("#id_definition", json.dumps(new, indent=2))
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist")
    assert "Published version 2" in page.inner_text(".messagelist")
    page.click("text=v1 → v2")
    page.wait_for_selector("#automate-diff")
    assert "hello there" in page.inner_text("#automate-diff")
    assert "$.steps[0].with.message" in page.inner_text("#automate-diff-changes")
    screenshot(page, "workflow-diff")
    bad = {"steps": [{"id": "Bad Id", "connector": "nope", "action": "x"}]}
    page.goto(f"/admin/automate/workflow/{workflow.pk}/change/")
    page.fill("#id_definition", json.dumps(bad))
    page.click("input[name=_continue]")
    errors = page.inner_text(".errorlist")
    assert "$.steps[0].id" in errors and "$.steps[0].connector" in errors
    workflow.refresh_from_db()
    assert workflow.current_version.number == 2


def test_retrying_a_failed_run_from_the_admin_then_opening_its_trace(
    page, workflow_factory, rule_factory, http_sink, run_worker
):
    http_sink.responses = [(500, {}, b"{}")]
    step = {"id": "call", "connector": "http", "action": "request", "with": {"url": http_sink.url}}
    rule_factory(workflow_factory(steps=[{**step, "retry": {"max_attempts": 1}}]))
    django_automate.emit("order.created", {"id": 1})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "failed"
    User.objects.create_superuser("admin", password="pw")
    login(page, "admin")
    page.goto("/admin/automate/executionrun/?dead_letter=yes")
    screenshot(page, "dead-letters")
    page.check(f"input[name=_selected_action][value='{run.pk}']")
    page.select_option("select[name=action]", "retry_selected")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    assert "Queued for retry" in page.inner_text(".messagelist")
    run_worker()
    page.goto(f"/admin/automate/executionrun/{run.pk}/change/")
    assert "succeeded" in page.inner_text("#content")
    screenshot(page, "run-timeline")
    page.click(f"a[href$='/trace/{run.trace_id}/']")
    page.wait_for_selector("#automate-trace")
    trace = page.inner_text("#automate-trace")
    assert "order.created" in trace and "call (http.request) #2" in trace and "run.retried" in trace
    screenshot(page, "trace")
    page.click(f"#automate-trace a[href$='/event/{run.event_id}/change/']")
    page.wait_for_selector(f"a[href$='/executionrun/{run.pk}/change/']")
    assert f"{run.pk} wf v1: succeeded" in page.inner_text("#content")


def test_staff_without_permissions_cannot_open_the_trace_page(page, event):
    make_user("clerk", "view_event")
    login(page, "clerk")
    response = page.goto(f"/admin/automate/event/trace/{event.trace_id}/")
    assert response is not None and response.status == 403
    assert event.type not in page.content()
