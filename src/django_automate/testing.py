"""Helpers for your own tests: a connector contract check and local servers to send to.

```python
from django_automate.testing import assert_connector_contract, local_http_server, make_context

def test_my_connector_keeps_the_contract():
    assert_connector_contract(CrmConnector, examples={"create_contact": {"email": "a@example.com"}})
```

``local_http_server()`` records requests and answers with scripted responses;
``local_smtp_server()`` (needs ``aiosmtpd``) records delivered messages. Outbound HTTP to
them needs ``AUTOMATE["HTTP_ALLOW_PRIVATE_NETWORKS"] = True`` in your test settings.
"""

from __future__ import annotations

import contextlib
import copy
import email
import email.message
import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django_automate.connectors.base import ConnectorContext, PermanentError, StepResult
from django_automate.connectors.contract import actions_of, class_problems, describe_action
from django_automate.connectors.schema import schema_errors

__all__ = [
    "HttpRecorder",
    "RecordedRequest",
    "SmtpRecorder",
    "assert_connector_contract",
    "local_http_server",
    "local_smtp_server",
    "make_context",
]


def make_context(**overrides: Any) -> ConnectorContext:
    """A :class:`ConnectorContext` for calling ``execute`` directly (30 s deadline, fresh trace id)."""
    values: dict[str, Any] = {
        "idempotency_key": f"{uuid.uuid4()}:test_step",
        "trace_id": str(uuid.uuid4()),
        "deadline": time.monotonic() + 30,
        "run_id": "",
        "step_id": "test_step",
    }
    values.update(overrides)
    return ConnectorContext(**values)


def assert_connector_contract(connector_cls: type, *, examples: Mapping[str, dict[str, Any]] | None = None) -> None:
    """Fail with every way ``connector_cls`` breaks the connector contract.

    Checks the class statically (``type``, ``actions`` with valid input schemas, an
    ``execute`` of its own, instantiable without arguments), that an unknown action and
    input missing required keys raise ``PermanentError``, and, for each ``examples``
    entry (action → params, which must match the action's schema), that ``execute``
    returns a ``StepResult`` with a JSON output and a ``cost`` that is ``None`` or a
    non-negative number.
    """
    instance, problems = class_problems(connector_cls)
    if instance is None or problems:
        raise AssertionError(_report(connector_cls, problems))
    actions = actions_of(instance)
    try:
        json.dumps([describe_action(a) for a in actions.values()], allow_nan=False)
    except (TypeError, ValueError) as exc:
        problems.append(f"action descriptions are not JSON: {exc}")
    problems += _must_be_permanent(instance, "no_such_action_for_contract_test", {}, "an unknown action")
    for name, action in actions.items():
        if action.input_schema.get("required"):
            problems += _must_be_permanent(instance, name, {}, f"action {name!r} with input missing required keys")
    for name, params in (examples or {}).items():
        if name not in actions:
            problems.append(f"example for unknown action {name!r}")
            continue
        for error in schema_errors(actions[name].input_schema, params):
            problems.append(f"example for {name!r} does not match its schema: {error['path']}: {error['message']}")
        problems += _check_result(instance, name, params)
    if problems:
        raise AssertionError(_report(connector_cls, problems))


def _must_be_permanent(instance: Any, action: str, params: dict[str, Any], what: str) -> list[str]:
    try:
        instance.execute(action, params, make_context())
    except PermanentError:
        return []
    except Exception as exc:  # reporting any other exception is the point of the check
        return [f"{what} raised {exc.__class__.__name__} instead of a PermanentError"]
    return [f"{what} did not raise a PermanentError"]


def _check_result(instance: Any, action: str, params: dict[str, Any]) -> list[str]:
    try:
        result = instance.execute(action, copy.deepcopy(params), make_context())
    except Exception as exc:  # reported as a contract problem with its type and message
        return [f"example for {action!r} raised {exc.__class__.__name__}: {exc}"]
    if not isinstance(result, StepResult):
        return [f"execute({action!r}) returned {type(result).__name__}, not a StepResult"]
    problems = []
    try:
        json.dumps(result.output, allow_nan=False)
    except (TypeError, ValueError) as exc:
        problems.append(f"the output of {action!r} is not JSON: {exc}")
    cost = result.cost
    if cost is not None and (
        isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost < 0
    ):
        problems.append(f"the cost of {action!r} must be None or a non-negative number, not {cost!r}")
    return problems


def _report(connector_cls: Any, problems: list[str]) -> str:
    name = getattr(connector_cls, "__qualname__", repr(connector_cls))
    return f"{name} breaks the connector contract:\n" + "\n".join(f"  - {p}" for p in problems)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpRecorder:
    """A running local HTTP server: its ``url``, what it received, and the answers it will give."""

    url: str = ""
    requests: list[RecordedRequest] = field(default_factory=list)
    connections: int = 0
    responses: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def respond(self, status: int = 200, body: Any = b"", headers: dict[str, str] | None = None) -> None:
        """Script the next answer (later requests get ``200 {"ok": true}`` once the script runs out)."""
        headers = dict(headers or {})
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        self.responses.append((status, headers, body))


@contextlib.contextmanager
def local_http_server(host: str = "127.0.0.1", port: int = 0) -> Iterator[HttpRecorder]:
    """Serve on ``host:port`` (a free port by default) while the block runs, recording everything."""
    recorder = HttpRecorder()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with recorder.lock:
                recorder.requests.append(
                    RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status, headers, payload = (
                    recorder.responses.pop(0)
                    if recorder.responses
                    else (200, {"Content-Type": "application/json"}, b'{"ok": true}')
                )
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        def verify_request(self, request: Any, client_address: Any) -> bool:
            with recorder.lock:
                recorder.connections += 1
            return True

    server = Server((host, port), Handler)
    shown = f"[{host}]" if ":" in host else host
    recorder.url = f"http://{shown}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SmtpRecorder:
    """A running local SMTP server: where it listens and the messages it accepted."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[email.message.Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)  # (MAIL FROM, RCPT TOs)
    reject_rcpt: dict[str, str] = field(default_factory=dict)  # address → SMTP reply, e.g. "550 no such user"


@contextlib.contextmanager
def local_smtp_server(host: str = "127.0.0.1") -> Iterator[SmtpRecorder]:
    """An aiosmtpd server on a free port while the block runs (``pip install aiosmtpd``)."""
    from aiosmtpd.controller import Controller

    recorder = SmtpRecorder(host=host)

    class Handler:
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
            if address in recorder.reject_rcpt:
                return recorder.reject_rcpt[address]
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            recorder.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            recorder.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
            return "250 Message accepted for delivery"

    with socket.socket() as probe:
        probe.bind((host, 0))
        recorder.port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname=host, port=recorder.port)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()
