"""``events/replay/``: dry run (200), backfill (202), progress, cancel and resume; permissions and errors."""

from __future__ import annotations

import pytest

import django_automate
from django_automate.models import AuditEntry, Backfill, ExecutionRun
from tests.integration.api.test_errors import assert_error

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "events/replay/"
ORDERS = {"type": "order.created", "where": {">=": [{"var": "event.payload.amount"}, 50]}}


@pytest.fixture
def orders(workflow_factory, rule_factory, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "BACKFILL_EVENTS_PER_SECOND": None}
    rule_factory(workflow_factory(slug="all"), event_type="order.created")
    for n in range(10):
        django_automate.emit("order.created", {"amount": n * 10, "card": {"password": "123"}})
    django_automate.emit("order.created", {"amount": 90}, tenant="acme")


def test_a_dry_run_reports_counts_a_redacted_sample_and_the_forecast(orders, make_client):
    response = make_client("replay_event", "view_event").post(PATH, {"filter": ORDERS, "dry_run": True})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["dry_run"], body["scanned"], body["matched"], body["would_start"]) == (True, 10, 5, 5)
    assert body["workflows"] == [{"workflow": "all", "would_start": 5, "ran_originally": 0, "runs_so_far": 0}]
    assert len(body["sample"]) == 5
    assert body["sample"][0]["payload"]["card"]["password"] == "[REDACTED]"
    assert body["filter"]["received_until"]
    assert not Backfill.objects.exists()
    # without view_event: the counts, no sample
    assert make_client("replay_event").post(PATH, {"filter": ORDERS}).json()["sample"] == []


def test_a_backfill_is_accepted_followed_cancelled_and_resumed(orders, make_client, run_worker):
    client = make_client("replay_event")
    response = client.post(PATH, {"filter": ORDERS, "dry_run": False}, **{"traceparent": ""})
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == body["url"] == f"/automate/api/v1/events/replay/{body['id']}/"
    assert (body["status"], body["total"], body["processed"]) == ("pending", 10, 0)
    cancelled = client.post(f"{PATH}{body['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert_error(client.post(f"{PATH}{body['id']}/cancel/"), 409, "conflict")
    resumed = client.post(f"{PATH}{body['id']}/resume/")
    assert resumed.json()["status"] == "pending"
    assert_error(client.post(f"{PATH}{body['id']}/resume/"), 409, "conflict")
    run_worker()
    progress = client.get(body["url"]).json()
    assert (progress["status"], progress["processed"], progress["matched"], progress["started"]) == ("done", 10, 5, 5)
    assert progress["workflows"] == {"all": 5}
    assert progress["cursor"]["event_id"]
    assert ExecutionRun.objects.filter(tenant="", replay_seq=1).count() == 5  # replays of the routed events
    actions = list(AuditEntry.objects.filter(object_id=body["id"]).order_by("seq").values_list("action", "actor"))
    assert [action for action, _ in actions] == [
        "backfill.requested",
        "backfill.cancelled",
        "backfill.resumed",
        "backfill.finished",
    ]
    user = client.user.get_username()
    assert [actor.split()[0] for _, actor in actions] == [user, user, user, "system"]


def test_everything_needs_replay_event(orders, make_client, anonymous):
    backfill = make_client("replay_event").post(PATH, {"filter": ORDERS, "dry_run": False}).json()
    assert_error(anonymous.post(PATH, {"filter": ORDERS}), 401, "not_authenticated")
    viewer = make_client("view_event", "view_backfill", "add_backfill", "change_backfill")
    assert_error(viewer.post(PATH, {"filter": ORDERS}), 403, "permission_denied")
    assert_error(viewer.get(backfill["url"]), 403, "permission_denied")
    assert_error(viewer.post(f"{backfill['url']}cancel/"), 403, "permission_denied")


def test_backfills_of_other_tenants_do_not_exist_here(orders, make_client):
    backfill = make_client("replay_event").post(PATH, {"filter": {}, "dry_run": False}).json()
    other = make_client("replay_event", tenant="acme")
    assert_error(other.get(backfill["url"]), 404, "resource_not_found")
    assert_error(other.post(f"{backfill['url']}cancel/"), 404, "resource_not_found")
    body = other.post(PATH, {"filter": {}}).json()
    assert (body["scanned"], body["matched"]) == (1, 1)  # acme's one order


def test_invalid_filters_are_validation_errors_with_a_reason(orders, make_client):
    client = make_client("replay_event")
    error = assert_error(client.post(PATH, {"filter": {"status": "nope"}}), 400, "validation_error")
    assert (error["details"]["field"], error["details"]["reason"]) == ("status", "invalid_choice")
    error = assert_error(client.post(PATH, {"filter": {"where": {"bogus": []}}}), 400, "validation_error")
    assert error["details"]["reason"] == "invalid_condition"
    assert_error(client.post(PATH, {"filter": [], "dry_run": "maybe"}), 400, "validation_error")


def test_a_condition_on_a_redacted_value_needs_view_raw_payload(orders, make_client):
    where = {"filter": {"where": {"==": [{"var": "event.payload.card.password"}, "123"]}}}
    error = assert_error(make_client("replay_event").post(PATH, where), 403, "permission_denied")
    details = error["details"]
    assert (details["reason"], details["path"]) == ("reads_sensitive_key", "event.payload.card.password")
    assert make_client("replay_event", "view_raw_payload").post(PATH, where).json()["matched"] == 10
    # a backfill on such a filter is the raw viewer's to follow
    raw = make_client("replay_event", "view_raw_payload")
    backfill = raw.post(PATH, {**where, "dry_run": False}).json()
    assert raw.get(backfill["url"]).status_code == 200
    assert_error(make_client("replay_event").get(backfill["url"]), 403, "permission_denied")


def test_the_schema_documents_the_replay_endpoints(admin_api):
    schema = admin_api.get("schema/?format=json").json()
    paths = schema["paths"]
    assert set(paths["/automate/api/v1/events/replay/"]["post"]["responses"]) >= {"200", "202"}
    assert "/automate/api/v1/events/replay/{id}/cancel/" in paths
    assert "/automate/api/v1/events/replay/{id}/resume/" in paths
