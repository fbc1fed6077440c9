"""``/admin/automate/dashboard/``: who may open it, its windows, and what it prints."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_automate.models import Event, ExecutionRun, JobKind, JobStatus, OutboxJob, RunStatus
from django_automate.observability.dashboard import figures

pytestmark = pytest.mark.django_db
URL = "/admin/automate/dashboard/"
BOTH = ("view_event", "view_executionrun")
_names = itertools.count()


def client_for(*codenames: str, staff: bool = True, superuser: bool = False) -> Client:
    name = f"dash-user{next(_names)}"
    if superuser:
        user = User.objects.create_superuser(name, f"{name}@example.com", None)
    else:
        user = User.objects.create_user(name, f"{name}@example.com", None, is_staff=staff)
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="automate", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def seeded(workflow_factory):
    workflow = workflow_factory(slug="orders")
    now = timezone.now()
    events = [Event.objects.create(type="order.created", source="app", idempotency_key=f"k{n}") for n in range(3)]
    Event.objects.filter(pk=events[0].pk).update(received_at=now - dt.timedelta(minutes=30))
    Event.objects.filter(pk=events[1].pk).update(received_at=now - dt.timedelta(hours=5))
    for seq, (status, ago) in enumerate([("succeeded", 10), ("failed", 12), ("succeeded", 60 * 5)]):
        ExecutionRun.objects.create(
            event=events[2],
            workflow=workflow,
            workflow_version=workflow.current_version,
            status=status,
            replay_seq=seq,
            started_at=now - dt.timedelta(minutes=ago, seconds=2),
            finished_at=now - dt.timedelta(minutes=ago),
        )
    ExecutionRun.objects.create(
        event=events[2],
        workflow=workflow,
        workflow_version=workflow.current_version,
        status=RunStatus.WAITING,
        replay_seq=9,
        waiting_until=now + dt.timedelta(hours=1),
    )
    OutboxJob.objects.create(kind=JobKind.ROUTE_EVENT, status=JobStatus.DEAD, available_at=now, trace_id="t")
    return workflow


def figure(html: str, figure_id: str) -> str:
    match = re.search(rf'id="{figure_id}">([^<]*)<', html)
    assert match, figure_id
    return match.group(1).strip()


def test_anonymous_visitors_are_sent_to_the_login_page():
    response = Client().get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_non_staff_users_are_sent_to_the_login_page_even_with_the_permissions():
    response = client_for(*BOTH, staff=False).get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("codenames", [(), ("view_event",), ("view_executionrun",)])
def test_staff_without_view_permission_on_events_and_runs_get_403(codenames):
    assert client_for(*codenames).get(URL).status_code == 403


def test_the_admin_index_links_the_dashboard_only_for_those_who_may_see_it():
    assert URL in client_for(*BOTH).get("/admin/").content.decode()
    assert URL not in client_for("view_event").get("/admin/").content.decode()


@pytest.mark.parametrize("window", ["", "1h", "24h", "7d"])
def test_the_page_prints_the_figures_of_each_window(seeded, window):
    response = client_for(*BOTH).get(URL, {"window": window} if window else {})
    assert response.status_code == 200
    html = response.content.decode()
    expected_events = {"": 1, "1h": 1, "24h": 2, "7d": 2}[window]  # the runs' own event: received now
    assert figure(html, "fig-events") == str(expected_events + 1)
    assert figure(html, "fig-runs-succeeded") == ("1" if window in ("", "1h") else "2")
    assert figure(html, "fig-runs-failed") == "1"
    assert figure(html, "fig-waiting") == "1"
    assert figure(html, "fig-dead") == "1"
    assert '<svg id="automate-events-chart"' in html and '<svg id="automate-runs-chart"' in html
    assert '<title id="automate-runs-chart-title">Runs finished per' in html
    # orders: one failed of two finished in the last hour, of three over the longer windows
    assert ("50.0 %" if window in ("", "1h") else "33.3 %") in html
    assert 'aria-current="page">' + (window or "1h") in html


@pytest.mark.parametrize("value", ["2h", "1H", "7d;drop", "x" * 300])
def test_an_unknown_window_is_refused_with_400_and_the_valid_choices(value):
    response = client_for(*BOTH).get(URL, {"window": value})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Unknown window" in html and "choose one of 1h, 24h, 7d" in html
    assert 'href="?window=24h"' in html
    assert "x" * 30 not in html  # the echoed value is cut short


def test_page_queries_do_not_depend_on_the_window(seeded, monkeypatch):
    frozen = timezone.now()  # no bucket settles between the requests, so none rolls up anything
    monkeypatch.setattr(figures, "timezone", SimpleNamespace(now=lambda: frozen))
    client = client_for(*BOTH)
    for window in ("1h", "24h", "7d"):
        client.get(URL, {"window": window})  # rollups current; sessions and permissions cached alike
    counts = {}
    for window in ("1h", "24h", "7d"):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL, {"window": window}).status_code == 200
        counts[window] = len(captured.captured_queries)
    assert len(set(counts.values())) == 1, counts
