"""Dead letters are counted while still dead: ``runs/?status=dead``, the admin filter, health and metrics agree,
and a retried run (or one that succeeded since) no longer counts."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

import django_automate
from django_automate.models import ExecutionRun, JobStatus, OutboxJob
from django_automate.observability import health, queries
from django_automate.runs import operations

pytestmark = pytest.mark.django_db(transaction=True)


def dead_figure() -> int:
    return int(health.check_outbox("default")["dead"])


def metrics_dead() -> int:
    return sum(row.dead for row in queries.outbox(timezone.now()).values())


def admin_listed(client: Client) -> str:
    return client.get("/admin/automate/executionrun/?dead_letter=yes").content.decode()


@pytest.fixture
def failing(workflow_factory, rule_factory, http_sink, run_worker) -> ExecutionRun:
    """A run whose only step fails for good (500, no retry), and an unrelated run that succeeds."""
    http_sink.responses = [(500, {}, b"{}")] * 3
    call = {"method": "POST", "url": http_sink.url}
    step = {"id": "call", "connector": "http", "action": "request", "with": call, "retry": {"max_attempts": 1}}
    rule_factory(workflow_factory(steps=[step]), event_type="order.created")
    rule_factory(workflow_factory(slug="fine"), event_type="order.fine")
    django_automate.emit("order.created", {"id": 1})
    django_automate.emit("order.fine", {"id": 2})
    run_worker()
    return ExecutionRun.objects.get(workflow__slug="wf")


def test_a_failed_run_is_listed_and_counted_dead_until_it_is_retried(failing, admin_api, http_sink, run_worker):
    root = Client()
    root.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    assert failing.status == "failed" and OutboxJob.objects.filter(status=JobStatus.DEAD).count() == 1
    assert [r["id"] for r in admin_api.get("runs/?status=dead").json()["results"]] == [str(failing.id)]
    assert dead_figure() == metrics_dead() == 1
    assert str(failing.id) in admin_listed(root)

    operations.retry_run(failing, actor="ops")  # the dead job stays dead-lettered in the table, but was retried
    assert OutboxJob.objects.filter(status=JobStatus.DEAD).count() == 1
    assert admin_api.get("runs/?status=dead").json()["results"] == []
    assert dead_figure() == metrics_dead() == 0
    assert str(failing.id) not in admin_listed(root)

    run_worker()  # fails again: its new dead job counts, the retried one does not
    failing.refresh_from_db()
    assert failing.status == "failed" and OutboxJob.objects.filter(status=JobStatus.DEAD).count() == 2
    assert [r["id"] for r in admin_api.get("runs/?status=dead").json()["results"]] == [str(failing.id)]
    assert dead_figure() == metrics_dead() == 1

    http_sink.responses = [(200, {}, b"{}")]
    operations.retry_run(failing, actor="ops")
    run_worker()
    failing.refresh_from_db()
    assert failing.status == "succeeded"
    assert admin_api.get("runs/?status=dead").json()["results"] == []
    assert dead_figure() == metrics_dead() == 0
    assert admin_api.get("runs/?status=failed").json()["results"] == []


def test_a_dead_job_without_a_run_stays_dead_and_status_filters_still_work(failing, admin_api):
    OutboxJob.objects.create(
        kind="route_event", status=JobStatus.DEAD, available_at=timezone.now(), finished_at=timezone.now()
    )
    assert dead_figure() == 2
    assert len(admin_api.get("runs/?status=succeeded").json()["results"]) == 1
    assert admin_api.get("runs/?status=bogus").status_code == 400
