"""Secret injection through data: a ``$secret:NAME`` that arrives in an event, a step's output or a
computed value is sent on as plain text, never replaced by the secret's value.

Secret references are resolved only where written literally in the workflow definition. Every
connector field and template position below forwards attacker-controlled data; the canary
secret's value must reach no local peer (HTTP, Slack API, SMTP), no log line and no table.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

import django_automate
from django_automate.connectors.base import ConnectorContext
from django_automate.models import ExecutionRun, RunStatus, StepRun
from django_automate.testing import local_smtp_server
from tests.integration.governance.leaks import leaked_forms, leaks_in_database

pytestmark = pytest.mark.django_db(transaction=True)

CANARY = "canary-7f3a9c41e2@leak.example"  # an address too, so a resolved `to` would be delivered
SLACK_TOKEN = "xoxb-literal-5150"
REF = "$secret:CANARY"
#: What the attacker sends: the reference alone, inside text, nested, and its parts apart.
PAYLOAD = {
    "v": REF,
    "text": f"hello {REF} and {REF}!",
    "nested": {"list": [REF, {"k": REF, "deeper": [f"x{REF}"]}]},
    "name": "CANARY",
    "prefix": "$secret:",
}
ECHO = "tests.integration.governance.test_secret_injection.echo"
EMIT_REF = "tests.integration.governance.test_secret_injection.emit_ref"


def echo(params: dict[str, Any], ctx: ConnectorContext) -> Any:
    """A ``python`` action that returns what it was given (its arguments reach the output and the database)."""
    return {"params": params}


def emit_ref(params: dict[str, Any], ctx: ConnectorContext) -> Any:
    """A connector whose output holds a reference, as a careless or hostile upstream could answer."""
    return {"v": REF, "list": [REF]}


@pytest.fixture(autouse=True)
def _secrets(settings):
    settings.AUTOMATE = {
        **settings.AUTOMATE,
        "SECRETS": {"CANARY": CANARY, "SLACK_TOKEN": SLACK_TOKEN},
        "PYTHON_ACTIONS": {"echo": ECHO, "emit_ref": EMIT_REF},
    }


def http(step_id: str, url: str, **with_: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "connector": "http",
        "action": "request",
        "with": {"method": "POST", "url": url, **with_},
        "on_failure": "continue",
    }


def step(step_id: str, connector: str, action: str, with_: dict[str, Any]) -> dict[str, Any]:
    return {"id": step_id, "connector": connector, "action": action, "with": with_, "on_failure": "continue"}


def attack_steps(sink: str) -> list[dict[str, Any]]:
    """One step per connector field and template position, each forwarding the attacker's data."""
    v, text, nested = "{{ event.payload.v }}", "{{ event.payload.text }}", "{{ event.payload.nested }}"
    logic = {"$logic": {"cat": ["", {"var": "event.payload.v"}]}}
    composed = {"$logic": {"cat": [{"var": "event.payload.prefix"}, {"var": "event.payload.name"}]}}
    literal_in_logic = {"$logic": {"cat": ["$secret:", "CANARY"]}}
    slack = {"token": "$secret:SLACK_TOKEN", "channel": "C1"}
    return [
        http("url_path", f"{sink}/orders/{v}"),
        http("url_embedded", f"{sink}/orders/x-{v}-y?n={text}"),
        http("query", f"{sink}/q", query={"a": v, "b": text, "c": [v, "z"]}),
        http("header", f"{sink}/h", headers={"X-Note": v, "X-Text": f"pre {text}", "Authorization": f"Bearer {v}"}),
        http("json_whole", f"{sink}/j", json=nested),
        http("json_fields", f"{sink}/j", json={"a": v, "b": f"[{text}]", "c": [v, {"d": nested}], "e": logic}),
        http("json_logic", f"{sink}/j", json={"composed": composed, "literal_in_logic": literal_in_logic}),
        http("json_default", f"{sink}/j", json={"d": '{{ event.payload.nope | default("$secret:CANARY") }}'}),
        http("json_prefix", f"{sink}/j", json={"p": "$secret:{{ event.payload.name }}"}),
        http("form", f"{sink}/f", form={"a": v, "b": text}),
        http("body", f"{sink}/b", body=f"note={text}&v={v}"),
        http("auth", f"{sink}/a", auth={"bearer": v}),
        step("slack_text", "slack", "post_message", {**slack, "text": text}),
        step("slack_channel", "slack", "post_message", {**slack, "channel": v, "text": "hi"}),
        step("slack_blocks", "slack", "post_message", {**slack, "blocks": [{"type": "section", "text": v}]}),
        step("slack_webhook", "slack", "webhook", {"url": v, "text": "hi"}),
        step("email_to", "email", "send", {"to": v, "from": "shop@example.com", "subject": "s", "text": "t"}),
        step(
            "email_text",
            "email",
            "send",
            {"to": "a@example.org", "from": "shop@example.com", "subject": v, "text": text},
        ),
        step("python", "python", "echo", {"a": v, "b": text, "c": nested, "d": logic}),
        step("log", "log", "write", {"message": f"note {text}", "data": nested}),
        step("upstream", "python", "emit_ref", {}),
        http(
            "from_output", f"{sink}/o", json={"v": "{{ steps.upstream.output.v }}", "l": "{{ steps.upstream.output }}"}
        ),
        step("log_output", "log", "write", {"message": "{{ steps.upstream.output.v }}", "data": "{{ steps.python }}"}),
    ]


