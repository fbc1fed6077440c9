"""``slack``: ``chat.postMessage`` with a bot token, or an incoming-webhook URL.

Both go through the guarded HTTP transport (SSRF guard, deadline). The Web API base URL is
``AUTOMATE["SLACK_API_BASE_URL"]`` (``https://slack.com/api/``), so tests and proxies can
use a server that speaks the same protocol. Slack does not deduplicate messages; the step's
idempotency key travels in the message ``metadata`` so a repeated post is recognisable.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from django_automate import conf
from django_automate.connectors import ssrf
from django_automate.connectors.base import Action, BaseConnector, ConnectorContext, StepResult
from django_automate.connectors.http import trace_headers
from django_automate.connectors.responses import BODY_EXCERPT_CHARS, decode_text, parse_retry_after, read_body
from django_automate.connectors.slack_errors import SlackError, SlackRetryableError, error_for
from django_automate.connectors.transport import Timeout, guarded_client
from django_automate.policy import masking

__all__ = ["SlackConnector", "SlackError", "SlackRetryableError"]

MAX_RESPONSE_BYTES = 256 * 1024
_MESSAGE: dict[str, Any] = {
    "text": {"type": "string", "maxLength": 40000},
    "blocks": {"type": "array", "maxItems": 50, "items": {"type": "object"}},
    "attachments": {"type": "array", "items": {"type": "object"}},
    "thread_ts": {"type": "string"},
    "unfurl_links": {"type": "boolean"},
    "unfurl_media": {"type": "boolean"},
    "mrkdwn": {"type": "boolean"},
}
_HAS_CONTENT = [{"required": ["text"]}, {"required": ["blocks"]}, {"required": ["attachments"]}]

POST_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "token": {"type": "string", "minLength": 1, "description": 'A bot token, e.g. "$secret:SLACK_BOT_TOKEN".'},
        "channel": {"type": "string", "minLength": 1},
        **_MESSAGE,
        "reply_broadcast": {"type": "boolean"},
        "username": {"type": "string"},
        "icon_emoji": {"type": "string"},
        "icon_url": {"type": "string"},
        "link_names": {"type": "boolean"},
        "metadata": {
            "type": ["object", "null"],
            "description": "Message metadata; defaults to the step's idempotency key and trace id, null sends none.",
        },
    },
    "required": ["token", "channel"],
    "anyOf": _HAS_CONTENT,
    "additionalProperties": False,
}
WEBHOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "minLength": 1, "description": 'The webhook URL, e.g. "$secret:SLACK_WEBHOOK".'},
        **_MESSAGE,
    },
    "required": ["url"],
    "anyOf": _HAS_CONTENT,
    "additionalProperties": False,
}


class SlackConnector(BaseConnector):
    """Post Slack messages through the Web API (bot token) or an incoming webhook."""

    type = "slack"
    actions = {
        "post_message": Action("post_message", POST_MESSAGE_SCHEMA, "chat.postMessage with a bot token."),
        "webhook": Action("webhook", WEBHOOK_SCHEMA, "Post to an incoming-webhook URL."),
    }

    def execute(self, action: str, params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
        params = self.validate(action, params)
        if action == "post_message":
            return self._post_message(params, ctx)
        return self._webhook(params, ctx)

    def _post_message(self, params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
        token = params.pop("token")
        if "metadata" not in params:
            params["metadata"] = {
                "event_type": "django_automate_step",
                "event_payload": {"idempotency_key": ctx.idempotency_key, "trace_id": ctx.trace_id},
            }
        elif params["metadata"] is None:
            del params["metadata"]
        url = conf.slack_api_base_url().rstrip("/") + "/chat.postMessage"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"}
        response, body = _post(url, params, headers, ctx)
        payload: dict[str, Any] = {"ok": False}
        if response.status_code < 300 or body.lstrip().startswith(b"{"):
            payload = _json(body)
        error = error_for(response.status_code, payload, body, _retry_after(response))
        if error is not None:
            raise error
        output: dict[str, Any] = {k: payload.get(k) for k in ("channel", "ts", "message") if k in payload}
        metadata = payload.get("response_metadata")
        warnings = (metadata.get("warnings") if isinstance(metadata, dict) else None) or payload.get("warning")
        if warnings:
            output["warnings"] = warnings
        return StepResult(output=output)

    def _webhook(self, params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
        url = params.pop("url")
        response, body = _post(url, params, {"Content-Type": "application/json; charset=utf-8"}, ctx)
        error = error_for(response.status_code, None, body, _retry_after(response))
        if error is not None:
            raise error
        return StepResult(
            output={"status": response.status_code, "text": masking.excerpt(decode_text(response, body), 200)}
        )


def _post(
    url: str, message: dict[str, Any], headers: dict[str, str], ctx: ConnectorContext
) -> tuple[httpx.Response, bytes]:
    if ctx.deadline <= time.monotonic():
        raise Timeout("The step deadline passed before the request was sent.")
    client = guarded_client(ssrf.Policy.from_settings(), deadline=ctx.deadline)
    content = json.dumps(message, separators=(",", ":")).encode()
    try:
        with client, client.stream("POST", url, content=content, headers={**headers, **trace_headers(ctx)}) as response:
            return response, read_body(response, MAX_RESPONSE_BYTES)
    except httpx.InvalidURL as exc:
        raise ssrf.InvalidUrl(f"Invalid Slack URL: {exc}.") from exc


def _json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        return {
            "ok": False,
            "error": "invalid_response",
            "body": masking.excerpt(body.decode(errors="replace"), BODY_EXCERPT_CHARS),
        }
    return payload if isinstance(payload, dict) else {"ok": False, "error": "invalid_response"}


def _retry_after(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("retry-after"))
