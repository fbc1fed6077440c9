"""Outbound trace headers: what every connector call sends to the external system."""

from __future__ import annotations

from django_automate.tracing.context import traceparent_for


def outbound_headers(trace_id: str) -> dict[str, str]:
    """``X-Trace-Id`` and a W3C ``traceparent`` (plus ``tracestate`` etc. when OTel propagates).

    With the ``otel`` extra and a recording span of this trace current (the connector call's
    span), the configured OTel propagator writes the headers, so the receiver's spans become
    children of ours. Otherwise ``traceparent`` carries the trace_id with a fresh span id.
    A ``trace_id`` that is not a UUID is sent as ``X-Trace-Id`` only.
    """
    if not trace_id:
        return {}
    from django_automate.observability import otel

    headers = {name: value for name, value in otel.inject(trace_id).items() if name.lower() != "x-trace-id"}
    if "traceparent" not in headers:
        try:
            headers["traceparent"] = traceparent_for(trace_id)
        except ValueError:  # not a UUID: nothing to derive a W3C trace-id from
            pass
    headers["X-Trace-Id"] = trace_id
    return headers
