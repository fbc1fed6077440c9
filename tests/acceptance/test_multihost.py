"""Workers on separate "hosts": network namespaces that reach the database only over their own link.

Each worker runs in a network namespace of its own, joined to this machine by a veth pair on
a private bridge (a /24 that exists only inside this machine; the namespaces have no other
route). A small TCP proxy bound to the bridge address forwards to the database server and to
a local HTTP server, both listening on 127.0.0.1. Cutting one worker's link mid-step lets
another worker take the job over once the lease expires; when the link comes back, the
cut-off worker's late writes change nothing.

Needs root (``ip netns``): skipped with a message where namespaces cannot be created, unless
``AUTOMATE_REQUIRE_NETNS=1`` (CI), which turns that into a failure.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

import django_automate
from django_automate.models import Event, ExecutionRun, JobStatus, OutboxJob, StepRun
from tests.acceptance.conftest import ROOT, WorkerProcess, wait_for, wait_ready, worker_env

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]

LEASE = "2"  # seconds


def unavailable(message: str) -> None:
    if os.environ.get("AUTOMATE_REQUIRE_NETNS") == "1":
        pytest.fail(f"{message} (AUTOMATE_REQUIRE_NETNS=1)")
    pytest.skip(f"SKIPPED: {message} (set AUTOMATE_REQUIRE_NETNS=1 to fail instead)")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


# -- the network -------------------------------------------------------------------------------
def free_subnet() -> ipaddress.IPv4Network:
    """A 10.x.y.0/24 that no interface or route of this machine uses yet."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    used += subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for number in range(os.getpid() % 2000, os.getpid() % 2000 + 2000):
        subnet = ipaddress.IPv4Network(f"10.{200 + number // 256 % 50}.{number % 256}.0/24")
        prefix = str(subnet.network_address).rsplit(".", 1)[0] + "."
        if prefix not in used:
            return subnet
    raise AssertionError("no free 10.x.y.0/24 subnet")


@dataclass
class Lab:
    """A bridge on this machine (``gateway``) and one namespace per worker, each on its own veth link."""

    tag: str
    subnet: ipaddress.IPv4Network
    namespaces: dict[str, str] = field(default_factory=dict)  # worker -> namespace
    links: dict[str, str] = field(default_factory=dict)  # worker -> host side of its veth pair

    @property
    def bridge(self) -> str:
        return f"am{self.tag}br"

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    def create(self, workers: list[str]) -> None:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for number, name in enumerate(workers, start=10):
            namespace, host, inner = f"automate-{self.tag}-{name}", f"am{self.tag}{name}h", f"am{self.tag}{name}n"
            ip("netns", "add", namespace)
            self.namespaces[name] = namespace
            ip("link", "add", host, "type", "veth", "peer", "name", inner)
            self.links[name] = host
            ip("link", "set", inner, "netns", namespace)
            ip("link", "set", host, "master", self.bridge)
            ip("link", "set", host, "up")
            address = self.subnet.network_address + number
            ip("-n", namespace, "addr", "add", f"{address}/24", "dev", inner)
            ip("-n", namespace, "link", "set", inner, "up")
            ip("-n", namespace, "link", "set", "lo", "up")

    def cut(self, worker: str) -> None:
        ip("link", "set", self.links[worker], "down")

    def restore(self, worker: str) -> None:
        ip("link", "set", self.links[worker], "up")

    def destroy(self) -> None:
        for host in self.links.values():
            subprocess.run(["ip", "link", "del", host], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=30)
        for namespace in self.namespaces.values():
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)


@pytest.fixture
def lab() -> Iterator[Lab]:
    if connection.vendor == "sqlite":
        pytest.skip("needs a database server reachable over a network (SQLite is a local file)")
    if shutil.which("ip") is None:
        unavailable("the `ip` command (iproute2) is not installed")
    tag = uuid.uuid4().hex[:5]
    probe = subprocess.run(["ip", "netns", "add", f"automate-{tag}-probe"], capture_output=True, text=True)
    if probe.returncode != 0:
        unavailable(f"network namespaces are not permitted here: {probe.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", f"automate-{tag}-probe"], capture_output=True)
    lab = Lab(tag=tag, subnet=free_subnet())
    try:
        lab.create(["a", "b"])
        yield lab
    finally:
        lab.destroy()


