"""Prometheus metrics (the ``prometheus`` extra): after a known workload, the numbers equal the database truth."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest

pytest.importorskip("prometheus_client")

from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

import django_automate
from django_automate.models import (
    AuditEntry,
    Budget,
    Event,
    ExecutionRun,
    JobStatus,
    OutboxJob,
    StepRun,
    WorkerHeartbeat,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.integration.observability.urls")]

TOKEN = "metrics-token-for-tests-0123456789"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client, **extra: Any) -> Samples:
    with override_settings(AUTOMATE={**settings.AUTOMATE, "METRICS_TOKEN": TOKEN}):
        response = client.get("/automate/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain") and response["X-Trace-Id"]
    samples: Samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (sample, labels), value in samples.items() if sample == name}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def nonzero(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for labels, v in series(samples, name).items() if v}


def db_counts(model: Any, *fields: str) -> dict[frozenset[tuple[str, str]], float]:
    counted = Counter(tuple(row) for row in model.objects.values_list(*fields))
    return {frozenset(zip(fields, key, strict=True)): float(n) for key, n in counted.items()}


def http_step(url: str, **extra: Any) -> dict[str, Any]:
    return {"id": "call", "connector": "http", "action": "request", "with": {"method": "POST", "url": url}, **extra}


def test_metrics_equal_the_database_after_a_known_workload(
    client, endpoint_factory, workflow_factory, rule_factory, http_sink, run_worker
):
    before = scrape(client)
    endpoint_factory()
    retry = {"max_attempts": 2, "initial_seconds": 600, "max_seconds": 600}
    rule_factory(workflow_factory(steps=[http_step(f"{http_sink.url}/orders", retry=retry)]))
    capped = workflow_factory(
        slug="capped", steps=[{"id": "say", "connector": "log", "action": "write", "with": {"message": "hi"}}]
    )
    rule_factory(capped, name="capped", event_type="capped.*")
    later = workflow_factory(
        slug="later", steps=[{"id": "say", "connector": "log", "action": "write", "with": {"message": "hi"}}]
    )
    rule_factory(later, name="later", event_type="later.*")
    Budget.objects.create(scope="workflow:capped", metric="runs", limit=0, period="day", on_exceed="block")
    Budget.objects.create(scope="workflow:later", metric="runs", limit=0, period="day", on_exceed="defer")
    # Five orders: succeeded, retrying (5xx), failed (4xx), succeeded, succeeded.
    http_sink.responses = [(200, {}, b"{}"), (503, {}, b"{}"), (400, {}, b"{}"), (200, {}, b"{}"), (200, {}, b"{}")]
    for n in range(5):
        response = client.post("/automate/hooks/orders/", {"id": n}, content_type="application/json")
        assert response.status_code == 202
    key = {"HTTP_IDEMPOTENCY_KEY": "order-0"}
    assert client.post("/automate/hooks/orders/", {"id": 9}, content_type="application/json", **key).status_code == 202
    assert client.post("/automate/hooks/orders/", {"id": 9}, content_type="application/json", **key).status_code == 200
    for _ in range(2):
        assert client.post("/automate/hooks/orders/", b"{", content_type="application/json").status_code == 400
    assert client.post("/automate/hooks/no-such-hook/", {}, content_type="application/json").status_code == 404
    django_automate.emit("capped.event", {})
    django_automate.emit("later.event", {})
    django_automate.emit("invoice.sent", {})  # no rule: unmatched
    run_worker()
    waiting = django_automate.emit("order.created", {"id": 99})  # not routed yet
    OutboxJob.objects.filter(event=waiting).update(available_at=timezone.now() - dt.timedelta(seconds=120))
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        id="h:1:fresh", hostname="h", pid=1, started_at=now, last_seen_at=now, queues=["default"]
    )

    after = scrape(client)

    assert value(after, "automate_database_up") == 1
    # Database-derived: exactly what the tables say.
    assert nonzero(after, "automate_events") == db_counts(Event, "source", "status")
    assert nonzero(after, "automate_runs") == db_counts(ExecutionRun, "status")
    assert nonzero(after, "automate_steps") == db_counts(StepRun, "connector", "status")
    assert value(after, "automate_runs", status="cancelled") == 0  # zero-filled, never absent
    assert value(after, "automate_runs", status="succeeded") == 4  # 3 orders + the duplicate's original
    assert value(after, "automate_runs", status="running") == 1  # retry scheduled in 10 minutes
    assert value(after, "automate_runs", status="failed") == 2  # the 4xx and the blocked run
    assert value(after, "automate_runs", status="pending") == 1  # deferred to the next window
    for status in (JobStatus.READY, JobStatus.CLAIMED, JobStatus.DEAD):
        expected = OutboxJob.objects.filter(status=status).count()
        assert value(after, "automate_outbox_jobs", queue="default", status=status) == expected
    assert value(after, "automate_outbox_jobs", queue="default", status="dead") == 2
    due = OutboxJob.objects.filter(status=JobStatus.READY, available_at__lte=timezone.now()).count()
    assert value(after, "automate_outbox_depth", queue="default") == due == 1
    assert 120 <= value(after, "automate_outbox_oldest_ready_age_seconds", queue="default") < 180
    blocks = AuditEntry.objects.filter(action="budget.exceeded")
    assert (
        value(after, "automate_budget_exceeded_total", on_exceed="block")
        == blocks.filter(data__on_exceed="block").count()
    )
    assert value(after, "automate_budget_exceeded_total", on_exceed="defer") == 1
    assert value(after, "automate_budget_exceeded_total", on_exceed="block") == 1
    assert value(after, "automate_workers", state="alive") == 1
    assert value(after, "automate_workers", state="stale") == 0

    # In-process counters: their increase over the workload equals what the database recorded.
    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    webhooks = Event.objects.filter(source="webhook:orders").count()
    assert delta("automate_webhook_requests_total", endpoint="orders", outcome="accepted") == webhooks == 6
    assert delta("automate_webhook_requests_total", endpoint="orders", outcome="duplicate") == 1
    assert delta("automate_webhook_requests_total", endpoint="orders", outcome="malformed_payload") == 2
    assert delta("automate_webhook_requests_total", endpoint="", outcome="resource_not_found") == 1
    http_steps = StepRun.objects.filter(connector="http")
    for outcome, status in (("succeeded", "succeeded"), ("retryable_error", "retrying"), ("permanent_error", "failed")):
        calls = delta("automate_step_duration_seconds_count", connector="http", outcome=outcome)
        assert calls == http_steps.filter(status=status).count() > 0, outcome
    log_calls = delta("automate_step_duration_seconds_count", connector="log", outcome="succeeded")
    assert log_calls == StepRun.objects.filter(connector="log", status="succeeded").count()
    assert delta("automate_step_duration_seconds_bucket", connector="http", outcome="succeeded", le="+Inf") == 4


def test_row_counts_can_be_left_out_for_large_tables(client):
    django_automate.emit("order.created", {})
    with override_settings(AUTOMATE={**settings.AUTOMATE, "METRICS_ROW_COUNTS": False}):
        samples = scrape(client)
    assert not series(samples, "automate_runs") and not series(samples, "automate_events")
    assert value(samples, "automate_outbox_depth", queue="default") == 1


def test_openmetrics_is_served_when_asked_for(client):
    with override_settings(AUTOMATE={**settings.AUTOMATE, "METRICS_ALLOWED_NETWORKS": ["127.0.0.0/8"]}):
        response = client.get("/automate/metrics/", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.rstrip().endswith(b"# EOF")
