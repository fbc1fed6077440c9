"""``approval`` steps: a person with the step's permission decides once, by API or admin; audited; timeouts."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

import django_automate
from django_automate.api.tokens import create_token
from django_automate.models import AuditEntry, ExecutionRun, JobStatus, OutboxJob, RunWait, StepRun
from django_automate.runs import approvals, operations
from django_automate.workflows.definition import definition_problems
from tests.integration.api.conftest import ApiClient, grant

pytestmark = pytest.mark.django_db(transaction=True)
_names = itertools.count()


def approval(**extra: Any) -> dict:
    spec = {"title": "Refund {{ event.payload.amount }}?", "timeout_seconds": 3600, **extra}
    return {"id": "ok", "approval": spec}


def log(step_id: str = "after") -> dict:
    return {"id": step_id, "connector": "log", "action": "write", "with": {"message": "refunded"}}


def client(*perms: str, tenant: str = "") -> ApiClient:
    name = f"approver{next(_names)}"
    user = User.objects.create_user(name, f"{name}@example.com", None)
    grant(user, *perms)
    user = User.objects.get(pk=user.pk)
    return ApiClient(Client(), create_token(user, tenant=tenant).plaintext, user)


def attempts(step_id: str, run: ExecutionRun | None = None) -> list[StepRun]:
    rows = StepRun.objects.filter(step_id=step_id)
    return list((rows.filter(run=run) if run is not None else rows).order_by("attempt"))


@pytest.fixture
def waiting(workflow_factory, rule_factory, run_worker):
    """A run of tenant ``acme`` waiting at its approval ``ok`` (then a log step)."""

    def make(*steps: dict, tenant: str = "acme") -> ExecutionRun:
        if not ExecutionRun.objects.exists():
            workflow = workflow_factory(steps=list(steps) or [approval(), log()], tenant=tenant)
            rule_factory(workflow, tenant=tenant)
        django_automate.emit("order.refund_requested", {"amount": 700}, tenant=tenant)
        run_worker()
        return ExecutionRun.objects.order_by("-created_at").first()

    return make


def decide(api: ApiClient, run: ExecutionRun, body: Any, step_id: str = "ok") -> Any:
    return api.post(f"runs/{run.pk}/approvals/{step_id}/", body)


def test_an_approval_by_api_lets_the_run_go_on_and_is_audited(waiting, run_worker):
    run = waiting()
    assert run.status == "waiting"
    (wait,) = RunWait.objects.all()
    assert (wait.kind, wait.title, wait.permission, wait.on_timeout) == (
        "approval",
        "Refund 700?",
        "automate.approve_run",
        "reject",
    )
    assert attempts("ok")[0].status == "running" and attempts("ok")[0].action == "approval"
    api = client("approve_run", tenant="acme")
    response = decide(api, run, {"decision": "approve", "comment": "fine"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["decision"] == "approve" and body["decided_by"].startswith(api.user.username)
    assert body["comment"] == "fine" and body["step_id"] == "ok" and body["run"] == str(run.pk)
    entry = AuditEntry.objects.get(action="run.approval_approved")
    assert entry.actor.startswith(api.user.username) and entry.object_id == str(run.pk) and entry.tenant == "acme"
    assert entry.data["step_id"] == "ok" and entry.data["decision"] == "approve" and entry.data["comment"] == "fine"
    # The run's job is due at once; the next claim closes the step and the run goes on.
    assert OutboxJob.objects.get(run=run).available_at <= timezone.now()
    run_worker()
    run.refresh_from_db()
    assert run.status == "succeeded"
    (decided,) = attempts("ok")
    assert decided.status == "succeeded"
    assert set(decided.output) == {"decision", "by", "comment", "at", "timed_out"}
    assert decided.output["decision"] == "approve" and decided.output["by"].startswith(api.user.username)
    assert decided.output["comment"] == "fine" and decided.output["timed_out"] is False
    assert [a.status for a in attempts("after")] == ["succeeded"]


def test_a_second_decision_is_a_conflict(waiting):
    run = waiting()
    api = client("approve_run", tenant="acme")
    assert decide(api, run, {"decision": "reject"}).status_code == 200
    again = decide(api, run, {"decision": "approve"})
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert again.json()["details"]["reason"] == "already_decided"
    assert RunWait.objects.get().decision == "reject"
    assert AuditEntry.objects.filter(action__startswith="run.approval_").count() == 1


def test_a_user_without_the_permission_gets_403_and_another_tenant_404(waiting):
    run = waiting()
    denied = decide(client("view_executionrun", tenant="acme"), run, {"decision": "approve"})
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
    assert denied.json()["details"]["permission"] == "automate.approve_run"
    other = client("approve_run", "view_executionrun", tenant="other")
    hidden = decide(other, run, {"decision": "approve"})
    assert hidden.status_code == 404 and hidden.json()["code"] == "resource_not_found"
    assert other.get("approvals/").json()["results"] == []
    assert RunWait.objects.get().decision == "" and not AuditEntry.objects.filter(action__startswith="run.approval")


def test_the_permission_the_step_names_is_the_one_checked(waiting):
    run = waiting(approval(permission="automate.replay_event"), log())
    assert decide(client("approve_run", tenant="acme"), run, {"decision": "approve"}).status_code == 403
    assert decide(client("replay_event", tenant="acme"), run, {"decision": "approve"}).status_code == 200


BAD_CALLS = [
    ("runs/00000000-0000-0000-0000-000000000000/approvals/ok/", {"decision": "approve"}, 404, "resource_not_found"),
    ("runs/{run}/approvals/nope/", {"decision": "approve"}, 404, "resource_not_found"),
    ("runs/{run}/approvals/after/", {"decision": "approve"}, 404, "resource_not_found"),
    ("runs/{run}/approvals/ok/", {"decision": "maybe"}, 400, "validation_error"),
    ("runs/{run}/approvals/ok/", {}, 400, "validation_error"),
    ("runs/{run}/approvals/ok/", {"decision": "approve", "comment": "x" * 2001}, 400, "validation_error"),
    ("runs/{run}/approvals/ok/", [1], 400, "validation_error"),
]


def test_unknown_runs_steps_bad_bodies_and_anonymous_callers_decide_nothing(waiting):
    run = waiting()
    api = client("approve_run", tenant="acme")
    for path, body, status, code in BAD_CALLS:
        response = api.post(path.format(run=run.pk), body)
        assert (response.status_code, response.json()["code"]) == (status, code), (path, body, response.json())
    assert ApiClient(Client()).post(f"runs/{run.pk}/approvals/ok/", {"decision": "approve"}).status_code == 401
    assert RunWait.objects.get().decision == "" and not AuditEntry.objects.filter(action__startswith="run.approval")


def test_a_rejection_fails_the_step_and_the_run_unless_it_continues(waiting, run_worker):
    run = waiting()
    decide(client("approve_run", tenant="acme"), run, {"decision": "reject", "comment": "too much"})
    run_worker()
    run.refresh_from_db()
    assert run.status == "failed" and run.error["step_id"] == "ok" and run.error["code"] == "approval_rejected"
    (rejected,) = attempts("ok")
    assert rejected.status == "failed" and rejected.error["details"]["decision"] == "reject"
    assert rejected.error["details"]["comment"] == "too much" and not attempts("after")
    assert OutboxJob.objects.get(run=run).status == JobStatus.DEAD


def test_a_rejection_with_on_failure_continue_goes_on(waiting, run_worker):
    run = waiting({**approval(), "on_failure": "continue"}, log())
    decide(client("approve_run", tenant="acme"), run, {"decision": "reject"})
    run_worker()
    run.refresh_from_db()
    assert run.status == "succeeded" and [a.status for a in attempts("after")] == ["succeeded"]


@pytest.mark.parametrize(("on_timeout", "final"), [("reject", "failed"), ("approve", "succeeded")])
def test_a_timeout_decides_with_on_timeout(waiting, run_worker, on_timeout, final):
    run = waiting(approval(timeout_seconds=0.3, on_timeout=on_timeout), log())
    time.sleep(0.35)
    run_worker()
    run.refresh_from_db()
    assert run.status == final
    (closed,) = attempts("ok")
    result = closed.output if final == "succeeded" else closed.error["details"]
    assert result["decision"] == on_timeout and result["by"] is None and result["timed_out"] is True
    late = decide(client("approve_run", tenant="acme"), run, {"decision": "approve"})
    assert late.status_code == 409


def test_a_cancelled_waiting_run_cannot_be_decided(waiting, run_worker):
    run = waiting()
    operations.cancel_run(run, actor="alice")
    response = decide(client("approve_run", tenant="acme"), run, {"decision": "approve"})
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    run_worker()
    run.refresh_from_db()
    assert run.status == "cancelled" and [a.status for a in attempts("ok")] == ["failed"]


def test_a_rejected_run_retried_asks_again_and_a_replay_asks_anew(waiting, run_worker):
    run = waiting()
    api = client("approve_run", tenant="acme")
    decide(api, run, {"decision": "reject"})
    run_worker()
    operations.retry_run(ExecutionRun.objects.get(pk=run.pk), actor="alice")
    run_worker()
    run.refresh_from_db()
    assert run.status == "waiting" and [a.status for a in attempts("ok")] == ["failed", "running"]
    assert decide(api, run, {"decision": "approve"}).status_code == 200
    run_worker()
    run.refresh_from_db()
    assert run.status == "succeeded" and [w.attempt for w in RunWait.objects.order_by("attempt")] == [1, 2]
    (replay,) = operations.replay_event(run.event, actor="alice")
    run_worker()
    replay.refresh_from_db()
    assert replay.status == "waiting"
    assert decide(api, replay, {"decision": "approve"}).status_code == 200
    run_worker()
    replay.refresh_from_db()
    assert replay.status == "succeeded"


def test_pending_approvals_are_listed_per_tenant_and_paginated(waiting):
    first, second, third = waiting(), waiting(), waiting()
    viewer = client("view_executionrun", tenant="acme")
    page = viewer.get("approvals/?limit=2").json()
    assert [row["run"] for row in page["results"]] == [str(third.pk), str(second.pk)]
    assert page["results"][0]["title"] == "Refund 700?" and page["results"][0]["permission"] == "automate.approve_run"
    rest = viewer.get(page["next"]).json()
    assert [row["run"] for row in rest["results"]] == [str(first.pk)] and rest["next"] is None
    decide(client("approve_run", tenant="acme"), second, {"decision": "approve"})
    assert [row["run"] for row in viewer.get("approvals/").json()["results"]] == [str(third.pk), str(first.pk)]
    assert client("view_executionrun", tenant="other").get("approvals/").json()["results"] == []
    assert client(tenant="acme").get("approvals/").status_code == 403
    assert [w.run_id for w in approvals.pending("acme")] == [third.pk, first.pk]


def test_the_admin_run_page_decides_with_buttons_shown_only_with_the_permission(waiting, run_worker):
    run = waiting()
    page_url = f"/admin/automate/executionrun/{run.pk}/change/"
    decide_url = f"/admin/automate/executionrun/{run.pk}/approvals/ok/"
    viewer = User.objects.create_user("viewer", "v@example.com", "pw", is_staff=True)
    grant(viewer, "view_executionrun")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(viewer)
    page = browser.get(page_url).content.decode()
    assert "Refund 700?" in page and "needs the permission automate.approve_run" in page and decide_url not in page
    grant(viewer, "approve_run")
    viewer = User.objects.get(pk=viewer.pk)
    browser.force_login(viewer)
    page = browser.get(page_url).content.decode()
    assert f'formaction="{decide_url}"' in page and 'value="approve"' in page and 'value="reject"' in page
    # Without the CSRF token the POST is refused; with the page's token it is recorded.
    assert browser.post(decide_url, {"decision": "approve"}).status_code == 403
    token = browser.cookies["csrftoken"].value
    asked = browser.post(decide_url, {"decision": "approve", "approval_comment": "ok by me"}, HTTP_X_CSRFTOKEN=token)
    assert asked.status_code == 200 and 'name="confirm" value="yes"' in asked.content.decode()  # confirm first
    assert RunWait.objects.get().decision == ""
    answer = browser.post(
        decide_url, {"decision": "approve", "approval_comment": "ok by me", "confirm": "yes"}, HTTP_X_CSRFTOKEN=token
    )
    assert answer.status_code == 302 and answer["Location"] == page_url
    wait = RunWait.objects.get()
    assert (wait.decision, wait.decided_by, wait.comment) == ("approve", "viewer", "ok by me")
    assert AuditEntry.objects.get(action="run.approval_approved").actor == "viewer"
    again = browser.post(decide_url, {"decision": "reject"}, HTTP_X_CSRFTOKEN=token, follow=True)
    assert "decided already" in again.content.decode() and RunWait.objects.get().decision == "approve"
    run_worker()
    run.refresh_from_db()
    assert run.status == "succeeded"
    grant(viewer, "view_runwait")
    browser.force_login(User.objects.get(pk=viewer.pk))
    waiting()
    listing = browser.get("/admin/automate/runwait/?kind__exact=approval&pending=yes")
    assert listing.status_code == 200 and "Refund 700?" in listing.content.decode()
    decided = browser.get("/admin/automate/runwait/?kind__exact=approval&pending=yes&decision__exact=approve")
    assert "Refund 700?" not in decided.content.decode()


@pytest.mark.parametrize(
    ("spec", "errors"),
    [
        ({}, [("$.steps[0].approval.title", "title is required.")]),
        ({"title": "x", "on_timeout": "maybe"}, [("$.steps[0].approval.on_timeout", "must be one of")]),
        ({"title": "x", "timeout_seconds": 0}, [("$.steps[0].approval.timeout_seconds", "greater than 0")]),
        ({"title": "x", "permission": "approve"}, [("$.steps[0].approval.permission", "must match")]),
        ({"title": "x", "who": "bob"}, [("$.steps[0].approval.who", "Unknown key.")]),
        ({"title": "{{ steps.zz.output }}"}, [("$.steps[0].approval.title", "There is no step 'zz'.")]),
    ],
)
@pytest.mark.django_db
def test_approval_steps_are_validated_with_json_paths(spec, errors):
    problems = definition_problems({"steps": [{"id": "ok", "approval": spec}]})
    found = [(p["path"], p["message"]) for p in problems]
    assert [path for path, _ in found] == [path for path, _ in errors], found
    for (_, message), (_, expected) in zip(found, errors, strict=True):
        assert expected in message


@pytest.mark.django_db
def test_the_cookbook_approval_gate_is_valid():
    gate = {
        "steps": [
            {
                "id": "ok",
                "if": {">": [{"var": "event.payload.amount"}, 500]},
                "approval": {
                    "title": "Refund {{ event.payload.amount }} to {{ event.payload.customer }}?",
                    "permission": "automate.approve_run",
                    "timeout_seconds": 86400,
                    "on_timeout": "reject",
                },
            },
            {"id": "refund", "connector": "log", "action": "write", "with": {"message": "{{ event.payload.id }}"}},
        ]
    }
    assert definition_problems(gate) == []
