"""``GET /automate/health/``: database, migrations, worker heartbeats and outbox lag, with JSON detail."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.conf import settings
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings
from django.utils import timezone

import django_automate
from django_automate.models import JobStatus, OutboxJob, WorkerHeartbeat

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.integration.observability.urls")]

HEALTH = "/automate/health/"


def heartbeat(*, seen_seconds_ago: float, stopped: bool = False) -> WorkerHeartbeat:
    seen = timezone.now() - dt.timedelta(seconds=seen_seconds_ago)
    return WorkerHeartbeat.objects.create(
        id=f"host:1:{uuid.uuid4().hex[:12]}",
        hostname="host",
        pid=1,
        queues=["default"],
        started_at=seen,
        last_seen_at=seen,
        stopped_at=timezone.now() if stopped else None,
    )


def automate_settings(**values):
    return override_settings(AUTOMATE={**settings.AUTOMATE, **values})


def test_ready_when_database_migrations_workers_and_outbox_are_fine(client):
    heartbeat(seen_seconds_ago=1)
    response = client.get(HEALTH)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    checks = body["checks"]
    assert set(checks) == {"database", "migrations", "workers", "outbox"}
    assert checks["database"]["status"] == "ok" and checks["database"]["latency_ms"] >= 0
    assert checks["migrations"] == {"status": "ok", "pending": []}
    assert checks["workers"]["alive"] == 1 and checks["workers"]["stale"] == 0
    assert checks["outbox"]["status"] == "ok" and checks["outbox"]["oldest_ready_age_seconds"] == 0
    assert response["X-Trace-Id"] and response["Cache-Control"].startswith("max-age=0")


def test_no_fresh_worker_heartbeat_makes_it_not_ready(client):
    heartbeat(seen_seconds_ago=3600)  # silent for an hour: crashed without saying so
    heartbeat(seen_seconds_ago=1, stopped=True)  # stopped cleanly: not counted at all
    response = client.get(HEALTH)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["workers"] == {
        "status": "fail",
        "alive": 0,
        "stale": 1,
        "stale_after_seconds": 2 * settings.AUTOMATE["LEASE_SECONDS"],
    }
    with automate_settings(HEALTH_WORKER_STALE_SECONDS=7200):
        assert client.get(HEALTH).json()["checks"]["workers"]["alive"] == 1


def test_inline_backend_needs_no_workers(client):
    with automate_settings(EXECUTION_BACKEND="inline"):
        response = client.get(f"{HEALTH}?checks=workers")
    assert response.status_code == 200
    assert response.json()["checks"]["workers"] == {"status": "ok", "required": False, "backend": "inline"}


def test_outbox_lag_over_the_threshold_makes_it_not_ready(client):
    heartbeat(seen_seconds_ago=1)
    django_automate.emit("order.created", {"id": 1})
    django_automate.emit("order.created", {"id": 2})
    now = timezone.now()
    first, second = OutboxJob.objects.order_by("id")
    OutboxJob.objects.filter(pk=first.pk).update(available_at=now - dt.timedelta(seconds=900))
    # A retry scheduled for later is not lag, however old the job is.
    OutboxJob.objects.filter(pk=second.pk).update(
        created_at=now - dt.timedelta(days=1), available_at=now + dt.timedelta(seconds=60)
    )
    response = client.get(HEALTH)
    assert response.status_code == 503
    outbox = response.json()["checks"]["outbox"]
    assert outbox["status"] == "fail" and outbox["due"] == 1 and outbox["max_lag_seconds"] == 300
    assert 900 <= outbox["oldest_ready_age_seconds"] < 960
    with automate_settings(HEALTH_MAX_OUTBOX_LAG_SECONDS=3600):
        assert client.get(HEALTH).status_code == 200
    OutboxJob.objects.filter(pk=first.pk).update(status=JobStatus.DONE)
    assert client.get(HEALTH).json()["checks"]["outbox"]["oldest_ready_age_seconds"] == 0


def test_unapplied_migrations_make_it_not_ready(client):
    recorder = MigrationRecorder.Migration.objects
    latest = recorder.filter(app="automate").order_by("-name").first()
    assert latest is not None
    latest.delete()  # as if the deploy had not migrated yet (rolled back with the test)
    response = client.get(f"{HEALTH}?checks=migrations,database")
    assert response.status_code == 503
    body = response.json()
    assert list(body["checks"]) == ["migrations", "database"]
    assert body["checks"]["migrations"] == {"status": "fail", "pending": [f"automate.{latest.name}"]}
    assert body["checks"]["database"]["status"] == "ok"


def test_checks_can_be_chosen_and_unknown_ones_are_a_validation_error(client):
    response = client.get(f"{HEALTH}?checks=database")
    assert response.status_code == 200 and list(response.json()["checks"]) == ["database"]
    trace_id = str(uuid.uuid4())
    response = client.get(f"{HEALTH}?checks=database,disk", HTTP_X_TRACE_ID=trace_id)
    assert response.status_code == 400
    assert response.json() == {
        "code": "validation_error",
        "message": "Unknown health check(s): disk.",
        "details": {"checks": ["disk"], "valid": ["database", "migrations", "workers", "outbox"]},
        "trace_id": trace_id,
    }
    assert response["X-Trace-Id"] == trace_id


def test_only_get_and_head_are_allowed(client):
    response = client.post(HEALTH)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD" and response["X-Trace-Id"] == response.json()["trace_id"]
    assert client.head(f"{HEALTH}live/").status_code == 200


def test_liveness_answers_without_the_database(client, django_assert_num_queries):
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with django_assert_num_queries(0):
        response = client.get(f"{HEALTH}live/", HTTP_TRACEPARENT=traceparent)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response["X-Trace-Id"] == "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"
