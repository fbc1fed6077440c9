"""trace context: traceparent details, agreement between layers of one request, outbound headers, JSON logs."""

from __future__ import annotations

import json
import logging
import sys
import uuid

from django_automate.tracing import context
from django_automate.tracing.logging import JSONFormatter, TraceContextFilter, log_extra
from django_automate.tracing.propagation import outbound_headers

CALLER_SPAN = "00f067aa0ba902b7"


def test_traceparent_gives_trace_span_and_sampling_flag():
    sampled = context.parse_traceparent(f"00-4bf92f3577b34da6a3ce929d0e0e4736-{CALLER_SPAN}-01")
    unsampled = context.parse_traceparent(f"00-4bf92f3577b34da6a3ce929d0e0e4736-{CALLER_SPAN}-00")
    assert sampled == context.TraceParent("4bf92f35-77b3-4da6-a3ce-929d0e0e4736", CALLER_SPAN, True)
    assert unsampled is not None and unsampled.sampled is False
    assert context.parse_traceparent("00-zz-00f067aa0ba902b7-01") is None


def test_a_request_without_trace_headers_keeps_the_trace_an_outer_layer_chose():
    with context.bind(trace_id="6f1c7a51-0b7e-4c4c-9d6e-2f1b3d9a8c01"):
        assert context.trace_id_from_headers({}) == "6f1c7a51-0b7e-4c4c-9d6e-2f1b3d9a8c01"
        given = str(uuid.uuid4())
        assert context.trace_id_from_headers({"x-trace-id": given}) == given  # headers still win
    assert context.trace_id_from_headers({}) != context.trace_id_from_headers({})  # unbound: new each time


def test_outbound_headers_carry_the_trace_id_with_a_fresh_span_each_call():
    trace_id = str(uuid.uuid4())
    first, second = outbound_headers(trace_id), outbound_headers(trace_id)
    assert first["X-Trace-Id"] == trace_id
    parsed = context.parse_traceparent(first["traceparent"])
    assert parsed is not None and parsed.trace_id == trace_id and parsed.sampled
    assert first["traceparent"] != second["traceparent"]


def test_outbound_headers_for_a_trace_id_that_is_no_uuid_send_only_x_trace_id():
    assert outbound_headers("legacy-trace-7") == {"X-Trace-Id": "legacy-trace-7"}
    assert outbound_headers("") == {}


def _record(msg: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"msg": msg, "levelname": "INFO", "name": "django_automate.worker"})
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_always_have_an_action_key_and_the_bound_ids():
    plain = _record("no action given")
    with context.bind(trace_id="t-9", run_id="r-9", step_id="notify", event_id=None):
        TraceContextFilter().filter(plain)
        structured = _record("claimed", **log_extra("claim_job", job_id=7))
        TraceContextFilter().filter(structured)
    first, second = json.loads(JSONFormatter().format(plain)), json.loads(JSONFormatter().format(structured))
    assert first["action"] is None and first["trace_id"] == "t-9" and first["step_id"] == "notify"
    assert "event_id" not in first  # None values are not bound
    assert second["action"] == "claim_job" and second["job_id"] == "7" and second["run_id"] == "r-9"


def test_json_lines_keep_values_the_record_brought_over_the_context():
    record = _record("explicit", trace_id="from-extra")
    with context.bind(trace_id="from-context"):
        TraceContextFilter().filter(record)
        line = json.loads(JSONFormatter().format(record))
    assert line["trace_id"] == "from-extra"


def test_json_lines_include_the_traceback_of_exceptions():
    try:
        raise KeyError("boom")
    except KeyError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, exc_info=sys.exc_info())
    line = json.loads(JSONFormatter().format(record))
    assert "KeyError: 'boom'" in line["exc_info"]