def test_a_secret_reference_in_data_is_never_resolved_at_any_peer_log_or_table(
    http_sink, workflow_factory, rule_factory, run_worker, settings, caplog
):
    settings.AUTOMATE = {**settings.AUTOMATE, "SLACK_API_BASE_URL": f"{http_sink.url}/api/"}
    steps = attack_steps(http_sink.url)
    caplog.set_level(logging.DEBUG)
    with local_smtp_server() as smtp:
        settings.EMAIL_HOST, settings.EMAIL_PORT = smtp.host, smtp.port
        settings.AUTOMATE = {**settings.AUTOMATE, "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend"}
        rule_factory(workflow_factory(steps=steps))
        django_automate.emit("order.created", PAYLOAD)
        run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED  # every step continues on failure
    rows = {row.step_id: row for row in StepRun.objects.filter(run=run)}
    assert set(rows) == {s["id"] for s in steps}

    for request in http_sink.requests:
        seen = request["path"] + json.dumps(request["headers"]) + request["body"].decode("latin-1")
        assert leaked_forms(seen, CANARY) == [], (request["headers"].get("idempotency-key"), request["path"])
    for message in smtp.messages:
        assert leaked_forms(message.as_string(), CANARY) == []
    assert all(CANARY not in " ".join(to) for _, to in smtp.envelopes)
    assert leaked_forms(caplog.text, CANARY) == []
    assert leaks_in_database(CANARY) == {}

    # The data was forwarded, as text: the fields arrived holding the reference itself.
    bodies = {r["headers"]["idempotency-key"].split(":")[1]: r for r in http_sink.requests if "/api/" not in r["path"]}
    assert json.loads(bodies["json_whole"]["body"]) == PAYLOAD["nested"]
    assert json.loads(bodies["json_logic"]["body"]) == {"composed": REF, "literal_in_logic": REF}
    assert json.loads(bodies["json_default"]["body"]) == {"d": REF}
    assert json.loads(bodies["json_prefix"]["body"]) == {"p": REF}
    assert json.loads(bodies["from_output"]["body"]) == {"v": REF, "l": {"v": REF, "list": [REF]}}
    assert bodies["header"]["headers"]["x-note"] == REF
    slack_text = next(r for r in http_sink.requests if r["path"].startswith("/api/") and b"hello" in r["body"])
    assert json.loads(slack_text["body"])["text"] == PAYLOAD["text"]
    assert slack_text["headers"]["authorization"] == f"Bearer {SLACK_TOKEN}"  # written in the definition
    [mail] = [m for m in smtp.messages if m["Subject"] == REF]
    assert PAYLOAD["text"] in mail.get_payload(decode=True).decode()
    assert rows["python"].output["params"]["c"] == PAYLOAD["nested"]
    assert rows["python"].input["b"] == PAYLOAD["text"]
    assert rows["email_to"].status == "failed"  # "$secret:CANARY" is no address; nothing was sent to CANARY


def test_a_secret_written_literally_in_the_definition_still_resolves_and_is_never_stored(
    http_sink, workflow_factory, rule_factory, run_worker
):
    steps = [
        http(
            "call",
            f"{http_sink.url}/orders/{{{{ event.payload.id }}}}?k=$secret:CANARY",
            headers={"X-Token": "$secret:CANARY", "X-Mixed": "id={{ event.payload.id }};k=$secret:CANARY"},
            json={"ref": "$secret:CANARY", "echo": "{{ event.payload.v }}"},
        )
    ]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {"id": 7, "v": REF})
    run_worker()
    [request] = http_sink.requests
    assert request["headers"]["x-token"] == CANARY
    assert request["headers"]["x-mixed"] == f"id=7;k={CANARY}"
    assert json.loads(request["body"]) == {"ref": CANARY, "echo": REF}
    assert request["path"].startswith("/orders/7?k=")
    row = StepRun.objects.get()
    assert row.status == "succeeded"
    assert row.input["json"] == {"ref": "$secret:CANARY", "echo": REF}  # stored input keeps the reference
    assert leaks_in_database(CANARY) == {}