class TcpProxy:
    """Forwards connections accepted on (host, port) to a server on 127.0.0.1, in a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.servers: list[asyncio.AbstractServer] = []
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def forward(self, host: str, target_port: int) -> int:
        """Listen on ``host`` (a random port, returned) and forward to ``127.0.0.1:target_port``."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

        async def listen() -> int:
            server = await asyncio.start_server(handle, host, 0)
            self.servers.append(server)
            return int(server.sockets[0].getsockname()[1])

        return asyncio.run_coroutine_threadsafe(listen(), self.loop).result(10)

    def close(self) -> None:
        for server in self.servers:
            self.loop.call_soon_threadsafe(server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy()
    yield proxy
    proxy.close()


# -- an external system that honours Idempotency-Key ---------------------------------------------
@dataclass
class IdempotentServer:
    """Applies each ``Idempotency-Key`` once and answers repeats with the stored response, like Stripe."""

    port: int = 0
    requests: Counter[str] = field(default_factory=Counter)  # path -> requests received
    executed: Counter[str] = field(default_factory=Counter)  # key -> times applied
    hold: dict[str, float] = field(default_factory=dict)  # path -> seconds to hold its first request
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def server() -> Iterator[IdempotentServer]:
    state = IdempotentServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            key = self.headers.get("Idempotency-Key", "")
            with state.lock:
                state.requests[self.path] += 1
                first = state.executed[key] == 0
                state.executed[key] += first
                hold = state.hold.pop(self.path, 0.0)
            time.sleep(hold)
            body = json.dumps({"key": key, "replayed": not first}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            """A client cut off mid-request resets its connection: expected here."""

    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


# -- the test ------------------------------------------------------------------------------------
def start_in(namespace: str, log_path: Path, env: dict[str, str]) -> WorkerProcess:
    with log_path.open("wb") as log:
        process = WorkerProcess(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "django", "automate", "worker"],
            cwd=ROOT,
            env=worker_env(AUTOMATE_TEST_LEASE_SECONDS=LEASE, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    process.log_path = log_path
    return process


def database_env(host: str, port: int) -> dict[str, str]:
    if connection.vendor == "postgresql":
        return {"PGHOST": host, "PGPORT": str(port)}
    return {"MYSQL_HOST": host, "MYSQL_PORT": str(port)}


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row a worker writes while processing a job (not its own heartbeat)."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (Event, ExecutionRun, StepRun, OutboxJob)
    }


def test_a_cut_off_worker_is_replaced_after_its_lease_and_its_late_writes_change_nothing(
    lab, proxy, server, workflow_factory, rule_factory, tmp_path
):
    db_port = proxy.forward(lab.gateway, int(connection.settings_dict["PORT"]))
    http_port = proxy.forward(lab.gateway, server.port)
    url = f"http://{lab.gateway}:{http_port}"
    steps = [
        {"id": name, "connector": "http", "action": "request", "with": {"method": "POST", "url": f"{url}/{name}"}}
        for name in ("before", "call", "after")
    ]
    rule_factory(workflow_factory(steps=steps))
    server.hold["/call"] = 1.0
    env = database_env(lab.gateway, db_port)
    cut_off = start_in(lab.namespaces["a"], tmp_path / "a.log", env)
    processes = [cut_off]
    try:
        wait_ready(cut_off)
        django_automate.emit("order.created", {"n": 1})
        wait_for(lambda: server.requests["/call"] == 1, 30, "worker a to call the server", cut_off)
        lab.cut("a")  # mid-step: its request is being answered, its lease can no longer be renewed

        rescuer = start_in(lab.namespaces["b"], tmp_path / "b.log", env)
        processes.append(rescuer)
        wait_for(
            lambda: ExecutionRun.objects.filter(status="succeeded").exists(),
            60,
            "worker b to finish the run",
            cut_off,
            rescuer,
        )
        before = snapshot()
        lab.restore("a")
        wait_for(lambda: "Lost the lease" in cut_off.output(), 60, "worker a's late write", cut_off)
        assert snapshot() == before  # worker a's writes after the cut changed 0 rows

        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            assert process.wait(30) == 0, process.output()[-3000:]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)

    run = ExecutionRun.objects.get()
    job = OutboxJob.objects.get(run=run)
    assert job.status == JobStatus.DONE and f":{rescuer.pid}:" in job.leased_by
    assert list(run.steps.filter(step_id="call").order_by("attempt").values_list("status", flat=True)) == [
        "retrying",
        "succeeded",
    ]
    assert run.steps.get(step_id="call", status="retrying").error["code"] == "attempt_interrupted"
    # Nothing was executed twice: each step's key was applied once. The finished step was not
    # sent again, the cut-off worker never went on to the next step, and the one request it
    # could not confirm was repeated under the same key.
    assert server.executed == Counter({f"{run.id}:before": 1, f"{run.id}:call": 1, f"{run.id}:after": 1})
    assert server.requests == Counter({"/before": 1, "/call": 2, "/after": 1})
