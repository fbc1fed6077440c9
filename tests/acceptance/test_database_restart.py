"""Database restart: PostgreSQL restarted twice during a 1,000-event webhook load loses nothing.

The shared server is left alone: the test starts a private cluster, serves the webhook
endpoint from ``runserver`` and runs two workers against it, all as subprocesses. Senders
retry on 503 and on connection errors, as webhook senders do. The cluster is stopped
(``fast``, then ``immediate``: like a crash) and started again while the load runs.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.acceptance import private_postgres
from tests.acceptance.conftest import ROOT, wait_for, worker_env

pytestmark = [pytest.mark.acceptance, pytest.mark.postgres]

EVENTS = 1000
SENDERS = 8
WORKERS = 2
LEASE = "2"  # seconds: a job claimed when the database went away is recovered quickly
RESTARTS = ((250, "fast"), (600, "immediate"))  # (accepted deliveries before it, shutdown mode)
DOWNTIME = 1.5  # seconds between stop and start, as during a real restart
DB_NAME = "automate_restart"

SETUP = """
import json, os
from django_automate.models import RuleSpec, WebhookEndpoint
from django_automate.workflows.publishing import create_workflow
WebhookEndpoint.objects.create(slug="orders", event_type="order.created", scheme="none", rate_limit_per_minute=None)
steps = [{
    "id": "call", "connector": "http", "action": "request",
    "with": {"method": "POST", "url": os.environ["RESTART_SINK_URL"], "json": {"n": "{{ event.payload.n }}"}},
    "retry": {"max_attempts": 20, "initial_seconds": 0.1, "max_seconds": 1},
}]
RuleSpec.objects.create(name="rule", event_type="order.*", workflow=create_workflow(
    slug="wf", name="Workflow", definition={"steps": steps}))
