"""A real HTTP server around the Django app, for tests that need sockets.

wsgiref's server handles one request per thread and knows nothing of chunked bodies. This
one adds what production servers such as gunicorn do: a fixed pool of handler threads,
``Transfer-Encoding: chunked`` decoded while the application reads, ``wsgi.input_terminated``
for bodies without a length, and a lingering close (the unread rest of a rejected upload is
drained, so the client reads the answer instead of a connection reset). It also counts the
bytes the application pulled from each request's stream.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connections

DRAIN_LIMIT = 64 * 1024 * 1024


class CountingInput:
    """Counts what the application consumed from the request stream."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.consumed = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self.raw.read(size) if size is not None and size >= 0 else self.raw.read()
        self.consumed += len(data)
        return data

    def readline(self, size: int = -1, /) -> bytes:
        line = self.raw.readline(size)
        self.consumed += len(line)
        return line


class ChunkedInput:
    """Decodes ``Transfer-Encoding: chunked`` on demand, never reading past what was asked."""

    def __init__(self, raw: CountingInput) -> None:
        self.raw = raw
        self.left = 0
        self.done = False

    def read(self, size: int = -1, /) -> bytes:
        out: list[bytes] = []
        total = 0
        while not self.done and (size < 0 or total < size):
            if self.left == 0:
                self.left = int(self.raw.readline(1024).split(b";")[0].strip(), 16)
                if self.left == 0:
                    while self.raw.readline(1024).strip():
                        pass  # trailers
                    self.done = True
                    break
            data = self.raw.read(self.left if size < 0 else min(self.left, size - total))
            if not data:
                raise ConnectionError("The chunked body ended early.")
            self.left -= len(data)
            total += len(data)
            out.append(data)
            if self.left == 0:
                self.raw.readline(8)  # the CRLF closing the chunk
        return b"".join(out)

    def readline(self, size: int = -1, /) -> bytes:
        line = bytearray()
        while (size < 0 or len(line) < size) and (byte := self.read(1)):
            line += byte
            if byte == b"\n":
                break
        return bytes(line)


@dataclass
class Served:
    """What the server saw: bytes consumed by the application, per request, in order."""

    url: str
    consumed: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(WSGIRequestHandler):
    server: PooledWSGIServer

    def handle(self) -> None:
        super().handle()
        if self.server.linger:
            self._drain()

    def _drain(self) -> None:
        self.connection.settimeout(5)
        drained = 0
        with contextlib.suppress(OSError):
            while drained < DRAIN_LIMIT and (data := self.rfile.read1(65536)):
                drained += len(data)

    def log_message(self, format: str, *args: object) -> None:
        return


class PooledWSGIServer(WSGIServer):
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, threads: int, linger: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.linger = linger
        self.requests: queue.Queue[tuple[socket.socket, Any] | None] = queue.Queue()
        self.workers = [threading.Thread(target=self._work, daemon=True) for _ in range(threads)]
        for worker in self.workers:
            worker.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.requests.put((request, client_address))

    def _work(self) -> None:
        try:
            while (item := self.requests.get()) is not None:
                request, address = item
                try:
                    self.finish_request(request, address)
                except Exception:
                    self.handle_error(request, address)
                finally:
                    self.shutdown_request(request)
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.shutdown()
        for _ in self.workers:
            self.requests.put(None)
        for worker in self.workers:
            worker.join(30)
        self.server_close()


def _wrap(app: Callable[..., Iterable[bytes]], served: Served) -> Callable[..., Iterable[bytes]]:
    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        counting = CountingInput(environ["wsgi.input"])
        declared = environ.get("CONTENT_LENGTH")
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            environ.pop("CONTENT_LENGTH", None)
            environ["wsgi.input"] = ChunkedInput(counting)
            environ["wsgi.input_terminated"] = True
        elif not declared and environ["REQUEST_METHOD"] == "POST":
            environ["wsgi.input"] = counting  # a body read until the client closes (HTTP/1.0 style)
            environ["wsgi.input_terminated"] = True
        else:
            environ["wsgi.input"] = counting
        try:
            return app(environ, start_response)
        finally:
            with served.lock:
                served.consumed.append(counting.consumed)

    return application


@contextlib.contextmanager
def running_server(threads: int = 8, *, linger: bool = False) -> Iterator[Served]:
    """Serve the Django project on 127.0.0.1 with ``threads`` handler threads (each with its own DB connection).

    ``linger``: after each answer, read and drop what the client still sends, until it closes.
    """
    server = PooledWSGIServer(threads, linger)
    served = Served(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.set_app(_wrap(WSGIHandler(), served))
    # Keep each handler thread's database connection for the whole test, as a pooled server would.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.stop()
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(url: str, head: bytes, pieces: Iterable[bytes], timeout: float = 20) -> RawResponse:
    """Send ``head`` then ``pieces`` on a plain socket (giving up quietly if the server stops reading).

    The answer is read while the body is still being sent, as a server may answer early.
    """
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)

    def send() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(head)
            for piece in pieces:
                sock.sendall(piece)
            sock.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    received = bytearray()
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    sender.join(timeout)
    sock.close()
    head_part, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head_part.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(status=int(status_line.split()[1]), headers=headers, body=body)
