"""Step timeouts: a call that overruns is abandoned, and the next call still runs (on a fresh helper)."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from django_automate.runs.deadline import StepTimeout, call_with_deadline, stop_runner

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


def test_a_call_returns_its_value_and_raises_its_error():
    assert call_with_deadline(lambda: 42, timeout=1) == 42
    with pytest.raises(ZeroDivisionError):
        call_with_deadline(lambda: 1 / 0, timeout=1)
    assert call_with_deadline(lambda: "after an error", timeout=1) == "after an error"


def test_the_call_sees_the_callers_context_variables():
    token = marker.set("bound by the caller")
    try:
        assert call_with_deadline(marker.get, timeout=1) == "bound by the caller"
    finally:
        marker.reset(token)


def test_an_overrunning_call_times_out_and_the_next_call_is_not_stuck_behind_it():
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(StepTimeout) as caught:
        call_with_deadline(lambda: release.wait(30), timeout=0.2)
    assert caught.value.code == "step_timeout"
    assert time.monotonic() - started < 5
    try:
        assert call_with_deadline(lambda: "next", timeout=1) == "next"
    finally:
        release.set()


def test_calls_of_one_thread_reuse_one_helper_thread_and_stopping_ends_it():
    idents = {call_with_deadline(lambda: threading.get_ident(), timeout=1) for _ in range(20)}
    assert len(idents) == 1 and threading.get_ident() not in idents
    # The helper itself, not a count of every thread: threads of earlier tests may end meanwhile.
    [helper] = [thread for thread in threading.enumerate() if thread.ident in idents]
    stop_runner()
    helper.join(5)
    assert not helper.is_alive()
