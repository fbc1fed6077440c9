"""Ingest under gunicorn: ``POST /automate/hooks/<slug>/`` versus a minimal Django view, one server, one run.

One gunicorn (sync workers, ``--ingest-workers`` of them, persistent database connections)
serves both URLs of ``bench/urls.py``: the webhook endpoint (scheme ``none``: the signature
schemes are not what is compared) and ``bench/baseline/views.py``, which parses the JSON body and
inserts one row into the same database. Client processes (``--ingest-clients``, a new
connection per request, as gunicorn's sync workers close each one) send unique bodies, so
every webhook is a new event. The sides take turns (``rounds``); each turn has an unmeasured
warm-up, and each side keeps its best turn. gunicorn is installed on first use (``lazy.py``).
"""

from __future__ import annotations

import multiprocessing
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import lazy
from pipeline import summary_ms

SIDES = {"webhook": "/automate/hooks/ingest/", "baseline": "/baseline/insert/"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(port: int, path: str, body: bytes) -> int:
    """Status code of one ``POST`` on a new connection."""
    head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode() + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    return int(response[9:12]) if response.startswith(b"HTTP/1.") else 0


class Server:
    """gunicorn serving ``bench.wsgi`` against the benchmark database."""

    def __init__(self, workers: int) -> None:
        from django.db import connection

        folder = lazy.installed(lazy.GUNICORN)
        self.port = free_port()
        env = lazy.subprocess_env(
            folder, AUTOMATE_BENCH_DB_NAME=str(connection.settings_dict["NAME"]), AUTOMATE_BENCH_CONN_MAX_AGE="600"
        )
        command = [sys.executable, "-m", "gunicorn", "bench.wsgi:application", "--workers", str(workers)]
        command += ["--bind", f"127.0.0.1:{self.port}", "--backlog", "2048", "--log-level", "warning"]
        self.log = lazy.log_file()
        self.process = subprocess.Popen(command, cwd=lazy.ROOT, env=env, stderr=self.log)
        self.workers = workers
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {lazy.tail(self.log)}")
            try:
                if post(self.port, SIDES["baseline"], b"{}") == 202:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


def _client(port: int, path: str, start: float, warmup: float, seconds: float, results: Any) -> None:
    """Requests back to back; keeps ``(status, ms)`` of those that finished inside the measured window."""
    token = uuid.uuid4().hex
    measured_from, until = start + warmup, start + warmup + seconds
    time.sleep(max(0.0, start - time.monotonic()))
    kept: list[tuple[int, float]] = []
    n = 0
    while True:
        began = time.monotonic()
        if began >= until:
            break
        status = post(port, path, b'{"client": "%s", "n": %d, "total": 42.5}' % (token.encode(), n))
        ended = time.monotonic()
        n += 1
        if measured_from <= ended < until:
            kept.append((status, (ended - began) * 1000))
    results.put(kept)


def turn(server: Server, side: str, clients: int, warmup: float, seconds: float) -> dict[str, Any]:
    """One side under ``clients`` concurrent clients: requests/s and latency of the measured window."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start = time.monotonic() + 2.0  # every client process is up and waiting by then
    processes = [
        context.Process(target=_client, args=(server.port, SIDES[side], start, warmup, seconds, results), daemon=True)
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    kept = [row for _ in processes for row in results.get(timeout=warmup + seconds + 120)]
    for process in processes:
        process.join(30)
    failed = [status for status, _ in kept if status != 202]
    if failed:
        raise RuntimeError(f"{side}: {len(failed)} of {len(kept)} requests were not answered 202 (e.g. {failed[0]})")
    return {"requests": len(kept), "per_second": len(kept) / seconds, **summary_ms([ms for _, ms in kept])}


def measure(workers: int, clients: int, warmup: float, seconds: float, rounds: int) -> dict[str, Any]:
    """Both sides in turns on one gunicorn; the best turn of each, and webhook / baseline."""
    from django_automate.models import WebhookEndpoint

    WebhookEndpoint.objects.create(slug="ingest", event_type="bench.ingest", scheme="none")
    server = Server(workers)
    best: dict[str, dict[str, Any]] = {}
    try:
        for _ in range(rounds):
            for side in SIDES:
                row = turn(server, side, clients, warmup, seconds)
                if side not in best or row["per_second"] > best[side]["per_second"]:
                    best[side] = row
    finally:
        server.stop()
    return {
        "server": f"gunicorn {lazy.GUNICORN.split('==')[1]}, {workers} sync workers",
        "clients": clients,
        "seconds": seconds,
        "warmup_seconds": warmup,
        **best,
        "ratio": round(best["webhook"]["per_second"] / best["baseline"]["per_second"], 3),
    }
