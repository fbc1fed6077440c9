"""JSON responses in the project's one error shape, with ``X-Trace-Id`` set."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

from django_automate import exceptions


def json_response(data: Any, *, status: int, trace_id: str) -> JsonResponse:
    response = JsonResponse(data, status=status, safe=False)
    response["X-Trace-Id"] = trace_id
    return response


def error_response(exc: exceptions.AutomateError, *, trace_id: str) -> JsonResponse:
    response = json_response(exc.normalized(trace_id).as_dict(), status=exc.status, trace_id=trace_id)
    if isinstance(exc, (exceptions.Throttled, exceptions.ServiceUnavailable)):
        response["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, exceptions.MethodNotAllowed):
        response["Allow"] = ", ".join(exc.details.get("allowed", ["POST"]))
    return response
