"""The admin's backfill pages in a browser: filter form, dry run, start, progress, cancel and resume."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission, User

import django_automate
from django_automate.models import Backfill
from tests.browser.conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def orders(workflow_factory, rule_factory, run_worker, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "BACKFILL_EVENTS_PER_SECOND": None, "BACKFILL_BATCH_SIZE": 5}
    rule_factory(workflow_factory(slug="fulfil"), event_type="order.created")
    for n in range(12):
        django_automate.emit("order.created", {"amount": n * 10, "card": {"password": "1234"}})
    run_worker()
    rule_factory(
        workflow_factory(slug="big-orders"),
        event_type="order.created",
        condition={">=": [{"var": "event.payload.amount"}, 60]},
    )


def test_an_operator_previews_starts_cancels_and_resumes_a_backfill(page, orders, run_worker):
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="automate", codename__in=["replay_event", "view_event"])
    )
    login(page, "operator")
    page.goto("/admin/automate/backfill/add/")
    page.fill("#id_type", "order.created")
    page.fill("#id_where", json.dumps({"<": [{"var": "event.payload.amount"}, 100]}))
    page.click("input[name=preview]")
    page.wait_for_selector("#automate-backfill-report")
    assert "10 of 12 events match; replaying them would start 14 runs" in page.inner_text("#automate-backfill-report")
    rows = page.inner_text("#automate-backfill-forecast")
    assert "big-orders\t4\t0\t0" in rows and "fulfil\t10\t10\t10" in rows
    assert "1234" not in page.inner_text("#content")  # the sample is redacted
    screenshot(page, "backfill-dry-run")
    page.click("#automate-backfill-confirm input[name=confirm]")
    page.wait_for_selector("#automate-backfill-status")
    assert page.inner_text("#automate-backfill-status") == "Pending"
    page.click("#automate-backfill-cancel")
    page.wait_for_selector("#automate-backfill-resume")
    assert page.inner_text("#automate-backfill-status") == "Cancelled"
    page.click("#automate-backfill-resume")
    page.wait_for_selector("#automate-backfill-cancel")
    run_worker()
    page.reload()
    assert page.inner_text("#automate-backfill-status") == "Done"
    assert "12 of 12 events read (100%), 10 matched, 14 runs started." in page.inner_text("#automate-backfill-counts")
    screenshot(page, "backfill-progress")
    assert Backfill.objects.get().started == 14
