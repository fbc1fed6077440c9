"""What clients rely on where the API and its documentation once disagreed."""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import quote

import pytest
from django.core.cache import cache

from django_automate.api.serializers.common import ERROR_CODES
from django_automate.ingestion.events import record_event
from django_automate.models import ExecutionRun, Schedule
from django_automate.workflows.schema import SCHEMA_ID

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"code", "message", "details", "trace_id"}
    assert body["code"] == code and code in ERROR_CODES
    assert body["trace_id"] == response["X-Trace-Id"]
    return body


# -- schedules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cron", ["@daily", "@hourly", "@weekly", "@monthly", "@yearly", "@midnight", "*/15 9-17 * * MON-FRI"]
)
def test_schedules_accept_five_field_cron_and_documented_aliases(admin_api, cron):
    response = admin_api.post("schedules/", {"name": "tick", "cron": cron, "timezone": "Europe/Paris"})
    assert response.status_code == 201, response.content
    assert response.json()["cron"] == cron
    assert Schedule.objects.get(name="tick").cron == cron


@pytest.mark.parametrize(
    "cron",
    ["R * * * *", "H * * * *", "H(0-29) * * * *", "* * * *", "0 0 * * * *", "@reboot", "@every 5m", "61 * * * *"],
)
def test_schedules_reject_non_standard_cron(admin_api, cron):
    body = assert_error(admin_api.post("schedules/", {"name": "tick", "cron": cron}), 400, "validation_error")
    assert "cron" in body["details"]["fields"]
    assert not Schedule.objects.exists()


def test_schedules_reject_the_reserved_payload_key_and_non_objects(admin_api):
    body = assert_error(
        admin_api.post("schedules/", {"name": "tick", "cron": "@daily", "payload": {"schedule": "mine"}}),
        400,
        "validation_error",
    )
    assert "schedule" in body["details"]["fields"]["payload"][0]
    assert_error(admin_api.post("schedules/", {"name": "t", "cron": "@daily", "payload": [1]}), 400, "validation_error")
    schedule = admin_api.post("schedules/", {"name": "tick", "interval_seconds": 60}).json()
    response = admin_api.patch(f"schedules/{schedule['id']}/", {"payload": {"schedule": 1}})
    assert_error(response, 400, "validation_error")
    changed = admin_api.patch(f"schedules/{schedule['id']}/", {"cron": "@hourly", "interval_seconds": None})
    assert changed.status_code == 200 and changed.json()["cron"] == "@hourly"
    assert_error(admin_api.patch(f"schedules/{schedule['id']}/", {"cron": "R 1 * * *"}), 400, "validation_error")


# -- the workflow definition's JSON Schema ----------------------------------------------


def test_the_workflow_definition_schema_is_served_where_documented(anonymous):
    response = anonymous.get("schema/workflow-definition.json")
    assert response.status_code == 200, response.content
    assert response.json()["$id"] == SCHEMA_ID
    typed = anonymous.get("schema/workflow-definition.json", Accept="application/schema+json")
    assert typed.status_code == 200 and typed["Content-Type"].startswith("application/schema+json")
    assert typed.json() == response.json()


# -- datetimes every database can compare -----------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T00:00:00+16:00",
        "2024-05-01T00:00:00-23:59",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ],
)
@pytest.mark.parametrize(
    "param", ["events/?received_at_after=", "events/?received_at_before=", "runs/?created_at_after="]
)
def test_datetime_filters_out_of_database_range_answer_validation_error(admin_api, param, value):
    body = assert_error(admin_api.get(param + quote(value)), 400, "validation_error")
    assert body["details"]["fields"]


def test_datetime_filters_with_the_largest_offsets_work(admin_api):
    record_event(type="order.created", payload={}, source="api", trace_id=str(uuid.uuid4()))
    for value in ("2000-01-01T00:00:00+15:59", "2000-01-01T00:00:00-15:59"):
        response = admin_api.get("events/?received_at_after=" + quote(value))
        assert response.status_code == 200, response.content
        assert len(response.json()["results"]) == 1


@pytest.mark.parametrize("stamp", ["2024-05-01T00:00:00+20:00", "0001-01-01T00:00:00+00:30"])
def test_cursors_with_out_of_range_times_answer_validation_error(admin_api, stamp):
    for data in ({"r": 0, "k": [stamp, str(uuid.uuid4())]}, {"r": 1, "b": stamp}):
        token = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
        body = assert_error(admin_api.get(f"events/?cursor={token}"), 400, "validation_error")
        assert "cursor" in body["details"]["fields"]


# -- errors are JSON whatever the client accepts ----------------------------------------

ACCEPTS = [
    "text/html",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "application/xml",
    "text/plain",
    "*/*",
    "application/json",
    "application/vnd.oai.openapi",
]


