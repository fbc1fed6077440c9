"""Who may open the admin's own pages (trace, workflow diff, rule test) and the pages they link to.

Anonymous visitors are sent to the login page, staff without the page's permissions get 403,
staff with them get 200, and nothing answers 500.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from django_automate.audit import log as audit
from django_automate.ingestion.events import record_event
from django_automate.models import ExecutionRun, StepRun
from django_automate.workflows import publishing

pytestmark = pytest.mark.django_db
_names = itertools.count()


@dataclass
class Seeded:
    trace_id: str
    event: Any
    run: ExecutionRun
    workflow: Any
    rule: Any


@pytest.fixture
def seeded(workflow_factory, rule_factory) -> Seeded:
    """An event with a run, a step and an audit entry under one trace; a workflow with two versions; a rule."""
    trace_id = str(uuid.uuid4())
    workflow = workflow_factory()
    publishing.publish(
        workflow, {"steps": [{"id": "say", "connector": "log", "action": "write", "with": {"message": "hello"}}]}
    )
    workflow.refresh_from_db()
    rule = rule_factory(workflow, condition={"==": [{"var": "event.payload.id"}, 7]})
    event = record_event(type="order.created", payload={"id": 7}, source="api", trace_id=trace_id).event
    run = ExecutionRun.objects.create(
        event=event,
        workflow=workflow,
        workflow_version=workflow.current_version,
        rule=rule,
        status="failed",
        trace_id=trace_id,
    )
    StepRun.objects.create(
        run=run,
        step_id="say",
        step_index=0,
        attempt=1,
        connector="log",
        action="write",
        status="failed",
        idempotency_key=f"{run.id}:say",
        error={"code": "permanent_error", "message": "no"},
        trace_id=trace_id,
    )
    audit.record("run.retried", actor="ops", object_type="run", object_id=str(run.id), trace_id=trace_id)
    return Seeded(trace_id, event, run, workflow, rule)


def client_for(*codenames: str, staff: bool = True, superuser: bool = False) -> Client:
    name = f"admin-user{next(_names)}"
    if superuser:
        user = User.objects.create_superuser(name, f"{name}@example.com", None)
    else:
        user = User.objects.create_user(name, f"{name}@example.com", None, is_staff=staff)
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="automate", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


# page -> (path, permissions it needs). Every custom admin page, and the change pages that link to them.
PAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "trace": ("/admin/automate/event/trace/{trace_id}/", ("view_event", "view_executionrun")),
    "workflow diff": ("/admin/automate/workflow/{workflow}/diff/?a=1&b=2", ("view_workflow",)),
    "rule test": ("/admin/automate/rulespec/{rule}/test/", ("view_rulespec",)),
    "event with runs": ("/admin/automate/event/{event}/change/", ("view_event",)),
    "run": ("/admin/automate/executionrun/{run}/change/", ("view_executionrun",)),
    "workflow": ("/admin/automate/workflow/{workflow}/change/", ("view_workflow",)),
}


def url(page: str, seeded: Seeded) -> str:
    path = PAGES[page][0]
    return path.format(
        trace_id=seeded.trace_id,
        workflow=seeded.workflow.pk,
        rule=seeded.rule.pk,
        event=seeded.event.pk,
        run=seeded.run.pk,
    )


@pytest.mark.parametrize("page", list(PAGES))
def test_admin_pages_answer_login_403_or_200_by_permission(page, seeded):
    path = url(page, seeded)
    needed = PAGES[page][1]

    anonymous = Client().get(path)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    not_staff = client_for(*needed, staff=False).get(path)
    assert not_staff.status_code == 302 and "/admin/login/" in not_staff["Location"]
    assert client_for().get(path).status_code == 403
    for missing in needed:
        partial = client_for(*(perm for perm in needed if perm != missing))
        assert partial.get(path).status_code == 403, missing
    assert client_for(*needed).get(path).status_code == 200
    assert client_for(superuser=True).get(path).status_code == 200


def test_event_page_lists_its_runs(seeded):
    response = client_for("view_event").get(url("event with runs", seeded))
    assert response.status_code == 200
    content = response.content.decode()
    assert f"/admin/automate/executionrun/{seeded.run.pk}/change/" in content
    assert "wf v2: failed" in content


def test_trace_page_shows_audit_entries_only_with_their_permission(seeded):
    path = url("trace", seeded)
    without = client_for("view_event", "view_executionrun").get(path).content.decode()
    assert "order.created" in without and "say (log.write) #1" in without
    assert "run.retried" not in without
    with_audit = client_for("view_event", "view_executionrun", "view_auditentry").get(path).content.decode()
    assert "run.retried" in with_audit


def test_workflow_diff_shows_the_change_and_answers_404_for_unknown_versions(seeded):
    client = client_for("view_workflow")
    diff = client.get(url("workflow diff", seeded))
    assert "$.steps[0].with.message" in diff.content.decode()
    base = f"/admin/automate/workflow/{seeded.workflow.pk}/diff/"
    assert client.get(f"{base}?a=1&b=9").status_code == 404
    assert client.get(f"{base}?a=x&b=2").status_code == 404
    assert client.get(f"/admin/automate/workflow/{uuid.uuid4()}/diff/").status_code == 404
    assert client.get("/admin/automate/workflow/not-a-uuid/diff/").status_code == 404
    assert client_for().get("/admin/automate/workflow/not-a-uuid/diff/").status_code == 403


def test_rule_test_against_a_payload_or_a_stored_event(seeded):
    path = url("rule test", seeded)
    viewer = client_for("view_rulespec")
    sample = viewer.post(path, {"payload": '{"id": 7}', "event_type": "order.created"})
    assert sample.status_code == 200 and 'id="automate-rule-result">Matched' in sample.content.decode()
    untyped = viewer.post(path, {"payload": '{"id": 7}'})
    assert untyped.status_code == 200 and "event_type" in untyped.content.decode()
    # A stored event's data is shown only to those who may view events, as in the API.
    assert viewer.post(path, {"event_id": str(seeded.event.pk)}).status_code == 403
    stored = client_for("view_rulespec", "view_event").post(path, {"event_id": str(seeded.event.pk)})
    assert stored.status_code == 200 and "Matched" in stored.content.decode()
    assert client_for().post(path, {"payload": "{}"}).status_code == 403
    assert viewer.get(f"/admin/automate/rulespec/{uuid.uuid4()}/test/").status_code == 404
