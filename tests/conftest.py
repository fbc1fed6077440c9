"""Shared fixtures: factories for the domain objects and a real local HTTP server to call."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from django_automate.models import RuleSpec, WebhookEndpoint, Workflow


@dataclass
class HttpSink:
    """A local HTTP server that records every request; ``responses`` scripts the first answers."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    responses: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay_seconds: float = 0.0
    arrivals: int = 0  # requests whose headers were read, counted before any delay

    def keys(self) -> Counter[str]:
        with self.lock:
            return Counter(r["headers"].get("idempotency-key", "") for r in self.requests)


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            arrived_at = time.monotonic()
            with sink.lock:
                sink.arrivals += 1
            if sink.delay_seconds:
                time.sleep(sink.delay_seconds)
            body = self.rfile.read(length) if length else b""
            with sink.lock:
                sink.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "arrived_at": arrived_at,  # time.monotonic() of this process
                        "answered_at": time.monotonic(),
                    }
                )
                status, headers, payload = (
                    sink.responses.pop(0) if sink.responses else (200, {}, json.dumps({"ok": True}).encode())
                )
            self.send_response(status)
            headers = {"Content-Type": "application/json", **headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = _handle

        def log_message(self, format: str, *args: object) -> None:
            return

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            """Clients killed mid-request (chaos tests) reset connections; that is expected here."""

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sink
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _fresh_endpoint_cache() -> Iterator[None]:
    """Rows rolled back at the end of a test send no signal: start every test with no endpoint in memory."""
    from django_automate.ingestion.webhooks import endpoints

    endpoints.forget_all()
    yield


@pytest.fixture
def endpoint_factory() -> Callable[..., WebhookEndpoint]:
    def make(**kwargs: Any) -> WebhookEndpoint:
        values: dict[str, Any] = {"slug": "orders", "event_type": "order.created", "scheme": "none"}
        values.update(kwargs)
        return WebhookEndpoint.objects.create(**values)

    return make


@pytest.fixture
def workflow_factory() -> Callable[..., Workflow]:
    from django_automate.workflows.publishing import create_workflow

    def make(steps: list[dict[str, Any]] | None = None, **kwargs: Any) -> Workflow:
        steps = steps or [{"id": "say", "connector": "log", "action": "write", "with": {"message": "hi"}}]
        values: dict[str, Any] = {"slug": "wf", "name": "Workflow", "definition": {"steps": steps}}
        values.update(kwargs)
        return create_workflow(**values)

    return make


@pytest.fixture
def rule_factory() -> Callable[..., RuleSpec]:
    def make(workflow: Workflow, **kwargs: Any) -> RuleSpec:
        values: dict[str, Any] = {"name": f"rule-{workflow.slug}", "event_type": "order.*", "workflow": workflow}
        values.update(kwargs)
        return RuleSpec.objects.create(**values)

    return make


@pytest.fixture
def run_worker() -> Callable[[], int]:
    """Process jobs in-process until none is ready (needs ``transactional_db``)."""
    from django_automate.worker.loop import Worker

    def run() -> int:
        return Worker(once=True, install_signal_handlers=False).run()

    return run
