"""One trace_id from the webhook to the external system, over 200 runs.

Every log line (JSON formatter output), event, job, run, step, audit entry, outbound
request (seen by a local HTTP server) and error body carries the ingress trace_id; an
incoming ``traceparent`` is honoured end to end.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from django_automate.models import AuditEntry, Budget, Event, ExecutionRun, OutboxJob, StepRun
from django_automate.policy.logfilter import RedactingFilter
from django_automate.tracing import context
from django_automate.tracing.logging import JSONFormatter, TraceContextFilter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.integration.observability.urls")]

RUNS = 200
BLOCKED = 3  # runs over the budget: they fail with an audit entry
# Logged by the worker outside any job: no trace to carry.
LIFECYCLE_ACTIONS = {"worker_start", "worker_stop", "worker_stopping", "lock_conflict"}


@pytest.fixture
def json_log() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The documented logging setup (context + redaction filters, JSON formatter), at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(TraceContextFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("django_automate")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.handlers, logger.level, logger.propagate = saved


def _trace_headers(n: int) -> tuple[dict[str, str], str | None]:
    """Cycle through the three ingress cases: traceparent, X-Trace-Id, nothing (generated)."""
    if n % 3 == 0:
        trace_id = str(uuid.uuid4())
        return {"HTTP_TRACEPARENT": f"00-{uuid.UUID(trace_id).hex}-00f067aa0ba902b7-01"}, trace_id
    if n % 3 == 1:
        trace_id = str(uuid.uuid4())
        return {"HTTP_X_TRACE_ID": trace_id}, trace_id
    return {}, None


def run_workers() -> None:
    """Process every job; several threads where the database has row locks, so contexts run side by side.

    A ``once`` worker thread stops at the first claim that finds nothing; under SKIP LOCKED
    that can happen while other threads still hold jobs (MariaDB skips to "no row" when the
    first candidate is locked), so go again until nothing is due.
    """
    from django.db import connection
    from django.utils import timezone

    from django_automate.worker.loop import Worker

    concurrency = 1 if connection.vendor == "sqlite" else 4
    for _ in range(100):
        Worker(once=True, concurrency=concurrency, install_signal_handlers=False).run()
        if not OutboxJob.objects.filter(status="ready", available_at__lte=timezone.now()).exists():
            return
    raise AssertionError("The workers left jobs behind.")


@pytest.fixture
def fast_sqlite_commits() -> Iterator[None]:
    """200 runs commit thousands of times; on SQLite skip the fsync of each (this connection, this test)."""
    from django.db import connection

    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        (previous,) = cursor.fetchone()
        cursor.execute("PRAGMA synchronous = OFF")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA synchronous = {int(previous)}")


def test_one_trace_id_from_webhook_to_external_system_over_200_runs(
    client, endpoint_factory, workflow_factory, rule_factory, http_sink, json_log, fast_sqlite_commits
):
    endpoint_factory()
    workflow = workflow_factory(
        steps=[
            {"id": "note", "connector": "log", "action": "write", "with": {"message": "order {{ event.payload.id }}"}},
            {
                "id": "call",
                "connector": "http",
                "action": "request",
                "with": {"method": "POST", "url": f"{http_sink.url}/orders", "json": {"id": "{{ event.payload.id }}"}},
            },
        ]
    )
    rule_factory(workflow)
    Budget.objects.create(scope="global", metric="runs", limit=RUNS - BLOCKED, period="month")

    expected: dict[str, str] = {}  # event id -> trace id
    for n in range(RUNS):
        headers, given = _trace_headers(n)
        response = client.post("/automate/hooks/orders/", {"id": n}, content_type="application/json", **headers)
        assert response.status_code == 202, response.content
        body = response.json()
        assert response["X-Trace-Id"] == body["trace_id"]
        if given is not None:
            assert body["trace_id"] == given
        expected[body["event_id"]] = body["trace_id"]
    errors: dict[str, str] = {}
    for _ in range(5):
        headers, given = _trace_headers(0)
        response = client.post("/automate/hooks/orders/", b"{not json", content_type="application/json", **headers)
        assert response.status_code == 400
        assert response.json()["code"] == "malformed_payload"
        assert response.json()["trace_id"] == response["X-Trace-Id"] == given
        errors[str(given)] = "malformed_payload"
    assert len(set(expected.values())) == RUNS

    run_workers()

    # Rows: event, both jobs, run, steps and audit entries carry the event's trace_id.
    events = {str(e.id): e.trace_id for e in Event.objects.all()}
    assert events == expected
    for job in OutboxJob.objects.select_related("run"):
        event_id = str(job.event_id or job.run.event_id)
        assert job.trace_id == expected[event_id], job
    runs = {str(r.id): r for r in ExecutionRun.objects.all()}
    assert len(runs) == RUNS
    run_trace = {run_id: run.trace_id for run_id, run in runs.items()}
    for run in runs.values():
        assert run.trace_id == expected[str(run.event_id)]
    for step in StepRun.objects.all():
        assert step.trace_id == run_trace[str(step.run_id)]
    statuses = sorted(run.status for run in runs.values())
    assert statuses.count("succeeded") == RUNS - BLOCKED and statuses.count("failed") == BLOCKED
    audits = list(AuditEntry.objects.filter(action="budget.exceeded"))
    assert len(audits) == BLOCKED
    for entry in audits:
        assert entry.trace_id == run_trace[entry.data["run_id"]]

    # Outbound: every request at the external system names the run's trace, traceparent included.
    assert len(http_sink.requests) == RUNS - BLOCKED
    for request in http_sink.requests:
        run_id = request["headers"]["idempotency-key"].split(":")[0]
        trace_id = run_trace[run_id]
        assert request["headers"]["x-trace-id"] == trace_id
        parent = context.parse_traceparent(request["headers"]["traceparent"])
        assert parent is not None and parent.trace_id == trace_id

    # Logs: every line while handling a request or a job has the trace_id of what it is about.
    lines = json_log()
    actions_by_trace: dict[str, set[str]] = defaultdict(set)
    known = set(expected.values()) | set(errors)
    for line in lines:
        assert line["action"], line  # a stable action key on every line
        if line["action"] in LIFECYCLE_ACTIONS:
            continue
        assert line.get("trace_id") in known, line
        if "run_id" in line:
            assert line["trace_id"] == run_trace[line["run_id"]], line
        if "event_id" in line:
            assert line["trace_id"] == expected[line["event_id"]], line
        if "step_id" in line:
            assert line["step_id"] in ("note", "call") and "run_id" in line, line
        actions_by_trace[line["trace_id"]].add(line["action"])
    succeeded = {run.trace_id for run in runs.values() if run.status == "succeeded"}
    for trace_id in succeeded:
        assert {
            "record_event",
            "claim_job",
            "run_created",
            "run_started",
            "connector_log",
            "step_succeeded",
            "run_succeeded",
        } <= actions_by_trace[trace_id], trace_id
    for trace_id in set(run_trace.values()) - succeeded:
        assert {"budget_exceeded", "run_failed"} <= actions_by_trace[trace_id]
    for trace_id in errors:
        assert "webhook_rejected" in actions_by_trace[trace_id]
