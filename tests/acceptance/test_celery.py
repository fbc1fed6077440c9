"""The Celery backend against the real RabbitMQ and Redis servers and a real ``celery worker`` process.

No eager mode: job ids travel through the broker, and a worker started as a subprocess
claims them by id under the usual leases. Skipped where a broker does not answer on
127.0.0.1, unless ``AUTOMATE_REQUIRE_BROKERS=1`` (CI), which turns that into a failure.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings

import django_automate
from django_automate.models import ExecutionRun, JobKind, JobStatus, OutboxJob, StepRun, TaskResult
from tests.acceptance.conftest import ROOT, WorkerProcess, wait_for, worker_env

celery = pytest.importorskip("celery", reason="the celery extra is not installed")
automate_celery = pytest.importorskip("django_automate.worker.celery")

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]

BROKERS = {
    "rabbitmq": ("amqp://guest:guest@127.0.0.1:5672//", 5672),
    "redis": ("redis://127.0.0.1:6379/0", 6379),
}
rabbitmq_app = celery.Celery("automate-tests-rabbitmq", broker=BROKERS["rabbitmq"][0], set_as_current=False)
redis_app = celery.Celery("automate-tests-redis", broker=BROKERS["redis"][0], set_as_current=False)
# Nothing listens on port 1 of this machine: publishing through this app fails at once.
unreachable_app = celery.Celery("automate-tests-unreachable", broker="redis://127.0.0.1:1/0", set_as_current=False)

# The worker: the test settings, switched to the Celery backend, with a quick sweep.
WORKER_SCRIPT = """
import os
import django
from django.conf import settings

django.setup()
settings.AUTOMATE = {
    **settings.AUTOMATE,
    "EXECUTION_BACKEND": "celery",
    "CELERY_QUEUE": os.environ["AUTOMATE_TEST_QUEUE"],
    "CELERY_SWEEP_INTERVAL_SECONDS": 0.3,
    "CELERY_SWEEP_AFTER_SECONDS": 1,
}
from celery import Celery
from django_automate.worker.celery import install

app = install(Celery("automate-tests-worker", broker=os.environ["AUTOMATE_TEST_BROKER"]))
app.worker_main([
    "worker", "--loglevel=INFO", "--pool=prefork", "--concurrency", os.environ["AUTOMATE_TEST_CONCURRENCY"],
    "--without-mingle", "--without-gossip", "--queues", os.environ["AUTOMATE_TEST_QUEUE"],
    "--hostname", "automate-test-" + os.environ["AUTOMATE_TEST_QUEUE"] + "@%h",
])
"""


QUEUES: dict[str, list[str]] = {}  # broker -> queues created by the tests, deleted at the end


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module", params=sorted(BROKERS))
def broker(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test runs once per broker, on a queue of its own that is deleted afterwards."""
    name: str = request.param
    port = BROKERS[name][1]
    if not reachable(port):
        message = f"{name} is not reachable at 127.0.0.1:{port}"
        if os.environ.get("AUTOMATE_REQUIRE_BROKERS") == "1":
            pytest.fail(message)
        pytest.skip(f"SKIPPED: {message} (set AUTOMATE_REQUIRE_BROKERS=1 to fail instead)")
    yield name
    queues = QUEUES.pop(name, [])
    if name == "redis":
        # Kombu keeps a Redis queue in several keys (messages, bindings); the names are unique.
        import redis

        client = redis.Redis.from_url(BROKERS["redis"][0])
        for tag, message in client.hscan_iter("unacked"):  # a killed worker's messages, else restored later
            if any(queue.encode() in message for queue in queues):
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
        for queue in queues:
            for key in client.scan_iter(match=f"*{queue}*"):
                client.delete(key)
        return
    with rabbitmq_app.connection_for_write() as conn:
        for queue in queues:
            conn.default_channel.queue_delete(queue)
            conn.default_channel.exchange_delete(queue)


