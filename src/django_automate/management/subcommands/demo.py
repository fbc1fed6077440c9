"""``automate demo``: one webhook through the whole system, with its timeline printed."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import threading
import uuid
from typing import Any

import httpx
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

from django_automate import conf
from django_automate.internal import demo_servers
from django_automate.models import Event, ExecutionRun, RuleSpec, RunStatus, WebhookEndpoint, Workflow
from django_automate.tracing.timeline import trace_timeline
from django_automate.workflows.publishing import create_workflow, publish

HELP = "Migrate, set up a demo endpoint, rule and workflow, send one webhook and print its timeline."
SLUG = "demo-orders"
SECRET_ENV = {"AUTOMATE_SECRET_DEMO_HOOK_SECRET": "demo-hook-secret", "AUTOMATE_SECRET_DEMO_API_TOKEN": "demo-token"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--serve", action="store_true", help="Keep a server and a worker running afterwards.")
    parser.add_argument("--port", type=int, default=8000, help="Port for --serve.")


def definition(fulfilment_url: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "log_order",
                "connector": "log",
                "action": "write",
                "with": {"message": "Order {{ event.payload.id }} received, total {{ event.payload.total }}"},
            },
            {
                "id": "notify_fulfilment",
                "needs": ["log_order"],
                "connector": "http",
                "action": "request",
                "if": {"==": [{"var": "event.payload.status"}, "paid"]},
                "with": {
                    "method": "POST",
                    "url": fulfilment_url,
                    "headers": {"Authorization": "Bearer $secret:DEMO_API_TOKEN"},
                    "json": {
                        "order_id": "{{ event.payload.id }}",
                        "total": "{{ event.payload.total }}",
                        "tag": {"$logic": {"cat": ["o-", {"var": "event.payload.id"}]}},
                    },
                },
                "retry": {"max_attempts": 3, "initial_seconds": 0.2, "max_seconds": 2},
                "timeout_seconds": 10,
            },
            {
                # Beside notify_fulfilment: one attempt per order line, two at a time.
                "id": "reserve_lines",
                "needs": ["log_order"],
                "for_each": "{{ event.payload.lines }}",
                "max_parallel": 2,
                "connector": "log",
                "action": "write",
                "with": {"message": "Reserve {{ item.quantity }} x {{ item.sku }} (line {{ item_index }})"},
            },
            {
                # The join: after both branches.
                "id": "summary",
                "needs": ["notify_fulfilment", "reserve_lines"],
                "connector": "log",
                "action": "write",
                "with": {
                    "message": "Order {{ event.payload.id }}: fulfilment {{ steps.notify_fulfilment.status }},"
                    " lines {{ steps.reserve_lines.status }}"
                },
            },
        ]
    }


def setup(fulfilment_url: str) -> WebhookEndpoint:
    endpoint, _ = WebhookEndpoint.objects.update_or_create(
        slug=SLUG,
        defaults={
            "name": "Demo orders",
            "event_type": "order.{{ body.event }}",
            "scheme": "hmac_sha256",
            "secrets": ["$secret:DEMO_HOOK_SECRET"],
        },
    )
    wanted = definition(fulfilment_url)
    workflow = Workflow.objects.filter(slug="demo-fulfilment", tenant="").first()
    if workflow is None:
        workflow = create_workflow(slug="demo-fulfilment", name="Demo fulfilment", definition=wanted, author="demo")
    elif workflow.current_version is None or workflow.current_version.definition != wanted:
        publish(workflow, wanted, author="demo")
    RuleSpec.objects.update_or_create(
        tenant="",
        name="paid or pending orders",
        defaults={
            "event_type": "order.*",
            "condition": {">": [{"var": "event.payload.total"}, 0]},
            "workflow": workflow,
        },
    )
    return endpoint


def sample_body() -> bytes:
    lines = [{"sku": "TEA-100", "quantity": 2}, {"sku": "MUG-7", "quantity": 1}]
    order = {"event": "created", "id": uuid.uuid4().hex[:8], "total": 42.5, "status": "paid", "lines": lines}
    return json.dumps(order).encode()


def signature(body: bytes) -> str:
    secret = os.environ["AUTOMATE_SECRET_DEMO_HOOK_SECRET"].encode()
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def handle(command: BaseCommand, **options: Any) -> None:
    for key, value in SECRET_ENV.items():
        os.environ.setdefault(key, value)
    call_command("migrate", verbosity=0, interactive=False)
    # The demo's "external system" listens on 127.0.0.1, which the SSRF guard blocks by default.
    automate = {**(conf.get_user_settings()), "HTTP_ALLOW_PRIVATE_NETWORKS": True}
    with override_settings(AUTOMATE=automate), demo_servers.fulfilment_server() as fulfilment_url:
        setup(fulfilment_url)
        if options["serve"]:
            _serve(command, options["port"])
            return
        with demo_servers.django_server() as base_url:
            run = _send_and_process(command, base_url)
    if run.status != RunStatus.SUCCEEDED:
        raise CommandError(f"The demo run ended {run.status}: {run.error}")


def _send_and_process(command: BaseCommand, base_url: str) -> ExecutionRun:
    from django_automate.worker.loop import Worker

    body = sample_body()
    response = httpx.post(
        f"{base_url}/automate/hooks/{SLUG}/",
        content=body,
        headers={"Content-Type": "application/json", "X-Signature-256": signature(body)},
        timeout=10,
    )
    command.stdout.write(f"POST /automate/hooks/{SLUG}/ -> {response.status_code} {response.text}")
    if response.status_code != 202:
        raise CommandError("The webhook was not accepted.")
    Worker(once=True, install_signal_handlers=False).run()
    event = Event.objects.get(id=response.json()["event_id"])
    print_timeline(command, event.trace_id)
    run = ExecutionRun.objects.filter(event=event).first()
    if run is None:
        raise CommandError("No run was created for the demo event.")
    return run


def print_timeline(command: BaseCommand, trace_id: str) -> None:
    command.stdout.write(f"\nTimeline of trace_id {trace_id}")
    for entry in trace_timeline(trace_id):
        d = entry.data
        at = entry.at.strftime("%H:%M:%S.%f")[:-3]
        if entry.kind == "event":
            line = f"event  {d['type']:<28} {d['status']:<10} id={d['id']} source={d['source']}"
        elif entry.kind == "run":
            command.stdout.write(f"  {at}  rule   {d['rule']} -> workflow {d['workflow']} v{d['version']}")
            line = f"run    {d['workflow']:<28} {d['status']:<10} id={d['id']} {d['duration_ms']} ms"
        elif entry.kind == "step":
            label = f"{d['step_id']} ({d['connector']}.{d['action']})"
            line = f"  step {label:<28} {d['status']:<10} attempt {d['attempt']}, {d['duration_ms'] or 0} ms"
        else:
            line = f"audit  {d['action']}"
        command.stdout.write(f"  {at}  {line}")


def _serve(command: BaseCommand, port: int) -> None:
    from django_automate.worker.loop import Worker

    worker = Worker(install_signal_handlers=False)
    threading.Thread(target=worker.run, name="automate-demo-worker", daemon=True).start()
    body = sample_body()
    command.stdout.write(
        "Worker running. Send a webhook with:\n\n"
        f"curl -i -X POST http://127.0.0.1:{port}/automate/hooks/{SLUG}/ "
        f"-H 'Content-Type: application/json' -H 'X-Signature-256: {signature(body)}' "
        f"--data '{body.decode()}'\n"
    )
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
