"""``http``: one HTTP request through httpx, behind the SSRF guard, with a size cap and trace headers."""

from __future__ import annotations

import time
from typing import Any

import httpx

from django_automate import conf
from django_automate.connectors import ssrf
from django_automate.connectors.base import Action, BaseConnector, ConnectorContext, PermanentError, StepResult
from django_automate.connectors.responses import parse_body, parse_retry_after, read_body, status_error
from django_automate.connectors.transport import Timeout, guarded_client
from django_automate.policy import masking
from django_automate.tracing.propagation import outbound_headers

__all__ = ["REQUEST_SCHEMA", "HttpConnector", "parse_retry_after"]

_SCALAR = {"type": ["string", "number", "boolean"]}
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"], "default": "GET"},
        "url": {"type": "string", "minLength": 1, "maxLength": 8192},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 100},
        "query": {"type": "object", "additionalProperties": {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]}},
        "json": {"description": "Any JSON value, sent as application/json."},
        "form": {"type": "object", "additionalProperties": _SCALAR},
        "body": {"type": "string"},
        "auth": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"bearer": {"type": "string", "minLength": 1}},
                    "required": ["bearer"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
                    "required": ["username", "password"],
                    "additionalProperties": False,
                },
            ]
        },
        "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
        "max_response_bytes": {"type": "integer", "minimum": 1},
        "response_format": {"enum": ["auto", "json", "text"], "default": "auto"},
        "follow_redirects": {"type": "boolean", "default": False},
        "max_redirects": {"type": "integer", "minimum": 0, "maximum": 20, "default": 5},
        "allow_hosts": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        "retry_statuses": {
            "type": "array",
            "items": {"type": "integer", "minimum": 400, "maximum": 499, "not": {"const": 410}},
        },
        "idempotency_header": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9-]{1,64}$"},
    },
    "required": ["url"],
    "additionalProperties": False,
    "dependentSchemas": {
        "json": {"not": {"anyOf": [{"required": ["form"]}, {"required": ["body"]}]}},
        "form": {"not": {"required": ["body"]}},
    },
}


class HttpConnector(BaseConnector):
    """Send one HTTP request; the response (status, headers, JSON or text) is the step's output."""

    type = "http"
    actions = {"request": Action("request", REQUEST_SCHEMA, "Send one HTTP request.")}

    def execute(self, action: str, params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
        params = self.validate(action, params)
        if sum(key in params for key in ("json", "form", "body")) > 1:
            raise PermanentError("Give only one of json, form and body.")
        url = params["url"]
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ssrf.InvalidUrl(f"Invalid URL: {exc}.", details={"url": masking.excerpt(url, 200)}) from exc
        if parsed.scheme not in ("http", "https") or not parsed.raw_host:
            raise ssrf.InvalidUrl(details={"url": masking.excerpt(url, 200)})
        deadline = ctx.deadline
        if "timeout_seconds" in params:
            deadline = min(deadline, time.monotonic() + float(params["timeout_seconds"]))
        if deadline <= time.monotonic():
            raise Timeout("The step deadline passed before the request was sent.")
        limit = min(
            int(params.get("max_response_bytes", conf.http_max_response_bytes())), conf.http_max_response_bytes()
        )
        client = guarded_client(
            ssrf.Policy.from_settings(params.get("allow_hosts")),
            deadline=deadline,
            follow_redirects=bool(params.get("follow_redirects", False)),
            max_redirects=int(params.get("max_redirects", 5)),
        )
        try:
            target = parsed.copy_merge_params(params["query"]) if params.get("query") else parsed
            with client, client.stream(params.get("method", "GET"), target, **_request_kwargs(params, ctx)) as response:
                body = read_body(response, limit)
        except httpx.TooManyRedirects as exc:
            raise PermanentError("Too many redirects.", details={"url": masking.excerpt(url, 200)}) from exc
        except httpx.InvalidURL as exc:
            raise ssrf.InvalidUrl(f"Invalid URL: {exc}.", details={"url": masking.excerpt(url, 200)}) from exc
        except httpx.HTTPError as exc:  # anything else httpx itself raises (our transport raises our own errors)
            raise PermanentError(f"The HTTP request failed: {exc.__class__.__name__}: {exc}.") from exc
        error = status_error(response, body, retry_statuses=params.get("retry_statuses", ()))
        if error is not None:
            raise error
        output: dict[str, Any] = {"status": response.status_code, "headers": dict(response.headers)}
        if response.history:
            output["url"] = str(response.url)
        output.update(parse_body(response, body, params.get("response_format", "auto")))
        return StepResult(output=output)


def _request_kwargs(params: dict[str, Any], ctx: ConnectorContext) -> dict[str, Any]:
    headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
    lowered = {k.lower() for k in headers}
    key_header = params.get("idempotency_header", "Idempotency-Key")
    if key_header and key_header.lower() not in lowered:
        headers[key_header] = ctx.idempotency_key
    for name in [k for k in headers if k.lower() in ("x-trace-id", "traceparent")]:
        del headers[name]
    headers.update(trace_headers(ctx))
    kwargs: dict[str, Any] = {"headers": headers}
    if "json" in params:
        kwargs["json"] = params["json"]
    elif "form" in params:
        kwargs["data"] = {k: _form_value(v) for k, v in params["form"].items()}
    elif "body" in params:
        kwargs["content"] = params["body"].encode()
    auth = params.get("auth")
    if auth and "bearer" in auth:
        headers["Authorization"] = f"Bearer {auth['bearer']}"
    elif auth:
        kwargs["auth"] = httpx.BasicAuth(auth["username"], auth["password"])
    return kwargs


def trace_headers(ctx: ConnectorContext) -> dict[str, str]:
    """``X-Trace-Id`` and a W3C ``traceparent`` (new span id; the OTel propagator's when installed)."""
    return outbound_headers(ctx.trace_id)


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
