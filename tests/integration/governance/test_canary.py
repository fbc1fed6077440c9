"""Canary: a secret used by 200 runs that succeed and fail in every way never shows up anywhere.

Afterwards no table row, no log line and no API response (lists, details, trace timelines,
errors) holds the secret, raw or base64 / URL-encoded / JSON-escaped / hex encoded,
although servers echoed it, exceptions quoted it and the connectors logged it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

import django_automate
from django_automate.models import ExecutionRun, RunStatus, Secret, StepRun
from django_automate.secrets.store import put_secret
from django_automate.worker.loop import Worker
from tests.integration.governance.leaks import leaked_forms, leaks_in_database
from tests.integration.governance.servers import closed_port, echo_server

pytestmark = pytest.mark.django_db(transaction=True)

REF = "$secret:CANARY"
RETRY = {"max_attempts": 2, "initial_seconds": 0.001, "max_seconds": 0.001}
ACTIONS = "tests.integration.governance.actions"
API = "/automate/api/v1/"


def steps(url: str, refused: str) -> list[dict[str, Any]]:
    """One step per way of succeeding or failing; each becomes a workflow of its own."""
    headers = {"X-Token": REF, "Authorization": f"Bearer {REF}"}

    def step(mode: str, connector: str, action: str, with_: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"id": mode, "connector": connector, "action": action, "with": with_, **extra}

    http = "http"
    return [
        step(
            "ok",
            http,
            "request",
            {
                "method": "POST",
                "url": f"{url}/ok",
                "headers": headers,
                "query": {"t": REF},
                "json": {"t": REF, "nested": [f"[{REF}]"]},
            },
        ),
        step(
            "text",
            http,
            "request",
            {"url": f"{url}/text", "headers": headers, "auth": {"username": "user", "password": REF}},
        ),
        step(
            "server_error",
            http,
            "request",
            {"method": "POST", "url": f"{url}/fail", "headers": headers, "body": f"token={REF}"},
            retry=RETRY,
        ),
        step("denied", http, "request", {"url": f"{url}/deny?t={REF}", "headers": headers}),
        step("refused", http, "request", {"url": f"{refused}/{REF}", "headers": headers}, retry=RETRY),
        step("dns", http, "request", {"url": f"http://{REF}:8080/", "headers": headers}),
        step("userinfo", http, "request", {"url": url.replace("//", f"//user:{REF}@") + "/ok"}),
        step("crash", "python", "crash", {"token": REF}, retry=RETRY),
        step("reject", "python", "reject", {"token": REF}),
        step("returns", "python", "returns", {"token": REF}),
        step("log", "log", "write", {"message": f"token is {REF}", "level": "warning"}),
    ]


RUNS = 200
MODES = ["ok", "text", "server_error", "denied", "refused", "dns", "userinfo", "crash", "reject", "returns", "log"]
EXPECTED = {
    "ok": RunStatus.SUCCEEDED,
    "text": RunStatus.SUCCEEDED,
    "server_error": RunStatus.FAILED,
    "denied": RunStatus.FAILED,
    "refused": RunStatus.FAILED,
    "dns": RunStatus.FAILED,
    "userinfo": RunStatus.SUCCEEDED,
    "crash": RunStatus.FAILED,
    "reject": RunStatus.FAILED,
    "returns": RunStatus.SUCCEEDED,
    "log": RunStatus.SUCCEEDED,
}


def drain(concurrency: int, deadline_seconds: float = 120) -> None:
    deadline = time.monotonic() + deadline_seconds
    while ExecutionRun.objects.exclude(status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED]).exists() or (
        not ExecutionRun.objects.exists()
    ):
        assert time.monotonic() < deadline, "runs did not finish"
        Worker(once=True, concurrency=concurrency, install_signal_handlers=False).run()
        time.sleep(0.01)


def api_sweep(client: Client, runs: list[ExecutionRun], canary: str) -> str:
    """Bodies of every list (all pages), details, trace timelines and a few errors, as a superuser."""
    bodies: list[str] = []

    def get(url: str) -> Any:
        response = client.get(url)
        bodies.append(response.content.decode())
        assert response.status_code == 200, (url, response.content[:300])
        return response.json()

    for resource in ("runs", "events", "audit", "secrets", "workflows"):
        url: str | None = f"{API}{resource}/?limit=500"
        while url:
            page = get(url)
            url = page.get("next") if isinstance(page, dict) else None  # cursor-paginated or a plain list
    for run in runs:
        get(f"{API}runs/{run.pk}/")
        get(f"{API}events/{run.event_id}/?raw=true")
        get(f"{API}traces/{run.trace_id}/")
    for secret in Secret.objects.all():
        get(f"{API}secrets/{secret.pk}/")
    rejected = client.post(
        f"{API}secrets/", {"name": "not a valid name", "value": canary}, content_type="application/json"
    )
    assert rejected.status_code == 400
    bodies.append(rejected.content.decode())
    return "\n".join(bodies)


def test_a_canary_secret_never_reaches_any_table_log_line_or_api_response(
    settings, caplog, capfd, client, fast_commits, no_dns, workflow_factory, rule_factory
):
    canary = f"CANARY-{uuid.uuid4()}"
    settings.AUTOMATE = {
        **django_settings.AUTOMATE,
        "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
        "PYTHON_ACTIONS": {
            "crash": f"{ACTIONS}.crash_with_token",
            "reject": f"{ACTIONS}.reject_with_token",
            "returns": f"{ACTIONS}.return_token",
        },
    }
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django_automate")
    put_secret(name="CANARY", value=canary, actor="ops")
    concurrency = 1 if connection.vendor == "sqlite" else 4  # SQLite: one writer
    with echo_server() as server:
        for step in steps(server.url, f"http://127.0.0.1:{closed_port()}"):
            workflow = workflow_factory(steps=[step], slug=f"canary-{step['id']}".replace("_", "-"))
            rule_factory(workflow, event_type=f"canary.{step['id']}")
        for i in range(RUNS):
            mode = MODES[i % len(MODES)]
            django_automate.emit(f"canary.{mode}", {"mode": mode, "i": i})
        drain(concurrency)
        echoed = list(server.received)

    runs = ExecutionRun.objects.select_related("event").all()
    outcomes = Counter((run.event.payload["mode"], run.status) for run in runs)
    assert sum(outcomes.values()) == RUNS
    assert {mode for mode, status in outcomes if EXPECTED[mode] != status} == set(), outcomes
    # The secret really went out (so masking, not absence, kept it out of the database) ...
    assert any(canary in str(request["headers"]) for request in echoed)
    # ... and came back in every form, which is now masked.
    returned = StepRun.objects.filter(step_id__in=["ok", "text", "userinfo", "returns"], status="succeeded")
    assert returned.count() > 60 and all("[REDACTED]" in str(step.output) for step in returned)
    errors = StepRun.objects.filter(step_id__in=["crash", "reject", "dns"], status="failed")
    assert errors.exists() and [s.error for s in errors if "[REDACTED]" not in str(s.error)] == []

    assert leaks_in_database(canary) == {}
    logged = "\n".join([caplog.text, *(r.getMessage() + str(r.__dict__) for r in caplog.records), *capfd.readouterr()])
    assert "upstream rejected token=" in logged  # the crash was logged, with its traceback ...
    assert leaked_forms(logged, canary) == []  # ... masked

    client.force_login(User.objects.create_superuser("root"))
    one_run_per_mode = list({run.event.payload["mode"]: run for run in runs}.values())
    responses = api_sweep(client, one_run_per_mode, canary)
    assert "[REDACTED]" in responses
    assert leaked_forms(responses, canary) == []
