"""A local HTTP server that echoes credentials back, verbatim and encoded, as careless services do."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote


@dataclass
class EchoServer:
    """``/ok`` answers 200 JSON, ``/text`` 200 plain text, ``/fail`` 500, ``/deny`` 403; all echo."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _echo(path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    token = headers.get("x-token", "")
    return {
        "path": path,
        "headers": headers,
        "body": body.decode("utf-8", "replace"),
        "token": token,
        "token_b64": base64.b64encode(token.encode()).decode(),
        "token_hex": token.encode().hex().upper(),
        "token_url": quote(token, safe=""),
        "token_json": json.dumps(token),
        "message": f"invalid credentials {token!r} for {headers.get('authorization', '')}",
    }


@contextlib.contextmanager
def echo_server() -> Iterator[EchoServer]:
    server_state = EchoServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            with server_state.lock:
                server_state.received.append({"path": self.path, "headers": headers, "body": body})
            echo = _echo(self.path, headers, body)
            route = self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
            status = {"fail": 500, "deny": 403}.get(route, 200)
            if route == "text":
                payload, content_type = json.dumps(echo).encode(), "text/plain"  # escaped forms stay escaped
            else:
                payload, content_type = json.dumps(echo).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("X-Echo-Token", echo["token"])
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server_state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A local port nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
