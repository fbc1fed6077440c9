"""Approvals in the admin, in a browser: the buttons show only with the step's permission, decide once, audited."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

import django_automate
from django_automate.models import AuditEntry, ExecutionRun, RunWait, StepRun
from tests.browser.conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def make_user(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="automate", codename__in=codenames))
    return user


@pytest.fixture
def waiting_runs(workflow_factory, rule_factory, run_worker):
    gate = {"id": "ok", "approval": {"title": "Refund {{ event.payload.amount }}?", "timeout_seconds": 3600}}
    after = {"id": "refund", "connector": "log", "action": "write", "with": {"message": "refunded"}}
    rule_factory(workflow_factory(steps=[gate, after]))
    for amount in (700, 900):
        django_automate.emit("order.refund_requested", {"amount": amount})
    run_worker()
    runs = list(ExecutionRun.objects.order_by("created_at"))
    assert [run.status for run in runs] == ["waiting", "waiting"]
    return runs


def test_an_approver_approves_and_rejects_from_the_run_page(page, waiting_runs, run_worker):
    approve_me, reject_me = waiting_runs
    make_user("approver", "view_executionrun", "approve_run")
    login(page, "approver")
    page.goto(f"/admin/automate/executionrun/{approve_me.pk}/change/")
    assert "Refund 700?" in page.inner_text("#content")
    screenshot(page, "approval-pending")
    page.click("button[value=approve]")
    page.wait_for_selector("#automate-confirm")  # asked first: nothing is decided yet
    assert RunWait.objects.get(run=approve_me).decision == ""
    page.click("#automate-confirm-yes")
    page.wait_for_selector(".messagelist")
    assert "Recorded: approve of ok." in page.inner_text(".messagelist")
    # Decided once: the page no longer offers the buttons.
    assert page.locator("button[value=approve]").count() == 0
    page.goto(f"/admin/automate/executionrun/{reject_me.pk}/change/")
    page.click("button[value=reject]")
    page.click("#automate-confirm-yes")
    page.wait_for_selector(".messagelist")
    assert "Recorded: reject of ok." in page.inner_text(".messagelist")
    run_worker()
    approve_me.refresh_from_db()
    reject_me.refresh_from_db()
    assert approve_me.status == "succeeded" and reject_me.status == "failed"
    decision = StepRun.objects.get(run=approve_me, step_id="ok").output
    assert decision["decision"] == "approve" and decision["by"] == "approver"
    actions = set(AuditEntry.objects.filter(actor="approver").values_list("action", flat=True))
    assert actions == {"run.approval_approved", "run.approval_rejected"}


def test_a_viewer_without_the_permission_sees_the_approval_but_no_buttons(page, waiting_runs):
    run = waiting_runs[0]
    make_user("viewer", "view_executionrun")
    login(page, "viewer")
    page.goto(f"/admin/automate/executionrun/{run.pk}/change/")
    assert "Refund 700?" in page.inner_text("#content")
    assert page.locator("button[value=approve]").count() == 0
    assert page.locator("button[value=reject]").count() == 0
    run.refresh_from_db()
    assert run.status == "waiting"
    assert not AuditEntry.objects.filter(action__startswith="run.approval_").exists()
