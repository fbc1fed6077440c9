"""``http``: one HTTP request through httpx, with the SSRF guard, size cap and trace headers."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import httpx

from django_automate import conf
from django_automate.connectors import ssrf
from django_automate.connectors.base import (
    Action,
    BaseConnector,
    ConnectorContext,
    PermanentError,
    RetryableError,
    StepResult,
)
from django_automate.tracing.context import traceparent_for

RETRYABLE_STATUSES = frozenset({408, 425, 429})

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]},
        "url": {"type": "string", "minLength": 1},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "query": {"type": "object"},
        "json": {},
        "form": {"type": "object"},
        "body": {"type": "string"},
        "timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
    },
    "required": ["url"],
    "additionalProperties": False,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpConnector(BaseConnector):
    type = "http"
    actions = {"request": Action("request", REQUEST_SCHEMA, "Send one HTTP request.")}

    def execute(self, action: str, params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
        if action != "request":
            raise PermanentError(f"Unknown action {action!r} for the http connector.")
        url = str(params["url"])
        ssrf.check_url(url)
        headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
        headers.setdefault("Idempotency-Key", ctx.idempotency_key)
        headers["X-Trace-Id"] = ctx.trace_id
        headers["traceparent"] = traceparent_for(ctx.trace_id)
        timeout = min(float(params.get("timeout_seconds", 30)), max(ctx.remaining(), 0.001))
        request_kwargs: dict[str, Any] = {"headers": headers, "params": params.get("query")}
        if "json" in params:
            request_kwargs["json"] = params["json"]
        elif "form" in params:
            request_kwargs["data"] = params["form"]
        elif "body" in params:
            request_kwargs["content"] = str(params["body"]).encode()
        method = str(params.get("method", "GET")).upper()
        try:
            with httpx.Client(timeout=timeout, follow_redirects=False) as client:
                with client.stream(method, url, **request_kwargs) as response:
                    body = _read_capped(response, conf.http_max_response_bytes())
        except httpx.TimeoutException as exc:
            raise RetryableError(f"HTTP request timed out after {timeout:.1f}s.") from exc
        except httpx.TransportError as exc:
            raise RetryableError(f"HTTP request failed: {exc.__class__.__name__}.") from exc
        return _result(response, body)


def _read_capped(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > limit:
            raise PermanentError(f"Response body exceeds {limit} bytes.", details={"max_response_bytes": limit})
        chunks.append(chunk)
    return b"".join(chunks)


def _result(response: httpx.Response, body: bytes) -> StepResult:
    status = response.status_code
    output: dict[str, Any] = {"status": status, "headers": dict(response.headers)}
    content_type = response.headers.get("content-type", "")
    text = body.decode(response.encoding or "utf-8", errors="replace")
    if "json" in content_type:
        try:
            output["json"] = json.loads(text)
        except ValueError:
            output["text"] = text
    else:
        output["text"] = text
    if 200 <= status < 300:
        return StepResult(output=output)
    details = {"status": status}
    if status in RETRYABLE_STATUSES or status >= 500:
        raise RetryableError(
            f"HTTP {status} from {response.request.url.host}.",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            details=details,
        )
    raise PermanentError(f"HTTP {status} from {response.request.url.host}.", details=details)
