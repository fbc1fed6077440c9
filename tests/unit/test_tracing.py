"""trace_id ingress rules and outbound traceparent."""

from __future__ import annotations

import logging
import uuid

from django_automate.tracing import context
from django_automate.tracing.logging import JSONFormatter, TraceContextFilter

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_valid_traceparent_gives_its_trace_id_as_uuid():
    assert context.trace_id_from_traceparent(VALID) == "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"


def test_invalid_traceparents_are_ignored():
    for bad in [
        "",
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # v00 has no extra fields
        "00-4BF92F3577B34DA6A3CE929D0E0E473-00f067aa0ba902b7-01",  # too short
    ]:
        assert context.trace_id_from_traceparent(bad) is None, bad


def test_header_precedence_traceparent_then_x_trace_id_then_new():
    given = str(uuid.uuid4())
    assert context.trace_id_from_headers({"traceparent": VALID, "x-trace-id": given}).startswith("4bf92f35")
    assert context.trace_id_from_headers({"traceparent": "bad", "x-trace-id": given}) == given
    generated = context.trace_id_from_headers({"x-trace-id": "not-a-uuid"})
    assert uuid.UUID(generated) and generated != "not-a-uuid"


def test_outbound_traceparent_carries_the_trace_id_with_a_fresh_span():
    trace_id = str(uuid.uuid4())
    first, second = context.traceparent_for(trace_id), context.traceparent_for(trace_id)
    assert first.split("-")[1] == uuid.UUID(trace_id).hex
    assert first.split("-")[2] != second.split("-")[2]
    assert context.trace_id_from_traceparent(first) == trace_id


def test_log_records_carry_the_bound_context_as_json():
    record = logging.makeLogRecord({"msg": "hello %s", "args": ("world",), "levelname": "INFO", "name": "x"})
    with context.bind(trace_id="t-1", run_id="r-1"):
        TraceContextFilter().filter(record)
        line = JSONFormatter().format(record)
    assert (record.trace_id, record.run_id) == ("t-1", "r-1")
    assert '"trace_id": "t-1"' in line and '"message": "hello world"' in line
    assert context.current_trace_id() == ""
