"""Enforcing step timeouts around connector calls that may not honour their deadline."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.db import close_old_connections, connections

from django_automate.connectors.base import RetryableError

T = TypeVar("T")

# Connectors that honour ctx.deadline (http does) get this long to report their own timeout first.
GRACE_SECONDS = 0.25


class StepTimeout(RetryableError):
    """The step did not finish within its timeout."""

    code = "step_timeout"


def call_with_deadline(fn: Callable[[], T], *, timeout: float) -> T:
    """Run ``fn`` in this thread's step runner and give up after ``timeout`` seconds.

    Python cannot stop a thread, so a call that overruns keeps running detached; its
    result is discarded and the attempt counts as a retryable ``step_timeout``. The
    stable idempotency key lets the receiving side recognise a later retry.
    """
    runner = getattr(_runners, "runner", None)
    if runner is None or runner.abandoned:
        runner = _runners.runner = _Runner()
    return runner.call(fn, timeout)


class _Outcome:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


_Call = tuple[contextvars.Context, Callable[[], Any], _Outcome]


class _Runner:
    """A long-lived helper thread for one worker thread's step calls: no thread to start per step.

    After a call overruns its deadline, the runner is abandoned to it and the next call gets a
    new runner. Like a request, each call ends with ``close_old_connections()``.
    """

    def __init__(self) -> None:
        self.abandoned = False
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="automate-step", daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], T], timeout: float) -> T:
        outcome = _Outcome()
        self._calls.put((contextvars.copy_context(), fn, outcome))
        if not outcome.done.wait(timeout + GRACE_SECONDS):
            self.abandoned = True
            self.stop()  # the thread ends once the overrunning call returns
            raise StepTimeout(f"The step did not finish within {timeout:g}s.", details={"timeout_seconds": timeout})
        if outcome.error is not None:
            raise outcome.error
        return cast(T, outcome.value)

    def stop(self) -> None:
        self._calls.put(None)

    def _serve(self) -> None:
        try:
            while (item := self._calls.get()) is not None:
                context, fn, outcome = item
                try:
                    outcome.value = context.run(fn)
                except BaseException as exc:
                    outcome.error = exc
                finally:
                    close_old_connections()
                    outcome.done.set()
        finally:
            connections.close_all()


_runners = threading.local()


def stop_runner() -> None:
    """End this thread's step runner, if it has one (a worker thread that stops)."""
    runner = getattr(_runners, "runner", None)
    if runner is not None:
        runner.stop()
        _runners.runner = None
