"""Start real worker processes against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def worker_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "AUTOMATE_TEST_DB": os.environ.get("AUTOMATE_TEST_DB", "sqlite"),
        "AUTOMATE_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        "PYTHONFAULTHANDLER": "1",  # a fatal signal writes every thread's stack to the worker's log
        **extra,
    }


class WorkerProcess(subprocess.Popen[bytes]):
    """A worker subprocess whose output goes to a file (a pipe could fill up and block it)."""

    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def exit_after_sigterm(self, timeout: float = 30) -> int | str:
        """The exit status once SIGTERM (sent already) ends the worker; where it took longer, its log.

        A worker still running after ``timeout`` gets SIGABRT, so its log ends with every
        thread's stack (``PYTHONFAULTHANDLER``): where it was stuck.
        """
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.send_signal(signal.SIGABRT)
            self.wait(10)
            return f"still running {timeout} s after SIGTERM:\n{self.output()[-8000:]}"


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(*args: str, **env: str) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        with log_path.open("wb") as log:
            process = WorkerProcess(
                [sys.executable, "-m", "django", "automate", "worker", *args],
                cwd=ROOT,
                env=worker_env(**env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process.log_path = log_path
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def wait_for(predicate: Callable[[], bool], timeout: float, message: str, *workers: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    logs = "\n".join(w.output()[-3000:] for w in workers)
    raise AssertionError(f"Timed out after {timeout}s waiting for: {message}\n{logs}")


def wait_ready(*workers: WorkerProcess, timeout: float = 60) -> None:
    """Wait until each worker has registered (its signal handlers are installed by then)."""
    from django_automate.models import WorkerHeartbeat

    for worker in workers:
        wait_for(
            lambda w=worker: WorkerHeartbeat.objects.filter(pid=w.pid, stopped_at__isnull=True).exists(),
            timeout,
            f"worker {worker.pid} to start",
            worker,
        )
