"""One error shape (NormalizedError) for everything under the app's URL prefix.

- :func:`exception_handler` is the DRF hook of every API view (set per view, so a project's
  own ``REST_FRAMEWORK["EXCEPTION_HANDLER"]`` is neither needed nor overridden).
- :func:`automate_view` wraps the plain Django views mounted next to the API (webhooks, the
  catch-all) with the same conversion, ``X-Trace-Id`` and 500 handling.
- A database outage (connection-level error) is ``503 service_unavailable`` with ``Retry-After``.
- :func:`not_found_view` is the last URL pattern, so unknown paths under the prefix answer
  ``404 resource_not_found`` instead of the project's HTML 404 page.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from typing import Any

from django.core import exceptions as django_exceptions
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from django_automate import exceptions
from django_automate.api.serializers.common import ERROR_CODES
from django_automate.internal import outage
from django_automate.internal.responses import error_response
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

INTERNAL_MESSAGE = "An internal error occurred; quote the trace_id when reporting it."

_BY_STATUS: dict[int, type[exceptions.AutomateError]] = {
    400: exceptions.ValidationError,
    401: exceptions.NotAuthenticated,
    403: exceptions.PermissionDenied,
    404: exceptions.ResourceNotFound,
    405: exceptions.MethodNotAllowed,
    409: exceptions.Conflict,
    413: exceptions.PayloadTooLarge,
    415: exceptions.UnsupportedMediaType,
    429: exceptions.Throttled,
}


class NotAcceptable(exceptions.ValidationError):
    """The format the request asks for (``?format=``) is not one this URL renders."""

    status = 406


def plain(detail: Any) -> Any:
    """DRF error details (``ErrorDetail``, nested lists/dicts) as plain JSON values."""
    if isinstance(detail, dict):
        return {str(k): plain(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [plain(v) for v in detail]
    return str(detail)


def _first_message(fields: Any, prefix: str = "") -> str:
    if isinstance(fields, dict):
        for key, value in fields.items():
            label = key if key == "non_field_errors" or not prefix else f"{prefix}.{key}"
            return _first_message(value, "" if key == "non_field_errors" else label)
    if isinstance(fields, list) and fields:
        return _first_message(fields[0], prefix)
    return f"{prefix}: {fields}" if prefix else str(fields)


def _validation(fields: Any) -> exceptions.ValidationError:
    if not isinstance(fields, dict):
        fields = {"non_field_errors": fields if isinstance(fields, list) else [fields]}
    return exceptions.ValidationError(f"Invalid input: {_first_message(fields)}", details={"fields": fields})


def _from_drf(exc: drf.APIException, view: Any, request: Any) -> exceptions.AutomateError:
    message = str(exc.detail) if not isinstance(exc.detail, (list, dict)) else ""
    if isinstance(exc, drf.ValidationError):
        return _validation(plain(exc.detail))
    if isinstance(exc, drf.ParseError):
        return exceptions.MalformedPayload(message or None)
    if isinstance(exc, drf.PermissionDenied):
        required = getattr(exc, "required", None)
        return exceptions.PermissionDenied(message or None, details={"required": required} if required else None)
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return exceptions.NotAuthenticated(message or None)
    if isinstance(exc, drf.MethodNotAllowed):
        allowed = list(getattr(view, "allowed_methods", [])) if view is not None else []
        return exceptions.MethodNotAllowed(
            f"Method {request.method if request is not None else ''} is not allowed here.",
            details={"allowed": allowed},
        )
    if isinstance(exc, drf.UnsupportedMediaType):
        content_type = request.content_type if request is not None else ""
        return exceptions.UnsupportedMediaType(
            f"Content type {content_type!r} is not supported; send application/json.",
            details={"content_type": content_type},
        )
    if isinstance(exc, drf.NotAcceptable):
        available = [r.format for r in getattr(view, "renderer_classes", [])] if view is not None else []
        return NotAcceptable(
            "The requested format is not available; errors and data are JSON.",
            details={"fields": {"format": ["Not available here."]}, "available": available},
        )
    if isinstance(exc, drf.Throttled):
        return exceptions.Throttled(retry_after=max(1, math.ceil(getattr(exc, "wait", None) or 1)))
    if isinstance(exc, drf.NotFound):
        return exceptions.ResourceNotFound(message or None)
    error_class = _BY_STATUS.get(exc.status_code)
    if error_class is None:
        error_class = exceptions.AutomateError if exc.status_code >= 500 else exceptions.ValidationError
    return error_class(message or None)


def normalize(exc: BaseException, *, view: Any = None, request: Any = None) -> exceptions.AutomateError:
    """Map any exception to the AutomateError that describes it to a client."""
    if isinstance(exc, exceptions.AutomateError):
        return exc
    if isinstance(exc, drf.APIException):
        return _from_drf(exc, view, request)
    if isinstance(exc, Http404):
        return exceptions.ResourceNotFound()
    if isinstance(exc, django_exceptions.PermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, django_exceptions.RequestDataTooBig):
        return exceptions.PayloadTooLarge()
    if isinstance(exc, django_exceptions.ValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return _validation(fields)
    if outage.is_database_outage(exc):
        return outage.service_unavailable(exc)
    if isinstance(exc, IntegrityError):
        logger.warning("Integrity error answered as a conflict: %s", exc, extra=log_extra("api_conflict"))
        return exceptions.Conflict("The request conflicts with existing data.")
    return exceptions.AutomateError(INTERNAL_MESSAGE)


def _public(error: exceptions.AutomateError, exc: BaseException) -> exceptions.AutomateError:
    """5xx errors are logged with their trace and answered as a bare ``internal_error``.

    ``service_unavailable`` (the database is away for now) is answered as it is: the client
    should retry, and the outage was logged where it was recognised.

    A 4xx error whose code is not one of the documented codes (a subsystem's own, such as
    ``secret_not_found``) is answered with the documented code of its status, the specific
    one kept in ``details["reason"]``.
    """
    if error.status < 500:
        if error.code in ERROR_CODES:
            return error
        public = _BY_STATUS.get(error.status, exceptions.ValidationError)
        details = {**error.details, "reason": error.code}
        if issubclass(public, exceptions.Throttled):
            return exceptions.Throttled(error.message, retry_after=getattr(error, "retry_after", 1), details=details)
        return public(error.message, details=details)
    if isinstance(error, exceptions.ServiceUnavailable):
        return error
    trace_id = context.current_trace_id()
    logger.error(
        "Internal error %s (trace_id %s)",
        type(exc).__name__,
        trace_id,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra=log_extra("api_internal_error", trace_id=trace_id),
    )
    return exceptions.AutomateError(INTERNAL_MESSAGE)


def exception_handler(exc: Exception, ctx: dict[str, Any]) -> Response:
    """DRF exception handler: every error as a NormalizedError body; never returns ``None``."""
    view, request = ctx.get("view"), ctx.get("request")
    error = _public(normalize(exc, view=view, request=request), exc)
    headers: dict[str, str] = {}
    if isinstance(error, exceptions.NotAuthenticated):
        header = getattr(exc, "auth_header", None)
        if not header and view is not None and request is not None:
            header = view.get_authenticate_header(request)
        if header:
            headers["WWW-Authenticate"] = header
    if isinstance(error, (exceptions.Throttled, exceptions.ServiceUnavailable)):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, exceptions.MethodNotAllowed) and error.details.get("allowed"):
        headers["Allow"] = ", ".join(error.details["allowed"])
    set_rollback()
    trace_id = context.current_trace_id()
    return Response(error.normalized(trace_id).as_dict(), status=error.status, headers=headers)


def automate_view(func: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Give a plain Django view the API's error contract: NormalizedError bodies, ``X-Trace-Id``, no 500 pages."""

    @functools.wraps(func)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        trace_id = context.current_trace_id() or context.trace_id_from_headers(headers)
        with context.bind(trace_id=trace_id):
            try:
                response = func(request, *args, **kwargs)
            except Exception as exc:
                response = error_response(_public(normalize(exc, request=request), exc), trace_id=trace_id)
        if not response.has_header("X-Trace-Id"):
            response["X-Trace-Id"] = trace_id
        return response

    return wrapper


@csrf_exempt
@automate_view
def not_found_view(request: HttpRequest, path: str = "") -> HttpResponse:
    """The last pattern under the prefix: anything unmatched is a NormalizedError 404."""
    details: dict[str, Any] = {"path": request.path}
    if not request.path_info.endswith("/"):
        try:
            match = resolve(request.path_info + "/", urlconf=getattr(request, "urlconf", None))
        except Resolver404:
            match = None
        if match is not None and match.url_name != "not-found":
            details["hint"] = f"Did you mean {request.path}/ (with a trailing slash)?"
    raise exceptions.ResourceNotFound(f"Nothing is found at {request.path}.", details=details)