class CeleryWorker:
    """A ``celery worker`` subprocess (its own process group: prefork children die with it)."""

    def __init__(self, broker: str, log_path: Path, queue: str | None = None, **env: str) -> None:
        self.broker = broker
        self.queue = queue or f"automate-test-{uuid.uuid4().hex[:12]}"
        if queue is None:
            QUEUES.setdefault(broker, []).append(self.queue)
        self.log_path = log_path
        concurrency = "1" if connection.vendor == "sqlite" else "2"
        environment = worker_env(
            AUTOMATE_TEST_BROKER=BROKERS[broker][0],
            AUTOMATE_TEST_QUEUE=self.queue,
            AUTOMATE_TEST_CONCURRENCY=concurrency,
            CELERY_SKIP_CHECKS="1",  # the test settings are checked elsewhere; saves seconds per start
            **env,
        )
        with log_path.open("wb") as log:
            self.process: WorkerProcess = WorkerProcess(
                [sys.executable, "-c", WORKER_SCRIPT],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.process.log_path = log_path
        wait_for(lambda: " ready." in self.output(), 60, "the celery worker to start", self.process)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def settings(self, app: str | None = None) -> dict[str, Any]:
        """``AUTOMATE`` for the test process: publish to this worker's queue through ``app``."""
        return {
            **settings.AUTOMATE,
            "EXECUTION_BACKEND": "celery",
            "CELERY_APP": f"{__name__}.{app or self.broker}_app",
            "CELERY_QUEUE": self.queue,
        }

    def results(self, result: str) -> int:
        """How many tasks returned ``result`` (celery logs each task's return value)."""
        return self.output().count(f": '{result}'")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int:
        """Warm shutdown, as an operator would."""
        os.killpg(self.process.pid, signal.SIGTERM)
        return self.process.wait(30)


class Workers:
    """The Celery workers of one broker's tests; ``current`` is started again if a test stopped it."""

    def __init__(self, broker: str, directory: Path) -> None:
        self.broker = broker
        self.directory = directory
        self.started: list[CeleryWorker] = []

    def start(self, queue: str | None = None) -> CeleryWorker:
        # A short lease, so that a killed worker's job is taken over within seconds.
        log_path = self.directory / f"celery-{len(self.started)}.log"
        worker = CeleryWorker(self.broker, log_path, queue, AUTOMATE_TEST_LEASE_SECONDS="2")
        self.started.append(worker)
        return worker

    @property
    def current(self) -> CeleryWorker:
        if not self.started or self.started[-1].process.poll() is not None:
            return self.start()
        return self.started[-1]


@pytest.fixture(scope="module")
def celery_workers(broker: str, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """Worker processes shared by the tests of one broker (starting one takes seconds)."""
    workers = Workers(broker, tmp_path_factory.mktemp(f"celery-{broker}"))
    yield workers
    for worker in workers.started:
        worker.kill()


def http_workflow(workflow_factory: Any, rule_factory: Any, url: str) -> None:
    steps = [
        {"id": "note", "connector": "log", "action": "write", "with": {"message": "n={{ event.payload.n }}"}},
        {
            "id": "call",
            "connector": "http",
            "action": "request",
            "with": {"method": "POST", "url": url, "json": {"n": "{{ event.payload.n }}"}},
        },
    ]
    rule_factory(workflow_factory(steps=steps))


def test_webhooks_run_once_through_a_real_celery_worker(
    client, broker, celery_workers, endpoint_factory, workflow_factory, rule_factory, http_sink
):
    events = 6
    worker = celery_workers.current
    endpoint_factory()
    http_workflow(workflow_factory, rule_factory, http_sink.url)
    with override_settings(AUTOMATE=worker.settings()):
        for n in range(events):
            response = client.post("/automate/hooks/orders/", {"n": n}, content_type="application/json")
            assert response.status_code == 202

    wait_for(
        lambda: ExecutionRun.objects.filter(status="succeeded").count() == events,
        60,
        f"{events} succeeded runs",
        worker.process,
    )
    keys = http_sink.keys()
    assert len(keys) == events and set(keys.values()) == {1}
    assert StepRun.objects.filter(status="succeeded").count() == 2 * events
    jobs = OutboxJob.objects.all()
    assert jobs.count() == 2 * events
    assert {job.status for job in jobs} == {JobStatus.DONE}
    # Both kinds of job went through the broker to the Celery worker, each claimed once.
    assert all(job.leased_by.startswith("celery:") for job in jobs)
    assert {job.attempts for job in jobs} == {1}


def test_the_same_job_published_again_and_again_is_processed_once(
    broker, celery_workers, workflow_factory, rule_factory, http_sink
):
    worker = celery_workers.current
    duplicates, processed = worker.results("duplicate"), worker.results("processed")
    http_workflow(workflow_factory, rule_factory, http_sink.url)
    app = globals()[f"{broker}_app"]
    with override_settings(AUTOMATE=worker.settings()):
        django_automate.emit("order.created", {"n": 1})
        route_job = OutboxJob.objects.get(kind=JobKind.ROUTE_EVENT)
        for _ in range(3):  # duplicates racing the first message
            automate_celery.publish(route_job.id, app=app)
        wait_for(lambda: ExecutionRun.objects.filter(status="succeeded").exists(), 90, "the run", worker.process)
        run_job = OutboxJob.objects.get(kind=JobKind.EXECUTE_RUN)
        for job_id in (route_job.id, run_job.id):  # redeliveries after the work was done
            automate_celery.publish(job_id, app=app)
    wait_for(
        lambda: worker.results("duplicate") - duplicates == 5, 90, "five duplicate messages dropped", worker.process
    )

    assert ExecutionRun.objects.count() == 1
    assert len(http_sink.requests) == 1
    assert list(OutboxJob.objects.order_by("id").values_list("status", "attempts")) == [
        (JobStatus.DONE, 1),
        (JobStatus.DONE, 1),
    ]
    assert worker.results("processed") - processed == 2


def test_a_message_lost_at_publish_is_recovered_by_the_sweep(
    broker, celery_workers, workflow_factory, rule_factory, http_sink
):
    worker = celery_workers.current
    republished = worker.output().count("Publishing 1 ready jobs again")
    http_workflow(workflow_factory, rule_factory, http_sink.url)
    with override_settings(AUTOMATE=worker.settings(app="unreachable")):
        event = django_automate.emit("order.created", {"n": 1})  # the broker is down: no error for the caller
    job = OutboxJob.objects.get(event=event)  # committed although its message was lost
    # (No check that it is still ready here: the sweep may already have picked it up.)

    wait_for(lambda: ExecutionRun.objects.filter(status="succeeded").exists(), 90, "the sweep", worker.process)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.leased_by.startswith("celery:")
    assert worker.output().count("Publishing 1 ready jobs again") > republished
    assert len(http_sink.requests) == 1


def test_a_killed_celery_worker_loses_nothing_the_next_one_resumes_after_the_lease(
    broker, celery_workers, workflow_factory, rule_factory, http_sink
):
    http_sink.delay_seconds = 1.5
    http_workflow(workflow_factory, rule_factory, http_sink.url)
    victim = celery_workers.current
    with override_settings(AUTOMATE=victim.settings()):
        django_automate.emit("order.created", {"n": 1})
    wait_for(lambda: http_sink.arrivals == 1, 90, "the http step to start", victim.process)
    victim.kill()  # SIGKILL, prefork children included: the message is unacknowledged, the job leased
    http_sink.delay_seconds = 0
    # A redelivered message finds the job still leased and is dropped; once the lease has
    # expired, the new worker's sweep makes the job ready and publishes it again.
    rescuer = celery_workers.start(queue=victim.queue)
    wait_for(lambda: ExecutionRun.objects.filter(status="succeeded").exists(), 90, "the rescue", rescuer.process)

    run = ExecutionRun.objects.get()
    attempts = list(StepRun.objects.filter(step_id="call").order_by("attempt").values_list("status", flat=True))
    assert attempts == ["retrying", "succeeded"]  # the interrupted attempt is closed, then retried
    assert set(http_sink.keys()) == {f"{run.id}:call"}  # under the same idempotency key
    assert StepRun.objects.filter(step_id="note").count() == 1  # the finished step was not run again
    assert OutboxJob.objects.filter(status=JobStatus.DONE).count() == 2
    assert rescuer.stop() == 0, rescuer.output()[-3000:]  # a warm shutdown exits cleanly


def test_concurrency_keys_and_rate_limits_hold_through_celery(
    broker, celery_workers, workflow_factory, rule_factory, http_sink
):
    """Flow control happens where the run's job runs: through the broker it holds as with our workers."""
    runs, keys, rate = 12, 3, 4.0
    http_sink.delay_seconds = 0.1
    call = {
        "id": "call",
        "connector": "http",
        "action": "request",
        "with": {"method": "POST", "url": http_sink.url, "json": {"key": "{{ event.payload.key }}"}},
        "rate_limit": {"key": "sink", "per_second": rate, "burst": 1},
    }
    definition = {"concurrency": {"key": "{{ event.payload.key }}", "limit": 1}, "steps": [call]}
    rule_factory(workflow_factory(definition=definition))
    worker = celery_workers.current
    with override_settings(AUTOMATE=worker.settings()):
        for n in range(runs):
            django_automate.emit("order.created", {"key": f"k{n % keys}"})
    wait_for(lambda: ExecutionRun.objects.filter(status="succeeded").count() == runs, 90, "the runs", worker.process)
    calls = sorted((r["arrived_at"], r["answered_at"], r["body"]) for r in http_sink.requests)
    assert len(calls) == runs
    for key in {body for _, _, body in calls}:
        mine = [(start, end) for start, end, body in calls if body == key]
        assert all(b[0] >= a[1] for a, b in itertools.pairwise(mine)), f"two runs of {key} at once"
    # One token per 1/rate s: the calls spread over (runs - 1) / rate s, and no 1 s window holds more than the
    # rate and the burst (the slack: a token is taken before its request is sent, the first one from a cold
    # worker process later than the others).
    starts = [start for start, _, _ in calls]
    assert starts[-1] - starts[0] >= (runs - 1) / rate - 0.5, starts
    assert max(sum(1 for other in starts if at <= other < at + 1) for at in starts) <= rate + 2, starts
    assert {job.leased_by.split(":")[0] for job in OutboxJob.objects.all()} == {"celery"}


def test_tasks_of_djangos_tasks_framework_run_through_a_real_celery_worker(broker, celery_workers):
    """``task.enqueue()`` with ``EXECUTION_BACKEND = "celery"``: the job goes through the broker, results come back."""
    tasks = pytest.importorskip("tests.testapp.tasks", reason="no django.tasks and no django-tasks backport")
    worker = celery_workers.current
    with override_settings(AUTOMATE=worker.settings()):
        added = [tasks.add.enqueue(n, 1) for n in range(4)]
        email = tasks.send_email.enqueue("a@example.com")  # its queue names the task's, not the broker's
        failed = tasks.fail.enqueue("through the broker")
        with transaction.atomic():
            in_transaction = tasks.with_context.enqueue(x=3)
    every = [*added, email, failed, in_transaction]

    finished = TaskResult.objects.filter(status__in=["SUCCESSFUL", "FAILED"])
    wait_for(lambda: finished.count() == len(every), 60, "the tasks", worker.process)
    for result in every:
        result.refresh()
    assert [result.return_value for result in added] == [1, 2, 3, 4]
    assert email.return_value == {"sent_to": "a@example.com"}
    assert in_transaction.return_value == {"attempt": 1, "id": in_transaction.id, "x": 3}
    assert failed.status.name == "FAILED" and "through the broker" in failed.errors[0].traceback
    assert all(result.attempts == 1 and result.worker_ids[0].startswith("celery:") for result in every)
    assert {job.leased_by.split(":")[0] for job in OutboxJob.objects.all()} == {"celery"}


def test_a_debounced_burst_starts_one_run_through_celery(broker, celery_workers, workflow_factory, rule_factory):
    """The burst's trailing run is started by a delayed job, which the broker's worker runs when it is due."""
    workflow = workflow_factory(steps=[{"id": "note", "connector": "log", "action": "write", "with": {"message": "x"}}])
    rule_factory(workflow, debounce_seconds=1, debounce_key="{{ event.payload.id }}")
    worker = celery_workers.current
    with override_settings(AUTOMATE=worker.settings()):
        events = [django_automate.emit("order.created", {"id": key, "n": n}) for n in range(10) for key in "ab"]
    wait_for(lambda: ExecutionRun.objects.filter(status="succeeded").count() == 2, 60, "two runs", worker.process)
    time.sleep(1.5)  # no third run comes later
    runs = sorted(ExecutionRun.objects.select_related("event"), key=lambda run: run.event.payload["id"])
    assert [run.event_id for run in runs] == [events[-2].id, events[-1].id]  # each key's last event
    assert {job.leased_by.split(":")[0] for job in OutboxJob.objects.all()} == {"celery"}


@pytest.mark.django_db(transaction=False)
def test_system_checks_name_each_celery_setting_problem(monkeypatch):
    from django_automate.checks import check_celery_settings

    def ids(**automate: Any) -> list[str]:
        with override_settings(AUTOMATE={**settings.AUTOMATE, **automate}):
            return [message.id for message in check_celery_settings()]

    assert ids(EXECUTION_BACKEND="celery", CELERY_APP=f"{__name__}.redis_app", CELERY_QUEUE="q") == []
    assert ids(EXECUTION_BACKEND="celery", CELERY_APP="no_such_module.app") == ["automate.E081"]
    assert ids(EXECUTION_BACKEND="celery", CELERY_APP="django_automate.conf") == ["automate.E081"]
    assert ids(CELERY_SWEEP_AFTER_SECONDS=0, CELERY_SWEEP_INTERVAL_SECONDS="10") == ["automate.E082"] * 2
    assert ids(CELERY_QUEUE="") == ["automate.E083"]
    # As if Celery were not installed: importing the backend module fails.
    monkeypatch.setitem(sys.modules, "django_automate.worker.celery", None)
    monkeypatch.delattr(sys.modules["django_automate.worker"], "celery")
    assert ids(EXECUTION_BACKEND="celery") == ["automate.E080"]
    assert ids(EXECUTION_BACKEND="database") == []
