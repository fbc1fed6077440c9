"""No log line of a failing run carries the secret it used, in any encoding.

A canary secret with the characters URL encoders disagree about (``+ = & @ /``, a space),
quotes and non-ASCII goes out in 200 failing runs: HTTP calls that put it in a header, the
path and the query (to a server that answers 500 and echoes all of it back), a ``python``
step whose exception quotes it, and a ``log`` step that logs it in its message and its
``data``. Every logger (root, httpx, httpcore, django_automate) is captured at DEBUG
through a plain formatter and the JSON formatter, with no filter on the handlers: no form
of the canary (raw, URL-encoded as httpx and urllib write it, JSON-escaped, base64, hex)
is in what they wrote.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote, urlencode

import httpx
import pytest
from django.conf import settings as django_settings
from django.db import connection

import django_automate
from django_automate.models import ExecutionRun, RunStatus
from django_automate.tracing.logging import JSONFormatter, TraceContextFilter
from django_automate.worker.loop import Worker
from tests.integration.governance.leaks import leaked_forms
from tests.integration.governance.servers import echo_server

pytestmark = pytest.mark.django_db(transaction=True)

REF = "$secret:CANARY"
RUNS = 200
ONE_ATTEMPT = {"max_attempts": 1}
TWO_ATTEMPTS = {"max_attempts": 2, "initial_seconds": 0.001, "max_seconds": 0.001}
LOGGERS = ("", "httpx", "httpcore", "django_automate")


def make_canary() -> tuple[str, str]:
    """The secret, and a unique piece of it that any partial leak would show."""
    marker = uuid.uuid4().hex
    return f'Cn+ry={marker}&u@h/p a"t\'h" é€ ✓', marker


def encoded_forms(canary: str) -> dict[str, str]:
    """Forms of the canary as libraries write them (besides those ``leaks.secret_forms`` names)."""
    query = str(httpx.URL(f"http://h/x?t={canary}")).split("?t=", 1)[1]
    path = str(httpx.URL(f"http://h/{canary}")).removeprefix("http://h/")
    return {
        "httpx query": query,
        "httpx path": path,
        "urlencode": urlencode({"t": canary}).removeprefix("t="),
        "url-encoded lower-case": quote(canary, safe="").lower(),
        "json in json": json.dumps(json.dumps(canary))[1:-1],
        "repr bytes": repr(canary.encode())[2:-1],
        "base64url": base64.urlsafe_b64encode(canary.encode()).decode().rstrip("="),
        "hex upper": canary.encode().hex().upper(),
    }


def workflows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Each becomes a workflow of its own; every one of them ends in a failed run."""
    auth = {"username": "u", "password": REF}  # HTTP headers are ASCII: Basic auth carries it base64-encoded
    return {
        "http-500": [
            {
                "id": "echo",
                "connector": "http",
                "action": "request",
                "with": {"url": f"{url}/echo/{REF}", "query": {"t": REF}, "auth": auth},
            },
            {
                "id": "fail",
                "connector": "http",
                "action": "request",
                "with": {"method": "POST", "url": f"{url}/fail?p={REF}", "auth": auth, "json": {"t": REF}},
                "retry": TWO_ATTEMPTS,
            },
        ],
        "http-403": [
            {
                "id": "deny",
                "connector": "http",
                "action": "request",
                "with": {"url": f"{url}/deny?t={REF}", "auth": auth},
                "retry": ONE_ATTEMPT,
            }
        ],
        "crash": [
            {"id": "crash", "connector": "python", "action": "crash", "with": {"token": REF}, "retry": TWO_ATTEMPTS}
        ],
        "log-then-fail": [
            {
                "id": "log",
                "connector": "log",
                "action": "write",
                "with": {
                    "message": f"token is {REF}",
                    "level": "error",
                    "data": {"token": REF, "nested": [{"password": [REF]}], "url": f"{url}/?t={REF}"},
                },
            },
            {"id": "reject", "connector": "python", "action": "reject", "with": {"token": REF}},
        ],
    }


