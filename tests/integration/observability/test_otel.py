"""OpenTelemetry (the ``otel`` extra): one trace per trace_id, the span tree of a 3-step run, propagation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from django_automate.models import ExecutionRun
from django_automate.observability import otel

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.integration.observability.urls")]

CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


def three_step_workflow(workflow_factory, url: str, *, fail_last: bool = False):
    last_url = f"{url}/fails" if fail_last else f"{url}/done"
    return workflow_factory(
        steps=[
            {"id": "note", "connector": "log", "action": "write", "with": {"message": "order {{ event.payload.id }}"}},
            {"id": "notify", "connector": "http", "action": "request", "with": {"method": "POST", "url": f"{url}/n"}},
            {
                "id": "finish",
                "connector": "http",
                "action": "request",
                "with": {"method": "POST", "url": last_url},
                "retry": {"max_attempts": 1},
            },
        ]
    )


def by_name(finished: Any) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for span in finished:
        grouped.setdefault(span.name, []).append(span)
    return grouped


def test_span_tree_of_a_three_step_run_is_one_trace_with_our_trace_id(
    client, endpoint_factory, workflow_factory, rule_factory, http_sink, run_worker, spans
):
    endpoint_factory()
    rule_factory(three_step_workflow(workflow_factory, http_sink.url))
    caller_trace = uuid.uuid4()
    response = client.post(
        "/automate/hooks/orders/",
        {"id": 7},
        content_type="application/json",
        HTTP_TRACEPARENT=f"00-{caller_trace.hex}-{CALLER_SPAN}-01",
    )
    assert response.json()["trace_id"] == str(caller_trace)
    run_worker()

    finished = spans.get_finished_spans()
    assert {span.context.trace_id for span in finished} == {caller_trace.int}
    named = by_name(finished)
    assert {name: len(group) for name, group in named.items()} == {
        "automate.ingest": 1,
        "automate.route": 1,
        "automate.run": 1,
        "automate.step": 3,
        "automate.connector": 3,
    }
    [ingest], [route], [run_span] = named["automate.ingest"], named["automate.route"], named["automate.run"]
    # The caller's span is the ingest span's parent; the worker's spans hang off the trace root.
    assert ingest.kind == SpanKind.SERVER and ingest.parent.span_id == int(CALLER_SPAN, 16)
    assert ingest.attributes["automate.outcome"] == "accepted"
    assert ingest.attributes["http.response.status_code"] == 202
    root = otel.root_span_id(str(caller_trace))
    assert route.parent.span_id == root and run_span.parent.span_id == root
    run = ExecutionRun.objects.get()
    assert run_span.attributes["automate.run_id"] == str(run.id)
    assert run_span.attributes["automate.status"] == "succeeded"
    steps = sorted(named["automate.step"], key=lambda s: s.attributes["automate.step_index"])
    assert [s.attributes["automate.step_id"] for s in steps] == ["note", "notify", "finish"]
    assert all(s.parent.span_id == run_span.context.span_id for s in steps)
    connectors = {c.parent.span_id: c for c in named["automate.connector"]}
    assert set(connectors) == {s.context.span_id for s in steps}
    for step in steps:
        call = connectors[step.context.span_id]
        assert call.kind == SpanKind.CLIENT
        assert call.attributes["automate.connector"] == step.attributes["automate.connector"]
        assert call.attributes["automate.outcome"] == "succeeded"

    # Outbound propagation through the OTel propagator: the receiver's parent is our connector span.
    http_calls = sorted(
        (c for c in named["automate.connector"] if c.attributes["automate.connector"] == "http"),
        key=lambda c: c.start_time,
    )
    assert [r["path"] for r in http_sink.requests] == ["/n", "/done"]
    for request, call in zip(http_sink.requests, http_calls, strict=True):
        assert request["headers"]["traceparent"] == f"00-{caller_trace.hex}-{call.context.span_id:016x}-01"
        assert request["headers"]["x-trace-id"] == str(caller_trace)


def test_without_traceparent_the_generated_trace_id_is_the_otel_trace(
    client, endpoint_factory, workflow_factory, rule_factory, http_sink, run_worker, spans
):
    endpoint_factory()
    rule_factory(three_step_workflow(workflow_factory, http_sink.url, fail_last=True))
    http_sink.responses = [(200, {}, b"{}"), (400, {}, b'{"error": "no"}')]
    trace_id = client.post("/automate/hooks/orders/", {"id": 8}, content_type="application/json").json()["trace_id"]
    run_worker()

    finished = spans.get_finished_spans()
    assert {span.context.trace_id for span in finished} == {uuid.UUID(trace_id).int}
    named = by_name(finished)
    [ingest] = named["automate.ingest"]
    assert ingest.parent.span_id == otel.root_span_id(trace_id) and ingest.parent.is_remote
    failed_step = next(s for s in named["automate.step"] if s.attributes["automate.step_id"] == "finish")
    assert failed_step.status.status_code == StatusCode.ERROR
    assert failed_step.attributes["automate.outcome"] == "failed"
    failed_call = next(c for c in named["automate.connector"] if c.parent.span_id == failed_step.context.span_id)
    assert failed_call.status.status_code == StatusCode.ERROR
    assert failed_call.attributes["automate.outcome"] == "permanent_error"
    assert failed_call.events and failed_call.events[0].name == "exception"
    [run_span] = named["automate.run"]
    assert run_span.attributes["automate.status"] == "failed" and run_span.status.status_code == StatusCode.ERROR


def test_rejected_webhook_has_an_ingest_span_with_the_error_code(client, endpoint_factory, spans):
    endpoint_factory()
    response = client.post("/automate/hooks/orders/", b"{oops", content_type="application/json")
    assert response.status_code == 400
    [ingest] = spans.get_finished_spans()
    assert ingest.context.trace_id == uuid.UUID(response["X-Trace-Id"]).int
    assert ingest.attributes["automate.outcome"] == "malformed_payload"
    assert ingest.attributes["automate.endpoint"] == "orders"


def test_log_records_carry_the_current_span_id(spans, caplog):
    import logging

    from django_automate.tracing import context
    from django_automate.tracing.logging import TraceContextFilter

    trace_id = str(uuid.uuid4())
    with context.bind(trace_id=trace_id), otel.span(otel.RUN) as handle:
        record = logging.makeLogRecord({"msg": "inside"})
        TraceContextFilter().filter(record)
        handle.set(automate__marker="x")
    [span] = spans.get_finished_spans()
    assert record.span_id == f"{span.context.span_id:016x}"
    assert record.trace_id == trace_id and span.attributes["automate.marker"] == "x"