@pytest.fixture
def error_requests(admin_api, make_client, anonymous, monkeypatch, settings):
    """One request per error status, each answered by the API (not the project)."""

    def broken(*args, **kwargs):
        raise ZeroDivisionError("internals")

    def throttled(api, accept):
        settings.AUTOMATE = {**settings.AUTOMATE, "API_THROTTLE_RATE": "1/minute"}
        cache.clear()
        api.get("connectors/", Accept=accept)
        response = api.get("connectors/", Accept=accept)
        settings.AUTOMATE = {**settings.AUTOMATE, "API_THROTTLE_RATE": None}
        cache.clear()
        return response

    monkeypatch.setattr("django_automate.api.views.catalog.trace_timeline", broken)
    viewer = make_client()
    return [
        (400, "validation_error", lambda a: admin_api.get("events/?limit=0", Accept=a)),
        (401, "not_authenticated", lambda a: anonymous.get("events/", Accept=a)),
        (403, "permission_denied", lambda a: viewer.get("events/", Accept=a)),
        (404, "resource_not_found", lambda a: admin_api.get(f"events/{uuid.uuid4()}/", Accept=a)),
        (404, "resource_not_found", lambda a: admin_api.get("nothing-here/", Accept=a)),
        (405, "method_not_allowed", lambda a: admin_api.delete("events/", Accept=a)),
        # A format no renderer serves (DRF answers such a ?format= with 404, Accept never fails: JSON).
        (404, "resource_not_found", lambda a: admin_api.get("events/?format=xml", Accept=a)),
        (
            415,
            "unsupported_media_type",
            lambda a: admin_api.request(
                "POST", "events/", b"type=a", content_type="application/x-www-form-urlencoded", Accept=a
            ),
        ),
        (429, "throttled", lambda a: throttled(admin_api, a)),
        (500, "internal_error", lambda a: admin_api.get(f"traces/{uuid.uuid4()}/", Accept=a)),
    ]


@pytest.mark.parametrize("accept", ACCEPTS)
def test_errors_are_json_whatever_the_accept_header(error_requests, accept):
    for status, code, send in error_requests:
        assert_error(send(accept), status, code)


@pytest.mark.parametrize("accept", ["text/html", "*/*"])
def test_the_api_root_and_format_api_still_render_for_browsers(admin_api, accept):
    assert admin_api.get("events/", Accept=accept).status_code == 200
    assert_error(admin_api.get(f"events/{uuid.uuid4()}/?format=api"), 404, "resource_not_found")


# -- workflows ---------------------------------------------------------------------------


def test_patching_a_workflow_definition_points_to_publish(admin_api, workflow_factory):
    workflow = workflow_factory()
    definition = {"steps": [{"id": "other", "connector": "log", "action": "write", "with": {"message": "x"}}]}
    body = assert_error(
        admin_api.patch(f"workflows/{workflow.slug}/", {"name": "Renamed", "definition": definition}),
        400,
        "validation_error",
    )
    assert "publish/" in body["details"]["fields"]["definition"][0]
    after = admin_api.get(f"workflows/{workflow.slug}/").json()
    assert after["name"] == "Workflow" and after["version"] == 1
    assert after["definition"]["steps"][0]["id"] == "say"
    assert admin_api.patch(f"workflows/{workflow.slug}/", {"name": "Renamed"}).json()["name"] == "Renamed"


# -- lists narrowed to one event or trace ------------------------------------------------


def test_lists_of_one_event_or_trace_show_rows_at_once(admin_api, settings, workflow_factory):
    settings.AUTOMATE = {**settings.AUTOMATE, "API_CURSOR_SAFETY_SECONDS": 60}
    workflow = workflow_factory()
    trace_id = str(uuid.uuid4())
    event = record_event(type="order.created", payload={}, source="api", trace_id=trace_id).event
    run = ExecutionRun.objects.create(
        event=event, workflow=workflow, workflow_version=workflow.current_version, status="succeeded", trace_id=trace_id
    )
    # The whole table is paged up to the safe horizon (a minute ago here) ...
    assert admin_api.get("runs/").json()["results"] == []
    assert admin_api.get("events/").json()["results"] == []
    # ... but one event's or one trace's rows are shown as soon as they are committed.
    assert [r["id"] for r in admin_api.get(f"runs/?event={event.id}").json()["results"]] == [str(run.id)]
    assert [r["id"] for r in admin_api.get(f"runs/?trace_id={trace_id}").json()["results"]] == [str(run.id)]
    assert [e["id"] for e in admin_api.get(f"events/?trace_id={trace_id}").json()["results"]] == [str(event.id)]
    assert admin_api.get(f"runs/?event={uuid.uuid4()}").json()["results"] == []


def test_query_parameters_given_twice_answer_validation_error(admin_api):
    body = assert_error(admin_api.get("events/?type=a&type=b"), 400, "validation_error")
    assert set(body["details"]["fields"]) == {"type"}
    assert admin_api.get("events/?trace_id=").status_code == 200  # empty filters filter nothing


@pytest.mark.parametrize(
    "scope",
    [
        "global\n",  # Python's $ matches before a final newline; the schema's (ECMA) $ does not
        "tenant:a\x1cb",  # whitespace to Python's \s, not to ECMA's
        "tenant:a\x85b",
        "tenant:a\ufeffb",  # whitespace to ECMA's \s, not to Python's
        "tenant:a b",
    ],
)
def test_a_budget_scope_is_refused_alike_by_the_schema_and_the_api(admin_api, scope):
    body = {"scope": scope, "metric": "runs", "limit": "1", "period": "day"}
    response = admin_api.post("budgets/", body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert admin_api.post("budgets/", {**body, "scope": "tenant:acme"}).status_code == 201


@pytest.mark.parametrize("path, body", [("secrets/", {"name": "TOKEN\n", "value": "x"})])
def test_patterns_match_the_whole_value(admin_api, path, body):
    assert admin_api.post(path, body).status_code == 400
