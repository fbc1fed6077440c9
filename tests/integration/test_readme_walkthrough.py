"""The README's "first endpoint, workflow and rule" walk-through works as written.

The request bodies are read from README.md itself, so the walk-through cannot drift from
what the API accepts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shlex
from pathlib import Path

import pytest

from django_automate.models import Event, ExecutionRun

pytestmark = pytest.mark.django_db(transaction=True)

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough() -> str:
    text = README.read_text()
    start = text.index("### Your first endpoint, workflow and rule")
    return text[start : text.index("\n## ", start)]


def api_calls(section: str) -> list[tuple[str, dict]]:
    """(resource path, JSON body) of every ``curl … $API/<path>/ … -d '<json>'`` in order."""
    calls = []
    for command in section.replace("\\\n", " ").splitlines():
        if "curl" not in command or "$API/" not in command or " -d " not in command:
            continue
        words = shlex.split(command.lstrip("$ "), posix=True)
        path = next(w for w in words if w.startswith("$API/"))[len("$API/") :]
        calls.append((path, json.loads(words[words.index("-d") + 1])))
    return calls


def test_the_readme_walkthrough_creates_an_endpoint_a_workflow_and_a_rule_that_route_a_signed_delivery(
    client, admin_user, monkeypatch, run_worker
):
    from tests.integration.api.conftest import ApiClient

    section = walkthrough()
    secret = re.search(r"export AUTOMATE_SECRET_SHOP_HOOK=(\S+)", section).group(1)
    monkeypatch.setenv("AUTOMATE_SECRET_SHOP_HOOK", secret)
    client.force_login(admin_user)
    api = ApiClient(client)
    calls = api_calls(section)
    assert [path for path, _ in calls] == ["endpoints/", "workflows/", "rules/"]
    for path, body in calls:
        response = api.post(path, body)
        assert response.status_code == 201, (path, response.content)

    body = re.search(r"BODY='([^']+)'", section).group(1).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(
        "/automate/hooks/shop/", body, content_type="application/json", HTTP_X_SIGNATURE_256=f"sha256={signature}"
    )
    assert response.status_code == 202, response.content
    run_worker()
    event = Event.objects.get(id=response.json()["event_id"])
    assert event.type == "order.paid"
    run = ExecutionRun.objects.get(event=event)
    assert run.workflow.slug == "fulfil"  # the step itself calls a host that does not exist here
