"""The run page's buttons: shown by permission and state, confirmed before acting, 403 on a crafted POST, audited."""

from __future__ import annotations

import itertools
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

import django_automate
from django_automate.models import AuditEntry, ExecutionRun, RunWait

pytestmark = pytest.mark.django_db(transaction=True)
_names = itertools.count()


def client_for(*codenames: str) -> tuple[Client, str]:
    name = f"operator{next(_names)}"
    user = User.objects.create_user(name, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="automate", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client, name


def buttons(client: Client, run: ExecutionRun) -> list[str]:
    page = client.get(f"/admin/automate/executionrun/{run.pk}/change/").content.decode()
    return re.findall(r'<button type="submit" class="button" data-label="([^"]+)"', page)


@pytest.fixture
def failed_run(workflow_factory, rule_factory, http_sink, run_worker) -> ExecutionRun:
    http_sink.responses = [(500, {}, b"{}")]
    call = {"method": "POST", "url": http_sink.url}
    boom = {"id": "boom", "connector": "http", "action": "request", "with": call, "retry": {"max_attempts": 1}}
    rule_factory(workflow_factory(steps=[boom], slug="fails"), event_type="order.failing")
    django_automate.emit("order.failing", {"id": 1})
    run_worker()
    run = ExecutionRun.objects.get(workflow__slug="fails")
    assert run.status == "failed"
    return run


@pytest.fixture
def waiting_run(workflow_factory, rule_factory, run_worker) -> ExecutionRun:
    gate = {"id": "ok", "approval": {"title": "Ship it?", "timeout_seconds": 3600}}
    rule_factory(workflow_factory(steps=[gate], slug="gated"), event_type="order.gated")
    django_automate.emit("order.gated", {"id": 2})
    run_worker()
    run = ExecutionRun.objects.get(workflow__slug="gated")
    assert run.status == "waiting"
    return run


def test_buttons_follow_permissions_and_the_run_state(failed_run, waiting_run):
    operator, _ = client_for("view_executionrun", "change_executionrun", "replay_event", "approve_run")
    assert buttons(operator, failed_run) == ["Retry", "Replay"]
    assert buttons(operator, waiting_run) == ["Cancel", "Replay", "Approve ok", "Reject ok"]
    viewer, _ = client_for("view_executionrun")
    assert buttons(viewer, failed_run) == [] and buttons(viewer, waiting_run) == []
    changer, _ = client_for("view_executionrun", "change_executionrun")
    assert buttons(changer, waiting_run) == ["Cancel"]


@pytest.mark.parametrize(
    ("name", "codenames"),
    [
        ("retry", ["view_executionrun", "replay_event"]),
        ("replay", ["view_executionrun", "change_executionrun"]),
        ("retry", ["view_event", "replay_event"]),  # may not even view runs
    ],
)
def test_a_post_without_the_permission_is_403_and_changes_nothing(failed_run, name, codenames):
    client, _ = client_for(*codenames)
    for data in ({}, {"confirm": "yes"}):
        response = client.post(f"/admin/automate/executionrun/{failed_run.pk}/do/{name}/", data)
        assert response.status_code == 403
    failed_run.refresh_from_db()
    assert failed_run.status == "failed" and not ExecutionRun.objects.filter(replay_of=failed_run).exists()
    assert not AuditEntry.objects.filter(action__in=("run.retried", "event.replayed")).exists()


def test_an_approval_decision_without_its_permission_is_403(waiting_run):
    client, _ = client_for("view_executionrun", "change_executionrun")
    response = client.post(
        f"/admin/automate/executionrun/{waiting_run.pk}/approvals/ok/", {"decision": "approve", "confirm": "yes"}
    )
    assert response.status_code == 403
    assert RunWait.objects.get().decision == "" and not AuditEntry.objects.filter(action__startswith="run.appr")


def test_retry_asks_first_then_acts_and_is_audited(failed_run):
    client, name = client_for("view_executionrun", "change_executionrun")
    url = f"/admin/automate/executionrun/{failed_run.pk}/do/retry/"
    confirm = client.post(url)
    assert confirm.status_code == 200 and b"Retry this run from its failed step?" in confirm.content
    assert b'name="confirm" value="yes"' in confirm.content and b"csrfmiddlewaretoken" in confirm.content
    failed_run.refresh_from_db()
    assert failed_run.status == "failed"
    assert client.get(url).status_code == 405  # never acts on a GET
    done = client.post(url, {"confirm": "yes"}, follow=True)
    assert "queued for retry" in done.content.decode()
    failed_run.refresh_from_db()
    assert failed_run.status == "running"
    assert AuditEntry.objects.filter(action="run.retried", actor=name, object_id=str(failed_run.pk)).count() == 1
    again = client.post(url, {"confirm": "yes"}, follow=True)  # no longer failed: the service refuses
    assert "Only failed runs can be retried" in again.content.decode()


def test_cancel_replay_and_approve_through_their_confirmations(waiting_run):
    client, name = client_for("view_executionrun", "change_executionrun", "replay_event", "approve_run")
    base = f"/admin/automate/executionrun/{waiting_run.pk}"
    decided = client.post(f"{base}/approvals/ok/", {"decision": "approve", "approval_comment": "fine"})
    assert decided.status_code == 200 and b'name="approval_comment" value="fine"' in decided.content
    assert RunWait.objects.get().decision == ""
    done = client.post(f"{base}/approvals/ok/", {"decision": "approve", "approval_comment": "fine", "confirm": "yes"})
    assert done.status_code == 302 and RunWait.objects.get().decision == "approve"
    assert AuditEntry.objects.get(action="run.approval_approved").actor == name
    client.post(f"{base}/do/replay/", {"confirm": "yes"})
    assert ExecutionRun.objects.filter(replay_of=waiting_run).count() == 1
    client.post(f"{base}/do/cancel/", {"confirm": "yes"})
    waiting_run.refresh_from_db()
    assert waiting_run.status == "cancelled"
    actions = set(AuditEntry.objects.filter(actor=name).values_list("action", flat=True))
    assert actions == {"run.approval_approved", "event.replayed", "run.cancelled"}
