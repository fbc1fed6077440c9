"""The admin dashboard in a real browser: figures visible, charts drawn, no JavaScript needed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from django_automate.models import Event, ExecutionRun, JobKind, JobStatus, OutboxJob, RunStatus
from tests.browser.conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def history(workflow_factory):
    """A day of events and runs of three workflows, a backlog, a dead letter and waiting runs."""
    now = timezone.now()
    workflows = [workflow_factory(slug=slug, name=slug) for slug in ("billing", "orders", "shipping")]
    events = []
    for n in range(160):  # a burst some twenty minutes ago over a steady trickle
        event = Event.objects.create(type="order.created", source="app", idempotency_key=f"k{n}")
        minutes = 18 + (n % 9) if n % 3 == 0 else (n * 37) % 45 + 1  # all well inside the hour
        Event.objects.filter(pk=event.pk).update(received_at=now - dt.timedelta(minutes=minutes, seconds=n % 50))
        events.append(event)
    for n in range(90):
        workflow = workflows[n % 3]
        status = RunStatus.FAILED if n % 7 == 0 else RunStatus.CANCELLED if n % 11 == 0 else RunStatus.SUCCEEDED
        finished = now - dt.timedelta(minutes=(n * 13) % 45 + 1)
        ExecutionRun.objects.create(
            event=events[n],
            workflow=workflow,
            workflow_version=workflow.current_version,
            status=status,
            replay_seq=0,
            started_at=finished - dt.timedelta(milliseconds=(40 + 7 * n) * (1 + 4 * (n % 3))),
            finished_at=finished,
        )
    for n in range(2):
        ExecutionRun.objects.create(
            event=events[100 + n],
            workflow=workflows[1],
            workflow_version=workflows[1].current_version,
            status=RunStatus.WAITING,
            waiting_until=now + dt.timedelta(hours=1),
        )
    for n, status in enumerate([JobStatus.READY, JobStatus.READY, JobStatus.CLAIMED, JobStatus.DEAD]):
        OutboxJob.objects.create(
            kind=JobKind.ROUTE_EVENT,
            event=events[n],
            status=status,
            available_at=now - dt.timedelta(seconds=30 * (n + 1)),
            trace_id=f"t{n}",
        )
    return workflows


def test_operator_reads_the_dashboard_and_switches_windows(page, history):
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="automate", codename__in=["view_event", "view_executionrun"])
    )
    login(page, "operator")
    page.click("a[href='/admin/automate/dashboard/']")  # linked from the admin index
    page.wait_for_selector("#automate-dash-figures")
    finished = ExecutionRun.objects.filter(finished_at__isnull=False)
    assert page.inner_text("#fig-events") == str(
        Event.objects.filter(received_at__gte=timezone.now() - dt.timedelta(hours=1)).count()
    )
    assert page.inner_text("#fig-runs-succeeded") == str(finished.filter(status="succeeded").count())
    assert page.inner_text("#fig-runs-failed") == str(finished.filter(status="failed").count())
    assert page.inner_text("#fig-waiting") == "2"
    assert page.inner_text("#fig-dead") == "1"
    assert page.inner_text("#fig-queue-depth") == "3"
    rows = page.locator("#automate-dash-workflows tbody tr")
    assert rows.count() == 3
    assert page.locator("#automate-events-chart rect").count() > 5
    assert "Runs finished per minute by status" in page.locator("#automate-runs-chart-title").text_content()
    screenshot(page, "dashboard")
    page.click("text=24h")
    page.wait_for_selector("a[aria-current='page']:has-text('24h')")
    assert page.inner_text("#fig-runs-succeeded") == str(finished.filter(status="succeeded").count())
    assert "per hour" in page.locator("#automate-events-chart-title").text_content()


def test_the_page_is_readable_without_javascript(chromium, live_server, history):
    User.objects.create_superuser("admin", password="pw")
    context = chromium.new_context(java_script_enabled=False, base_url=live_server.url)
    page = context.new_page()
    login(page, "admin")
    page.goto("/admin/automate/dashboard/?window=7d")
    assert page.locator("#automate-runs-chart rect").count() > 0
    assert page.inner_text("#fig-dead") == "1"
    context.close()
