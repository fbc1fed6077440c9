"""Instrumentation for the stages of the chain: trace context, OTel spans and metrics in one place.

Each stage is wrapped where it is called or defined, so the code doing the work stays free
of observability concerns:

- :func:`ingest` decorates the webhook view (span ``automate.ingest``, webhook metrics);
- :func:`route` decorates ``route_event`` (span ``automate.route``, ``event_id`` bound);
- :func:`run` decorates ``execute_run`` (span ``automate.run``, ``run_id`` bound);
- :func:`step` decorates ``run_step`` (span ``automate.step``, ``step_id`` bound);
- :func:`connector_call` wraps the connector call (span ``automate.connector``, duration histogram).
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from django.http import HttpRequest, HttpResponse

from django_automate import exceptions
from django_automate.observability import metrics, otel
from django_automate.tracing import context

F = TypeVar("F", bound=Callable[..., Any])

# Outcomes whose endpoint label cannot be trusted to name an existing endpoint (cardinality).
_UNKNOWN_ENDPOINT_STATUSES = frozenset({404, 405})


def _webhook_outcome(response: HttpResponse) -> str:
    """``accepted``, ``duplicate``, ``url_verification`` or the NormalizedError code of the response."""
    if response.status_code == 202:
        return "accepted"
    try:
        body = json.loads(response.content)
    except (ValueError, AttributeError):
        body = None
    if not isinstance(body, dict):
        return str(response.status_code)
    if response.status_code < 300:
        if body.get("duplicate") is True:
            return "duplicate"
        return "url_verification" if "challenge" in body else "ok"
    return str(body.get("code") or response.status_code)


def ingest(view: F) -> F:
    """Decorate the webhook view: bind the ingress trace_id, open the ingest span, count the delivery."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        headers = {name.lower(): value for name, value in request.headers.items()}
        trace_id = context.current_trace_id() or context.trace_id_from_headers(headers)
        parent = context.parse_traceparent(headers.get("traceparent", ""))
        slug = str(kwargs.get("slug", args[0] if args else ""))
        attributes = {"http.request.method": request.method, "url.path": request.path}
        with context.bind(trace_id=trace_id), otel.span(otel.INGEST, kind="server", parent=parent) as span:
            span.set(**{"automate.endpoint": slug}, **attributes)
            try:
                response = view(request, *args, **kwargs)
            except Exception:
                metrics.webhook_request("", "internal_error")
                raise
            outcome = _webhook_outcome(response)
            span.set(**{"http.response.status_code": response.status_code, "automate.outcome": outcome})
            if response.status_code >= 500:
                span.error(outcome)
        endpoint = "" if response.status_code in _UNKNOWN_ENDPOINT_STATUSES else slug
        metrics.webhook_request(endpoint, outcome)
        return response

    return cast(F, wrapper)


def route(func: F) -> F:
    """Decorate ``route_event(job, ...)``: ``event_id`` on every log record, an ``automate.route`` span."""

    @functools.wraps(func)
    def wrapper(job: Any, *args: Any, **kwargs: Any) -> Any:
        event_id = getattr(job, "event_id", None)
        with (
            context.bind(trace_id=getattr(job, "trace_id", None) or None, event_id=event_id),
            otel.span(otel.ROUTE, attributes={"automate.event_id": event_id, "automate.job_id": job.id}) as span,
        ):
            runs = func(job, *args, **kwargs)
            span.set(**{"automate.runs_created": len(runs) if isinstance(runs, list) else None})
            return runs

    return cast(F, wrapper)


def run(func: F) -> F:
    """Decorate ``execute_run(job, ...)``: ``run_id`` bound, an ``automate.run`` span with the final status."""

    @functools.wraps(func)
    def wrapper(job: Any, *args: Any, **kwargs: Any) -> Any:
        run_id = getattr(job, "run_id", None)
        with (
            context.bind(trace_id=getattr(job, "trace_id", None) or None, run_id=run_id),
            otel.span(otel.RUN, attributes={"automate.run_id": run_id, "automate.job_id": job.id}) as span,
        ):
            status = func(job, *args, **kwargs)
            span.set(**{"automate.status": status})
            if status == "failed":
                span.error("The run failed.")
            return status

    return cast(F, wrapper)


def step(func: F) -> F:
    """Decorate ``run_step(call)``: ``step_id`` bound, an ``automate.step`` span with the outcome."""

    @functools.wraps(func)
    def wrapper(call: Any, *args: Any, **kwargs: Any) -> Any:
        definition = getattr(call, "step", None) or {}
        step_id = definition.get("id")
        attributes = {
            "automate.step_id": step_id,
            "automate.step_index": getattr(call, "index", None),
            "automate.connector": definition.get("connector"),
            "automate.action": definition.get("action"),
            "automate.run_id": getattr(getattr(call, "run", None), "id", None),
        }
        with context.bind(step_id=step_id), otel.span(otel.STEP, attributes=attributes) as span:
            outcome = func(call, *args, **kwargs)
            value = getattr(outcome, "value", outcome)
            span.set(**{"automate.outcome": value})
            if value == "failed":
                span.error("The step failed.")
            return outcome

    return cast(F, wrapper)


@contextlib.contextmanager
def connector_call(connector: str, action: str) -> Iterator[otel.SpanHandle]:
    """Wrap one connector call: an ``automate.connector`` client span and the step duration histogram.

    The span is current inside the block, so the connector's outbound ``traceparent`` names it
    as the parent (see :func:`django_automate.tracing.propagation.outbound_headers`).
    """
    from django_automate.connectors.base import RetryableError

    started = time.monotonic()
    outcome = "succeeded"
    attributes = {"automate.connector": connector, "automate.action": action}
    with otel.span(otel.CONNECTOR, kind="client", attributes=attributes) as span:
        try:
            yield span
        except RetryableError as exc:
            outcome = "retryable_error"
            span.set(**{"automate.error_code": exc.code})
            raise
        except exceptions.AutomateError as exc:
            outcome = "permanent_error"
            span.set(**{"automate.error_code": exc.code})
            raise
        except BaseException:
            outcome = "unexpected_error"
            raise
        finally:
            span.set(**{"automate.outcome": outcome})
            metrics.step_attempt(connector, outcome, time.monotonic() - started)
