"""Enforcing step timeouts around connector calls that may not honour their deadline."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import connections

from django_automate.connectors.base import RetryableError

T = TypeVar("T")

# Connectors that honour ctx.deadline (http does) get this long to report their own timeout first.
GRACE_SECONDS = 0.25


class StepTimeout(RetryableError):
    """The step did not finish within its timeout."""

    code = "step_timeout"


def call_with_deadline(fn: Callable[[], T], *, timeout: float) -> T:
    """Run ``fn`` in a helper thread and give up after ``timeout`` seconds.

    Python cannot stop a thread, so a call that overruns keeps running detached; its
    result is discarded and the attempt counts as a retryable ``step_timeout``. The
    stable idempotency key lets the receiving side recognise a later retry.
    """
    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(fn)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name="automate-step", daemon=True)
    thread.start()
    thread.join(timeout + GRACE_SECONDS)
    if thread.is_alive():
        raise StepTimeout(f"The step did not finish within {timeout:g}s.", details={"timeout_seconds": timeout})
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
