"""Mapping Slack's answers (``{"ok": false, "error": …}``, webhook status texts) to connector errors."""

from __future__ import annotations

from typing import Any

from django_automate.connectors.base import ConnectorError, PermanentError, RetryableError
from django_automate.policy import masking

# Errors Slack documents as transient; every other error name is permanent (bad token,
# unknown channel, archived channel, message too long, …).
RETRYABLE = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackError(PermanentError):
    """Slack refused the message."""

    code = "slack_error"


class SlackRetryableError(RetryableError):
    """Slack could not take the message right now."""

    code = "slack_error"


def error_for(
    status: int, payload: dict[str, Any] | None, body: bytes, retry_after: float | None
) -> ConnectorError | None:
    """The error for a Web API answer (``payload``) or a webhook answer (``payload=None``), or ``None``."""
    if payload is not None:
        name = str(payload.get("error") or (f"http_{status}" if status >= 300 else ""))
        ok = bool(payload.get("ok")) and 200 <= status < 300
    else:
        text = masking.excerpt(body.decode(errors="replace"), 200).strip()
        ok = 200 <= status < 300
        name = text if not ok and text.replace("_", "").isalnum() else f"http_{status}"
    if ok:
        return None
    details: dict[str, Any] = {"error": name, "status": status}
    if retry_after is not None:
        details["retry_after"] = retry_after
    message = f"Slack error: {name}."
    if status == 429 or status >= 500 or status in (408, 425) or name in RETRYABLE:
        return SlackRetryableError(message, retry_after=retry_after, details=details)
    return SlackError(message, details=details)
