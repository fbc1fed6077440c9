"""Real scheduler processes: three of them over many 1-second ticks produce exactly one event per tick.

The run lasts ``AUTOMATE_SCHEDULER_SOAK_SECONDS`` (default 20 s, about 20 ticks, to keep the
suite fast); set it to 300 for the five-minute run.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from django_automate.models import Event, Schedule
from tests.acceptance.conftest import ROOT, worker_env

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]

SOAK_SECONDS = float(os.environ.get("AUTOMATE_SCHEDULER_SOAK_SECONDS", "20"))
PROCESSES = 3


@pytest.fixture
def start_scheduler(tmp_path: Path) -> Iterator[Callable[[], tuple[subprocess.Popen[bytes], Path]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> tuple[subprocess.Popen[bytes], Path]:
        log_path = tmp_path / f"scheduler-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "django", "automate", "scheduler", "--poll", "0.2"],
                cwd=ROOT,
                env=worker_env(AUTOMATE_LOG_LEVEL="INFO"),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process, log_path

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def wait_for_text(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{path.name} never said {text!r}:\n{path.read_text(errors='replace')[-3000:]}")


def test_three_schedulers_emit_exactly_one_event_per_tick(start_scheduler):
    Schedule.objects.create(name="heartbeat", interval_seconds=1, payload={"check": "alive"})
    schedulers = [start_scheduler() for _ in range(PROCESSES)]
    for _, log in schedulers:
        wait_for_text(log, "Scheduler started", 60)
    started = dt.datetime.now(dt.timezone.utc)
    time.sleep(SOAK_SECONDS)
    stopped = dt.datetime.now(dt.timezone.utc)
    for process, _ in schedulers:
        process.send_signal(signal.SIGTERM)
    outputs = []
    for process, log in schedulers:
        assert process.wait(30) == 0, log.read_text(errors="replace")[-3000:]
        outputs.append(log.read_text(errors="replace"))

    events = list(Event.objects.filter(type="schedule.heartbeat"))
    ticks = sorted(dt.datetime.fromisoformat(e.payload["schedule"]["tick"]) for e in events)
    assert len(ticks) == len(set(ticks)) == len({e.idempotency_key for e in events})
    assert {b - a for a, b in itertools.pairwise(ticks)} == {dt.timedelta(seconds=1)}  # no tick missing or doubled
    assert ticks[0] <= started + dt.timedelta(seconds=2)
    assert ticks[-1] >= stopped - dt.timedelta(seconds=2)
    assert {e.payload["schedule"]["missed_ticks"] for e in events} == {0}
    emitted = [int(m) for text in outputs for m in re.findall(r"scheduler emitted (\d+) events", text)]
    assert len(emitted) == PROCESSES and sum(emitted) == len(events)  # no process emitted a tick another had
