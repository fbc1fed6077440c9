"""Local servers used by ``automate demo``: the Django app itself and a stand-in external system."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.core.wsgi import get_wsgi_application


class _Fulfilment(BaseHTTPRequestHandler):
    """Accepts any POST and answers with a JSON receipt."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = json.loads(self.rfile.read(length) or b"null")
        body = json.dumps({"accepted": True, "received": received, "trace_id": self.headers.get("X-Trace-Id")})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        return


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


#: The demo's "external system" listens here when it can, so its URL (part of the demo
#: workflow's definition) is the same on every run and no new version is published.
FULFILMENT_PORT = 8765


@contextlib.contextmanager
def fulfilment_server(port: int = FULFILMENT_PORT) -> Iterator[str]:
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), _Fulfilment)
    except OSError:  # taken: any free port (the demo then publishes a version with that URL)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Fulfilment)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fulfil"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def django_server() -> Iterator[str]:
    server = make_server(
        "127.0.0.1", 0, get_wsgi_application(), server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
