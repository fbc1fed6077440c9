"""Workers whose database is unreachable or whose connections are dropped (restart, failover) carry on by themselves.

Dropped connections are PostgreSQL only: the server really terminates the sessions (``pg_terminate_backend``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, connections

import django_automate
from django_automate.models import ExecutionRun, WorkerHeartbeat
from django_automate.outbox.notify import NOTIFY_CHANNEL
from django_automate.worker.loop import Worker
from django_automate.worker.wakeup import RELISTEN_SECONDS, Waiter

pytestmark = [pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("terminates server sessions and uses LISTEN/NOTIFY: runs with AUTOMATE_TEST_DB=postgres")


def test_a_worker_started_while_the_database_is_unreachable_waits_for_it_instead_of_crashing(tmp_path):
    """A worker started during a restart or a failover (or before the database in a deployment)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "AUTOMATE_TEST_DB": os.environ.get("AUTOMATE_TEST_DB", "sqlite"),
        # SQLite cannot open a file in a missing folder; the servers are looked for where nothing listens.
        "AUTOMATE_TEST_DB_NAME": str(tmp_path / "missing" / "db.sqlite3")
        if connection.vendor == "sqlite"
        else str(connection.settings_dict["NAME"]),
        "PGHOST": "127.0.0.1",
        "PGPORT": str(_closed_port()),  # nothing listens there
        "MYSQL_HOST": "127.0.0.1",
        "MYSQL_PORT": str(_closed_port()),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "django", "automate", "--skip-checks", "worker"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=output,
        )
    try:
        deadline = time.monotonic() + 60
        while "Database unavailable at start" not in log.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()[:3000]  # waiting, not crashed
            time.sleep(0.1)
        assert worker.poll() is None, log.read_text()[-3000:]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(10) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    assert "Traceback" not in log.read_text()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def terminate_other_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


def notify_later(delay: float) -> threading.Timer:
    def send() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, 'default')", [NOTIFY_CHANNEL])
        finally:
            connections["default"].close()

    timer = threading.Timer(delay, send)
    timer.start()
    return timer


@pytest.mark.postgres
@pytest.mark.usefixtures("_postgres_only")
def test_the_waiter_listens_again_after_its_connection_is_terminated():
    waiter, stopping = Waiter(), threading.Event()
    try:
        assert terminate_other_sessions() >= 1  # the LISTEN connection among them
        waiter.wait(0.2, stopping)  # finds it broken: polls
        time.sleep(RELISTEN_SECONDS[0])
        timer = notify_later(1.0)
        started = time.monotonic()
        waiter.wait(10, stopping)  # LISTENs again first, so the notification ends the wait early
        timer.join()
        assert time.monotonic() - started < 5
    finally:
        waiter.close()


@pytest.mark.postgres
@pytest.mark.usefixtures("_postgres_only")
def test_a_worker_survives_its_connections_being_dropped_and_carries_on(workflow_factory, rule_factory):
    rule_factory(workflow_factory())
    worker = Worker(install_signal_handlers=False)

    def run() -> None:
        try:
            worker.run()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not WorkerHeartbeat.objects.filter(id=worker.id).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(3):
            terminate_other_sessions()
            time.sleep(0.3)
        django_automate.emit("order.created", {"n": 1})
        deadline = time.monotonic() + 20
        while not ExecutionRun.objects.filter(status="succeeded").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ExecutionRun.objects.filter(status="succeeded").count() == 1
        assert thread.is_alive()
    finally:
        worker.stop()
        thread.join(15)
    assert not thread.is_alive()
