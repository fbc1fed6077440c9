"""The admin's backfill pages: filter form, dry-run preview, confirmation, progress with cancel and resume."""

from __future__ import annotations

import itertools
import json

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from django_automate.models import AuditEntry, Backfill

pytestmark = pytest.mark.django_db(transaction=True)
_names = itertools.count()
NEW = "/admin/automate/backfill/add/"
FILTER = {"type": "order.created", "where": json.dumps({"<": [{"var": "event.payload.amount"}, 200]})}


def staff(*codenames: str) -> Client:
    user = User.objects.create_user(f"staff{next(_names)}", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="automate", codename=codename))
    client = Client()
    client.force_login(user)
    return client


def test_preview_then_confirm_then_cancel_and_resume(history, run_worker):
    assert "automate-json" not in staff("replay_event").post(NEW, {**FILTER, "preview": "1"}).content.decode()
    client = staff("replay_event", "view_event")
    assert client.get(NEW).status_code == 200
    preview = client.post(NEW, {**FILTER, "preview": "1"})
    page = preview.content.decode()
    assert "20 of 30 events match; replaying them would start 40 runs" in page
    assert "<td>big</td><td>15</td><td>9</td><td>9</td>" in page
    assert page.count("automate-json") == 10  # the sample, redacted
    assert not Backfill.objects.exists()
    applied = preview.context["applied"]
    started = client.post(NEW, {**FILTER, "confirm": "1", "applied": applied})
    backfill = Backfill.objects.get()
    assert started.status_code == 302 and started["Location"].endswith(f"/backfill/{backfill.pk}/change/")
    progress = client.get(started["Location"]).content.decode()
    assert "0 of 30 events read (0%)" in progress and "automate-backfill-cancel" in progress
    assert client.post(f"/admin/automate/backfill/{backfill.pk}/cancel/").status_code == 302
    backfill.refresh_from_db()
    assert backfill.status == "cancelled"
    assert "automate-backfill-resume" in client.get(started["Location"]).content.decode()
    client.post(f"/admin/automate/backfill/{backfill.pk}/resume/")
    run_worker()
    progress = client.get(started["Location"]).content.decode()
    assert "30 of 30 events read (100%), 20 matched, 40 runs started." in progress
    assert "<td>vip</td><td>5</td>" in progress
    entries = AuditEntry.objects.filter(object_id=str(backfill.pk)).order_by("seq")
    actions = list(entries.values_list("action", flat=True))
    assert actions == ["backfill.requested", "backfill.cancelled", "backfill.resumed", "backfill.finished"]


def test_form_errors_land_on_their_fields(history):
    client = staff("replay_event")
    response = client.post(NEW, {"where": "{nope", "preview": "1"})
    assert "The condition is not valid JSON" in response.content.decode()
    response = client.post(NEW, {"received_from": "yesterday", "preview": "1"})
    assert response.context["form"].errors["received_from"]
    where = json.dumps({"==": [{"var": "event.payload.customer.password"}, "x"]})
    response = client.post(NEW, {"where": where, "preview": "1"})
    assert "needs the permission automate.view_raw_payload" in str(response.context["form"].errors["where"])


def test_backfill_pages_need_replay_event(history):
    backfill = Backfill.objects.create(requested_by="x", trace_id="")
    for client in (staff(), staff("view_event", "view_backfill", "change_backfill")):
        assert client.get(NEW).status_code == 403
        assert client.post(NEW, {"preview": "1"}).status_code == 403
        assert client.get(f"/admin/automate/backfill/{backfill.pk}/change/").status_code == 403
        assert client.post(f"/admin/automate/backfill/{backfill.pk}/cancel/").status_code == 403
    backfill.refresh_from_db()
    assert backfill.status == "pending"
    assert Client().get(NEW).status_code == 302  # to the login page
