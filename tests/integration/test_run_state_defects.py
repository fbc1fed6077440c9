"""A run's state stays truthful across cancellation, retries and resumption."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

import django_automate
from django_automate.connectors.base import PermanentError
from django_automate.models import ExecutionRun, JobKind, JobStatus, OutboxJob, RunStatus, StepRun, StepStatus
from django_automate.outbox.claim import claim_one
from django_automate.runs.operations import cancel_run, retry_run
from django_automate.worker.handlers import process

pytestmark = pytest.mark.django_db(transaction=True)

BROKEN = threading.Event()


def flaky(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    if BROKEN.is_set():
        raise PermanentError("the downstream system refused it")
    return {"ok": True}


@pytest.fixture
def actions(settings) -> Iterator[None]:
    settings.AUTOMATE = {**django_settings.AUTOMATE, "PYTHON_ACTIONS": {"flaky": f"{__name__}.flaky"}}
    yield
    BROKEN.clear()


#: A retry due only when the test says so (make_due), however slow the machine.
LATER = {"max_attempts": 3, "initial_seconds": 3600, "max_seconds": 3600, "jitter": "none"}


def work() -> None:
    """Process every job due now, as a worker does."""
    while (job := claim_one(worker_id="w", queues=["default"])) is not None:
        process(job)


def process_then_disconnect(job: Any) -> None:
    try:
        process(job)
    finally:
        connection.close()


def make_due() -> None:
    OutboxJob.objects.filter(status=JobStatus.READY).update(available_at=timezone.now())


def test_cancelling_a_run_waiting_for_a_retry_leaves_no_step_retrying(workflow_factory, rule_factory, http_sink):
    http_sink.responses = [(503, {}, b"{}")] * 5
    step = {"id": "call", "connector": "http", "action": "request", "with": {"url": http_sink.url}, "retry": LATER}
    rule_factory(workflow_factory(steps=[step]))
    django_automate.emit("order.created", {})
    work()
    attempt = StepRun.objects.get()
    assert attempt.status == StepStatus.RETRYING
    run = cancel_run(ExecutionRun.objects.get(), actor="ops")
    assert run.status == RunStatus.CANCELLED
    attempt.refresh_from_db()
    assert attempt.status == StepStatus.FAILED  # no retry follows
    assert attempt.error["code"] not in {"run_cancelled", "run_ended"}  # the attempt keeps its own error
    assert OutboxJob.objects.get(kind=JobKind.EXECUTE_RUN).status == JobStatus.CANCELLED


def test_a_run_cancelled_while_its_job_was_held_closes_its_retry_when_the_job_comes_back(
    workflow_factory, rule_factory, http_sink
):
    http_sink.responses = [(503, {}, b"{}")] * 5
    step = {"id": "call", "connector": "http", "action": "request", "with": {"url": http_sink.url}, "retry": LATER}
    rule_factory(workflow_factory(steps=[step]))
    django_automate.emit("order.created", {})
    process(claim_one(worker_id="w", queues=["default"]))  # routing
    http_sink.delay_seconds = 0.5
    held = claim_one(worker_id="w", queues=["default"])
    in_flight = threading.Thread(target=process_then_disconnect, args=(held,))
    in_flight.start()
    deadline = time.monotonic() + 10
    while http_sink.arrivals == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    cancel_run(ExecutionRun.objects.get(), actor="ops")  # the job is held: its attempt is in flight
    in_flight.join(10)  # the attempt fails retryably; a retry is scheduled
    assert StepRun.objects.get().status == StepStatus.RETRYING
    make_due()
    work()  # the run is cancelled: no new attempt, the retry is closed
    assert StepRun.objects.get().status == StepStatus.FAILED
    assert len(http_sink.requests) == 1
    assert OutboxJob.objects.get(kind=JobKind.EXECUTE_RUN).status == JobStatus.DONE


def test_a_retried_run_keeps_its_first_start(actions, workflow_factory, rule_factory):
    step = {"id": "call", "connector": "python", "action": "flaky", "with": {}}
    rule_factory(workflow_factory(steps=[step]))
    BROKEN.set()
    django_automate.emit("order.created", {})
    work()
    run = ExecutionRun.objects.get()
    assert run.status == RunStatus.FAILED and run.started_at is not None
    first_start = run.started_at
    time.sleep(0.05)
    BROKEN.clear()
    retried = retry_run(run, actor="ops")
    assert retried.started_at == first_start
    work()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.started_at == first_start  # its duration counts from the first start
    assert run.finished_at > first_start


def test_a_resumed_run_traces_only_the_steps_it_runs(workflow_factory, rule_factory, http_sink):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))

    http_sink.responses = [(503, {}, b"{}")]
    steps = [
        {"id": "note", "connector": "log", "action": "write", "with": {"message": "hi"}},
        {
            "id": "call",
            "connector": "http",
            "action": "request",
            "with": {"url": http_sink.url},
            "retry": LATER,
        },
    ]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {})
    work()  # "note" succeeds, "call" waits for its retry
    first = [s.attributes["automate.step_id"] for s in spans.get_finished_spans() if s.name == "automate.step"]
    assert first == ["note", "call"]
    spans.clear()
    make_due()
    work()
    assert ExecutionRun.objects.get().status == RunStatus.SUCCEEDED
    resumed = [s.attributes["automate.step_id"] for s in spans.get_finished_spans() if s.name == "automate.step"]
    assert resumed == ["call"]  # "note" succeeded before: not run, not traced again
    spans.shutdown()