class _EverythingFormatter(logging.Formatter):
    """A plain line, then every attribute of the record: what any custom formatter could print."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record) + " | " + repr(record.__dict__)


@pytest.fixture
def captured_logs() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    plain, structured = io.StringIO(), io.StringIO()
    plain_handler = logging.StreamHandler(plain)
    plain_handler.setFormatter(_EverythingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    json_handler = logging.StreamHandler(structured)
    json_handler.setFormatter(JSONFormatter())
    json_handler.addFilter(TraceContextFilter())
    root = logging.getLogger()
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).propagate) for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).propagate = True
    root.addHandler(plain_handler)
    root.addHandler(json_handler)
    try:
        yield plain, structured
    finally:
        root.removeHandler(plain_handler)
        root.removeHandler(json_handler)
        for name, (level, propagate) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).propagate = propagate


def drain(concurrency: int, deadline_seconds: float = 120) -> None:
    deadline = time.monotonic() + deadline_seconds
    finished = [RunStatus.SUCCEEDED, RunStatus.FAILED]
    while ExecutionRun.objects.filter(status__in=finished).count() < RUNS:  # events are routed by the worker too
        assert time.monotonic() < deadline, "runs did not finish"
        Worker(once=True, concurrency=concurrency, install_signal_handlers=False).run()


def test_no_log_line_of_200_failing_runs_holds_the_secret_in_any_encoding(
    settings, captured_logs, capfd, fast_commits, workflow_factory, rule_factory
):
    canary, marker = make_canary()
    settings.AUTOMATE = {
        **django_settings.AUTOMATE,
        "SECRETS": {"CANARY": canary},
        "EXECUTION_BACKEND": "inline",  # each job runs in this process when its transaction commits
        "PYTHON_ACTIONS": {
            "crash": "tests.integration.governance.actions.crash_with_token",
            "reject": "tests.integration.governance.actions.reject_with_token",
        },
    }
    plain, structured = captured_logs
    concurrency = 1 if connection.vendor == "sqlite" else 4  # SQLite: one writer
    with echo_server() as server:
        modes = workflows(server.url)
        for mode, steps in modes.items():
            rule_factory(workflow_factory(steps=steps, slug=f"log-masking-{mode}"), event_type=f"masking.{mode}")
        for i in range(RUNS):
            mode = list(modes)[i % len(modes)]
            django_automate.emit(f"masking.{mode}", {"mode": mode, "i": i})
        drain(concurrency)
        received = list(server.received)

    outcomes = Counter(run.status for run in ExecutionRun.objects.all())
    assert outcomes == {RunStatus.FAILED: RUNS}, outcomes
    # The canary really went out (path, query, header), so masking, not absence, keeps it out of the logs.
    assert any(canary in unquote(request["path"]) for request in received)
    basic = f"Basic {base64.b64encode(f'u:{canary}'.encode()).decode()}"
    assert any(request["headers"].get("authorization") == basic for request in received)

    plain_text, json_text = plain.getvalue(), structured.getvalue()
    captured_err = "".join(capfd.readouterr())
    # Everything that should have been logged was: httpx and httpcore lines, the log step, the crash traceback.
    assert "HTTP Request: POST" in plain_text and "httpcore" in plain_text
    assert "token is [REDACTED]" in plain_text
    records = [json.loads(line) for line in json_text.splitlines()]
    logged_data = [r["data"] for r in records if r.get("action") == "connector_log"]
    assert len(logged_data) == RUNS // 4 and all("[REDACTED]" in data for data in logged_data)
    crashes = [r for r in records if r.get("action") == "step_crashed"]
    assert crashes and all("Traceback (most recent call last)" in r["exc_info"] for r in crashes)
    assert all("RuntimeError: upstream rejected token=[REDACTED]" in r["exc_info"] for r in crashes)

    for name, text in {"plain": plain_text, "json": json_text, "stderr": captured_err}.items():
        assert marker not in text.lower(), name  # not even a piece of the canary
        assert leaked_forms(text, canary) == [], name
        lowered = text.lower()
        assert [form for form, value in encoded_forms(canary).items() if value.lower() in lowered] == [], name
