"""Run in a subprocess by the tests: the app with the extras blocked, or in multiprocess metrics mode.

``python -m tests.integration.observability.child <mode>`` prints one JSON document.
Modes: ``no-extras`` (OTel and prometheus-client made unimportable, then the whole core
path), ``record`` (count metrics into ``PROMETHEUS_MULTIPROC_DIR``), ``record-and-render``
(count, then scrape every process's metrics and ask for readiness, against whatever
database the child was given).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()


def _sink() -> tuple[str, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", seen


def no_extras() -> dict[str, Any]:
    for name in ("prometheus_client", "opentelemetry"):
        sys.modules[name] = None  # type: ignore[assignment]  # "import x" now raises ImportError
    _setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from django_automate.models import ExecutionRun, RuleSpec, WebhookEndpoint
    from django_automate.observability import instrument, metrics, otel
    from django_automate.observability.checks import observability_messages
    from django_automate.worker.loop import Worker
    from django_automate.workflows.publishing import create_workflow

    call_command("migrate", verbosity=0)
    settings.ROOT_URLCONF = "tests.integration.observability.urls"
    settings.AUTOMATE = {**settings.AUTOMATE, "METRICS_TOKEN": "t0ken-long-enough-for-checks"}
    url, seen = _sink()
    WebhookEndpoint.objects.create(slug="orders", event_type="order.created", scheme="none")
    steps = [
        {"id": "note", "connector": "log", "action": "write", "with": {"message": "hi"}},
        {"id": "call", "connector": "http", "action": "request", "with": {"method": "POST", "url": url}},
    ]
    workflow = create_workflow(slug="wf", name="wf", definition={"steps": steps})
    RuleSpec.objects.create(name="all", event_type="order.*", workflow=workflow)
    client = Client()
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    accepted = client.post(
        "/automate/hooks/orders/", {"id": 1}, content_type="application/json", HTTP_TRACEPARENT=traceparent
    )
    Worker(once=True, install_signal_handlers=False).run()
    scrape = client.get("/automate/metrics/", HTTP_AUTHORIZATION="Bearer t0ken-long-enough-for-checks")
    health = client.get("/automate/health/?checks=database,migrations,outbox")
    return {
        "extras_importable": {"otel": otel.available(), "prometheus": metrics.available()},
        "instrumented": hasattr(instrument, "connector_call"),
        "webhook": [accepted.status_code, accepted.json()],
        "runs": list(ExecutionRun.objects.values_list("status", "trace_id")),
        "outbound": seen,
        "metrics": [scrape.status_code, scrape.json()],
        "health": [health.status_code, health.json()],
        "checks": [message.id for message in observability_messages()],
    }


def record() -> dict[str, Any]:
    _setup()
    from django_automate.observability import metrics

    for _ in range(int(os.environ["RECORD_TIMES"])):
        metrics.webhook_request("orders", "accepted")
        metrics.step_attempt("http", "succeeded", 0.2)
    return {"pid": os.getpid()}


def record_and_render() -> dict[str, Any]:
    record()
    from django_automate.observability import health, metrics

    body, content_type = metrics.render()
    return {"body": body.decode(), "content_type": content_type, "readiness": health.readiness()}


if __name__ == "__main__":
    modes = {"no-extras": no_extras, "record": record, "record-and-render": record_and_render}
    print(json.dumps(modes[sys.argv[1]](), default=str))