"""


@pytest.fixture
def cluster() -> Iterator[private_postgres.PrivateCluster]:
    if connection.vendor != "postgresql":
        pytest.skip("restarts a private PostgreSQL cluster: runs with AUTOMATE_TEST_DB=postgres")
    problem = private_postgres.missing()
    if problem:
        if os.environ.get("AUTOMATE_REQUIRE_DATABASES") == "1":
            pytest.fail(f"{problem} (AUTOMATE_REQUIRE_DATABASES=1)")
        pytest.skip(f"SKIPPED: {problem} (set AUTOMATE_REQUIRE_DATABASES=1 to fail instead)")
    server = private_postgres.PrivateCluster()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@dataclass
class Load:
    """Deliveries sent by several threads, each retried until a 2xx answer, like a webhook sender."""

    url: tuple[str, int]
    accepted: dict[int, str] = field(default_factory=dict)  # delivery -> event_id
    answers: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: list[int] = field(default_factory=lambda: list(range(EVENTS)))

    def send_all(self, deadline: float) -> None:
        while True:
            with self.lock:
                if not self.pending:
                    return
                n = self.pending.pop(0)
            self.deliver(n, deadline)

    def deliver(self, n: int, deadline: float) -> None:
        body = json.dumps({"n": n}).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": f"delivery-{n}", "Connection": "close"}
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection(*self.url, timeout=30)
            try:
                conn.request("POST", "/automate/hooks/orders/", body, headers)
                response = conn.getresponse()
                status, payload, retry_after = response.status, response.read(), response.getheader("Retry-After")
            except OSError:
                self.count("connection_error")
                time.sleep(0.5)
                continue
            finally:
                conn.close()
            if 200 <= status < 300:
                with self.lock:
                    self.accepted[n] = json.loads(payload)["event_id"]
                    self.answers[str(status)] += 1
                return
            try:
                code = json.loads(payload).get("code", "")
            except (ValueError, AttributeError):
                code = "not a NormalizedError"
            self.count(f"{status} {code}")
            time.sleep(min(float(retry_after or 1), 5.0))

    def count(self, answer: str) -> None:
        with self.lock:
            self.answers[answer] += 1

    def accepted_count(self) -> int:
        with self.lock:
            return len(self.accepted)


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "django", *args], cwd=ROOT, env=env, stdout=out, stderr=out)


def query(port: int, sql: str) -> list[tuple[Any, ...]]:
    import psycopg  # the postgres extra: absent from the SQLite session

    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=DB_NAME, connect_timeout=5) as conn:
        return conn.execute(sql).fetchall()


def test_two_database_restarts_during_a_webhook_load_lose_no_accepted_event(cluster, http_sink, tmp_path):
    import psycopg

    started = time.monotonic()
    with psycopg.connect(host="127.0.0.1", port=cluster.port, user="postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {DB_NAME}")
    env = worker_env(
        AUTOMATE_TEST_DB="postgres",
        AUTOMATE_TEST_DB_NAME=DB_NAME,
        PGHOST="127.0.0.1",
        PGPORT=str(cluster.port),
        PGUSER="postgres",
        AUTOMATE_TEST_LEASE_SECONDS=LEASE,
        RESTART_SINK_URL=http_sink.url,
    )
    subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "-m", "django", "shell", "-c", SETUP], cwd=ROOT, env=env, check=True)

    port = private_postgres.free_port()
    server_args = ["runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"]
    processes = [start_process(server_args, env, tmp_path / "server.log")]
    workers = [start_process(["automate", "worker"], env, tmp_path / f"worker-{i}.log") for i in range(WORKERS)]
    processes += workers

    def logs() -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in tmp_path.glob("*.log"))

    try:
        wait_for(lambda: _answers(port), 60, "the server to answer")
        load = Load(url=("127.0.0.1", port))
        load_started = time.monotonic()
        deadline = time.monotonic() + 120
        senders = [threading.Thread(target=load.send_all, args=(deadline,), daemon=True) for _ in range(SENDERS)]
        for sender in senders:
            sender.start()
        restarts: list[tuple[int, str]] = []
        for threshold, mode in RESTARTS:
            wait_for(lambda t=threshold: load.accepted_count() >= t, 90, f"{threshold} accepted deliveries")
            restarts.append((load.accepted_count(), mode))
            cluster.restart(mode, downtime=DOWNTIME)
        for sender in senders:
            sender.join()
        load_seconds = time.monotonic() - load_started

        def all_done() -> bool:
            (open_jobs,) = query(cluster.port, "SELECT count(*) FROM automate_outboxjob WHERE status <> 'done'")
            return open_jobs[0] == 0

        wait_for(all_done, 90, f"every job to finish\n{logs()}")
        assert all(w.poll() is None for w in workers), logs()  # the restarts did not stop a worker
        # Each worker LISTENs again (its LISTEN connection's last statement), not polling for good.
        wait_for(lambda: _listening(cluster.port) == WORKERS, 30, f"both workers to LISTEN again\n{logs()}")
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(30) == 0, logs()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)

    accepted = len(load.accepted)
    events = dict(query(cluster.port, "SELECT id::text, type FROM automate_event"))
    runs = query(cluster.port, "SELECT event_id::text, id::text, status FROM automate_executionrun")
    jobs = Counter(status for (status,) in query(cluster.port, "SELECT status FROM automate_outboxjob"))
    keys = http_sink.keys()
    unavailable = sum(count for answer, count in load.answers.items() if answer.startswith("503"))
    worker_logs = [(tmp_path / f"worker-{i}.log").read_text() for i in range(WORKERS)]
    worker_outages = [log.count("Database unavailable") for log in worker_logs]
    recovered = sum(log.count("with expired leases") for log in worker_logs)
    print(
        f"\n{accepted} accepted of {EVENTS} deliveries, answers {dict(load.answers)}, {unavailable} answered 503; "
        f"{len(restarts)} restarts at {restarts} accepted; worker outages seen {worker_outages}; "
        f"{recovered} lease recoveries; "
        f"{sum(keys.values())} requests for {len(keys)} keys at the sink; jobs {dict(jobs)}; "
        f"load {load_seconds:.1f}s, total {time.monotonic() - started:.1f}s"
    )

    assert accepted == EVENTS, load.answers  # every sender got its delivery accepted in the end
    assert set(load.accepted.values()) <= set(events)  # no accepted event was lost
    assert len(events) == EVENTS  # and a retried delivery was stored once
    assert unavailable > 0 and all(not a.startswith("500") for a in load.answers), load.answers
    assert len(restarts) == 2 and all(at < EVENTS for at, _ in restarts)  # both happened during the load
    assert all(seen > 0 for seen in worker_outages)  # each worker lived through the outages
    assert Counter(event_id for event_id, _, _ in runs) == Counter(dict.fromkeys(events, 1))  # one run per event
    assert {status for _, _, status in runs} == {"succeeded"}
    assert set(keys) == {f"{run_id}:call" for _, run_id, _ in runs}  # each side effect under its one key
    assert set(jobs) == {"done"}  # nothing left claimed, ready or dead-lettered


def _listening(port: int) -> int:
    sql = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND datname = current_database()"
    return int(query(port, sql)[0][0])


def _answers(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/automate/hooks/orders/")
        return conn.getresponse().status == 405
    except OSError:
        return False
    finally:
        conn.close()
