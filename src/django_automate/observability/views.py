"""``GET health/``, ``GET health/live/`` and ``GET metrics/``: plain Django views, no DRF.

Every response carries ``X-Trace-Id``; errors use the NormalizedError body. A failed
readiness report is not an error of the request: it answers ``503`` with the same report.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache

from django_automate import exceptions
from django_automate.internal.responses import error_response, json_response
from django_automate.observability import access, health, metrics
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]


def _observability_view(func: View) -> View:
    """GET/HEAD only, the request's trace_id bound and echoed, AutomateErrors as NormalizedError bodies."""

    @functools.wraps(func)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        headers = {name.lower(): value for name, value in request.headers.items()}
        trace_id = context.current_trace_id() or context.trace_id_from_headers(headers)
        with context.bind(trace_id=trace_id):
            try:
                if request.method not in ("GET", "HEAD"):
                    raise exceptions.MethodNotAllowed(
                        f"Method {request.method} is not allowed; use GET.", details={"allowed": ["GET", "HEAD"]}
                    )
                response = func(request, *args, **kwargs)
            except exceptions.AutomateError as exc:
                response = error_response(exc, trace_id=trace_id)
                if isinstance(exc, exceptions.NotAuthenticated):
                    response["WWW-Authenticate"] = 'Bearer realm="automate-metrics"'
            except Exception:
                logger.exception(
                    "Observability endpoint %s failed", request.path, extra=log_extra("observability_error")
                )
                response = error_response(
                    exceptions.AutomateError("An internal error occurred; quote the trace_id when reporting it."),
                    trace_id=trace_id,
                )
        response["X-Trace-Id"] = trace_id
        return response

    return never_cache(wrapper)


@_observability_view
def health_view(request: HttpRequest) -> HttpResponse:
    """Readiness: ``200`` when every check passes, else ``503``; ``?checks=database,outbox`` picks checks."""
    names = health.parse_checks(request.GET.get("checks"))
    report = health.readiness(names)
    status = 200 if report["status"] == health.OK else 503
    return json_response(report, status=status, trace_id=context.current_trace_id())


@_observability_view
def liveness_view(request: HttpRequest) -> HttpResponse:
    """Liveness: the process serves requests (no database access)."""
    return json_response(health.liveness(), status=200, trace_id=context.current_trace_id())


@_observability_view
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of the app's metrics (the ``prometheus`` extra), behind the access settings."""
    access.require_metrics_access(request)
    if not metrics.available():
        raise exceptions.ResourceNotFound(
            "Metrics need the prometheus extra: pip install django-automate[prometheus].",
            details={"extra": "prometheus"},
        )
    body, content_type = metrics.render(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)
