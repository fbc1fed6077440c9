"""Runs held back by flow control: the API's ``held_back`` field and filter, the admin's column and filter."""

from __future__ import annotations

import pytest

import django_automate
from django_automate.models import ExecutionRun, JobKind, OutboxJob
from django_automate.observability import metrics

pytestmark = pytest.mark.django_db(transaction=True)


def slot_workflow(workflow_factory, rule_factory, key: str = "{{ event.payload.customer }}") -> None:
    steps = [{"id": "nap", "sleep": {"seconds": 600}}]
    workflow = workflow_factory(definition={"concurrency": {"key": key, "limit": 1}, "steps": steps})
    rule_factory(workflow)


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [run["id"] for run in response.json()["results"]]


def test_a_run_waiting_for_a_slot_shows_its_reason_and_key(
    workflow_factory, rule_factory, run_worker, admin_api, make_client
):
    slot_workflow(workflow_factory, rule_factory)
    for n in range(2):
        django_automate.emit("order.created", {"customer": "acme", "n": n})
    django_automate.emit("order.created", {"customer": "zeta", "n": 9})
    run_worker()
    held = ExecutionRun.objects.get(status="pending")
    assert ids(admin_api.get("runs/?held_back=concurrency")) == [str(held.id)]
    assert ids(admin_api.get("runs/?held_back=any")) == [str(held.id)]
    assert ids(admin_api.get("runs/?held_back=rate_limit")) == []
    shown = admin_api.get(f"runs/{held.id}/").json()["held_back"]
    assert shown["reason"] == "concurrency" and shown["key"] == "acme" and shown["step"] == ""
    job = OutboxJob.objects.get(run=held, kind=JobKind.EXECUTE_RUN)
    assert shown["until"].startswith(job.available_at.isoformat()[:19])
    others = [run for run in admin_api.get("runs/").json()["results"] if run["id"] != str(held.id)]
    assert [run["held_back"] for run in others] == [None, None]
    # A reader with only the view permission sees the same; a bad choice is a validation error.
    reader = make_client("view_executionrun")
    assert ids(reader.get("runs/?held_back=any")) == [str(held.id)]
    bad = admin_api.get("runs/?held_back=everything")
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"


def test_a_key_read_from_a_sensitive_field_is_shown_redacted(workflow_factory, rule_factory, run_worker, admin_api):
    slot_workflow(workflow_factory, rule_factory, key="{{ event.payload.password }}")
    for _ in range(2):
        django_automate.emit("order.created", {"password": "hunter2-secret"})
    run_worker()
    held = ExecutionRun.objects.get(status="pending")
    body = admin_api.get(f"runs/{held.id}/").content.decode()
    assert "hunter2-secret" not in body
    assert admin_api.get(f"runs/{held.id}/").json()["held_back"]["key"] == "[REDACTED]"
    assert "hunter2-secret" not in str(OutboxJob.objects.get(run=held, kind=JobKind.EXECUTE_RUN).last_error)


def test_a_step_held_back_by_a_rate_limit_names_its_step_and_key(
    workflow_factory, rule_factory, run_worker, admin_api, http_sink
):
    call = {
        "id": "call",
        "connector": "http",
        "action": "request",
        "with": {"method": "POST", "url": http_sink.url},
        "rate_limit": {"key": "crm:{{ event.payload.store }}", "per_second": 0.01, "burst": 1},
    }
    rule_factory(workflow_factory(steps=[call]))
    for _ in range(2):
        django_automate.emit("order.created", {"store": "s1"})
    run_worker()
    assert len(http_sink.requests) == 1
    (held,) = ids(admin_api.get("runs/?held_back=rate_limit"))
    shown = admin_api.get(f"runs/{held}/").json()["held_back"]
    assert (shown["reason"], shown["key"], shown["step"]) == ("rate_limit", "crm:s1", "call")
    assert ids(admin_api.get("runs/?held_back=concurrency")) == []


def test_the_admin_lists_held_back_runs_with_their_key(workflow_factory, rule_factory, run_worker, admin_client):
    slot_workflow(workflow_factory, rule_factory)
    for n in range(2):
        django_automate.emit("order.created", {"customer": "acme", "n": n})
    run_worker()
    held = ExecutionRun.objects.get(status="pending")
    page = admin_client.get("/admin/automate/executionrun/?held_back=concurrency")
    assert page.status_code == 200
    text = page.content.decode()
    assert str(held.id) in text and "slot &#x27;acme&#x27;" in text
    other = ExecutionRun.objects.exclude(pk=held.pk).get()
    assert str(other.id) not in text
    detail = admin_client.get(f"/admin/automate/executionrun/{held.id}/change/").content.decode()
    assert "slot &#x27;acme&#x27;" in detail


@pytest.mark.skipif(not metrics.available(), reason="needs the prometheus extra")
def test_throttled_time_is_measured(workflow_factory, rule_factory, run_worker, http_sink):
    registry = metrics._get().registry  # type: ignore[union-attr]

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    before_delay = value("automate_rate_limit_delay_seconds_total", connector="http")
    before_waits = value("automate_concurrency_slot_wait_seconds_count")
    call = {
        "id": "call",
        "connector": "http",
        "action": "request",
        "with": {"method": "POST", "url": http_sink.url},
        "rate_limit": {"key": "k", "per_second": 0.5, "burst": 1},
    }
    definition = {"concurrency": {"key": "{{ event.payload.n }}", "limit": 1}, "steps": [call]}
    rule_factory(workflow_factory(definition=definition))
    for n in range(2):
        django_automate.emit("order.created", {"n": n})
    run_worker()
    # The second run's call waited about 2 s for a token (1 / 0.5 per second); both runs took a slot.
    assert value("automate_rate_limit_delay_seconds_total", connector="http") - before_delay == pytest.approx(
        2.0, abs=0.5
    )
    assert value("automate_concurrency_slot_wait_seconds_count") - before_waits == 2
