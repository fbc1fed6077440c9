"""The core works without the ``otel`` and ``prometheus`` extras: checked in a fresh interpreter."""

from __future__ import annotations

from tests.integration.observability.subprocesses import run_child


def test_core_path_runs_with_opentelemetry_and_prometheus_client_unimportable(tmp_path):
    result = run_child("no-extras", tmp_path / "core.sqlite3")

    assert result["extras_importable"] == {"otel": False, "prometheus": False}
    assert result["instrumented"]
    status, body = result["webhook"]
    trace_id = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"  # from the traceparent sent
    assert status == 202 and body["trace_id"] == trace_id
    assert result["runs"] == [["succeeded", trace_id]]
    [outbound] = result["outbound"]
    assert outbound["x-trace-id"] == trace_id
    version, trace_hex, span_id, flags = outbound["traceparent"].split("-")
    assert (version, trace_hex, flags) == ("00", trace_id.replace("-", ""), "01")
    assert span_id != "00f067aa0ba902b7"  # a fresh span id, not the caller's
    status, body = result["metrics"]
    assert status == 404
    assert body["code"] == "resource_not_found" and body["details"] == {"extra": "prometheus"}
    status, body = result["health"]
    assert status == 200 and body["status"] == "ok"
    assert result["checks"] == ["automate.W070"]  # a metrics token is set, but metrics cannot be served
