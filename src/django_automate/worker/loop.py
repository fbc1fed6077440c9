"""The worker: claim, process, repeat; recover expired leases; stop gracefully on SIGTERM."""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import random
import signal
import socket
import threading
import time
import uuid
from types import FrameType

from django.db import DatabaseError, IntegrityError, InterfaceError
from django.utils import timezone

from django_automate import conf
from django_automate.internal.outage import close_quietly, is_lock_conflict
from django_automate.models import WorkerHeartbeat
from django_automate.outbox.claim import claim, next_due, recover_expired
from django_automate.runs.deadline import stop_runner
from django_automate.runs.routing import RUN_QUEUE, Handoff
from django_automate.tracing.logging import log_extra
from django_automate.worker.handlers import process, route_together
from django_automate.worker.heartbeat import LeaseHeartbeat
from django_automate.worker.wakeup import Waiter

logger = logging.getLogger(__name__)

# Django's InterfaceError is not a DatabaseError (PEP 249); both mean "the connection is gone".
DATABASE_ERRORS = (DatabaseError, InterfaceError)


def new_worker_id() -> str:
    """Unique per process start, so a restarted worker never inherits an old worker's claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class Worker:
    """Processes outbox jobs until stopped (or, with ``once``, until none is ready)."""

    def __init__(
        self,
        *,
        queues: list[str] | None = None,
        concurrency: int = 1,
        once: bool = False,
        using: str = "default",
        install_signal_handlers: bool = True,
    ) -> None:
        self.queues = queues or ["default"]
        self.concurrency = max(1, concurrency)
        self.once = once
        self.using = using
        self.id = new_worker_id()
        self.stopping = threading.Event()
        self.install_signal_handlers = install_signal_handlers
        self.processed = 0
        self._lock = threading.Lock()
        self._last_recovery = 0.0
        # The last next_due() read, and when (monotonic); shared by the loop threads of this worker.
        self._due: dt.datetime | None = None
        self._due_read_at = -math.inf

    def stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Finish the current job, claim nothing more."""
        if not self.stopping.is_set():
            logger.info("Worker %s stopping", self.id, extra=log_extra("worker_stopping", worker_id=self.id))
        self.stopping.set()

    def run(self) -> int:
        if self.install_signal_handlers and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        if not self._register_when_reachable():
            return self.processed
        logger.info(
            "Worker %s started on %s",
            self.id,
            ",".join(self.queues),
            extra=log_extra("worker_start", worker_id=self.id),
        )
        threads = [
            threading.Thread(target=self._loop, name=f"automate-worker-{n}", daemon=True)
            for n in range(self.concurrency - 1)
        ]
        for thread in threads:
            thread.start()
        try:
            self._loop()
        finally:
            self.stopping.set()
            for thread in threads:
                thread.join()
            self._unregister()
        logger.info("Worker %s stopped after %s jobs", self.id, self.processed, extra=log_extra("worker_stop"))
        return self.processed

    def _loop(self) -> None:
        waiter = Waiter(using=self.using)
        beats = LeaseHeartbeat(using=self.using, worker_id=self.id)
        failures = 0
        try:
            while not self.stopping.is_set():
                try:
                    if not self._iterate(waiter, beats):
                        return
                    failures = 0
                except DATABASE_ERRORS as exc:
                    if is_lock_conflict(exc):
                        # A deadlock victim or lock timeout: rolled back whole, nothing to recover from.
                        logger.debug("Lock conflict; trying again", extra=log_extra("lock_conflict", worker_id=self.id))
                        self.stopping.wait(random.uniform(0, 0.05))
                        continue
                    # The database went away (restart, failover, network): drop the connection and back off.
                    # A job claimed before that keeps its lease until it expires; then any worker recovers it.
                    failures += 1
                    self._back_off(exc, failures)
        finally:
            waiter.close()
            beats.close()
            stop_runner()
            if threading.current_thread() is not threading.main_thread():
                close_quietly(self.using)

    def _iterate(self, waiter: Waiter, beats: LeaseHeartbeat) -> bool:
        """Claim and process one job, or wait; ``False`` ends the loop (``once`` with nothing left)."""
        self._maybe_recover()
        # The routing jobs waiting behind a routing job come with it, to be routed in one transaction.
        jobs = claim(
            worker_id=self.id,
            queues=self.queues,
            routing_batch=conf.worker_batch_size(),
            with_runs=True,
            using=self.using,
        )
        if not jobs:
            if self.once:
                return False
            waiter.wait(self._idle_wait(waiter), self.stopping)
            return True
        job = jobs[0]
        logger.debug("Claimed job %s", job.id, extra=log_extra("claim_job", job_id=job.id, trace_id=job.trace_id))
        handoff: Handoff | None = Handoff(self.id) if RUN_QUEUE in self.queues else None
        if len(jobs) > 1:
            with beats.holding(job):
                left = route_together(jobs, using=self.using, handoff=handoff)
            self._count(len(jobs) - len(left))
            jobs = left
        for each in jobs:
            # A run handed off already is executed below; later routings queue theirs.
            handed = handoff if handoff is None or handoff.job is None else None
            with beats.holding(each):
                process(each, using=self.using, stopping=self.stopping, handoff=handed, run=each.run)
            self._count()
        if handoff is not None and handoff.job is not None:
            # Routing gave this worker the run it created: execute it now, no claim needed.
            with beats.holding(handoff.job):
                process(handoff.job, using=self.using, stopping=self.stopping, run=handoff.run)
            self._count()
        return True

    def _count(self, jobs: int = 1) -> None:
        with self._lock:
            self.processed += jobs

    def _idle_wait(self, waiter: Waiter) -> float:
        """How long to wait after finding nothing to claim.

        Polling: ``POLL_INTERVAL_SECONDS``. While ``LISTEN`` is up, NOTIFY wakes the worker for
        every new job, so it only has to wake for what no one notifies: a job that becomes due
        later (retries, delayed jobs) or a lease that expires; until the earliest of them, at most
        ``LISTEN_POLL_SECONDS``. An idle worker then costs a fraction of a query per second.
        """
        if not waiter.listening:
            return conf.poll_interval()
        longest = max(conf.listen_poll_seconds(), conf.poll_interval())
        now = time.monotonic()
        if waiter.woken_by_ready and now - self._due_read_at < longest:
            # Woken for a job that another worker claimed first: nothing became due later since
            # the last look (that is notified as LATER_PAYLOAD), so the idle workers a NOTIFY wakes
            # do not all read next_due() again. That job's lease, not in the cached value, expires
            # within LEASE_SECONDS: the wait ends by then, so a crashed claimant's job is recovered on time.
            due, limit = self._due, min(longest - (now - self._due_read_at), conf.lease_seconds())
        else:
            due, limit = next_due(queues=self.queues, using=self.using), longest
            self._due, self._due_read_at = due, now
        if due is None:
            return limit
        seconds = (due - timezone.now()).total_seconds()
        # Already due but not claimed (locked by a claim in flight, lease recovery not yet run): poll.
        return conf.poll_interval() if seconds <= 0 else min(seconds, limit)

    def _maybe_recover(self) -> None:
        """Every worker recovers expired leases now and then: no separate reaper to run."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_recovery < conf.lease_seconds() / 4:
                return
            self._last_recovery = now
        recovered = recover_expired(using=self.using)
        if recovered:
            logger.warning("Recovered %s jobs with expired leases", recovered, extra=log_extra("recover_leases"))
        WorkerHeartbeat.objects.using(self.using).filter(id=self.id).update(last_seen_at=timezone.now())

    def _register_when_reachable(self) -> bool:
        """Register, waiting with a backoff while the database is unreachable; ``False`` if stopped first."""
        failures = 0
        while not self.stopping.is_set():
            try:
                self._register()
                return True
            except IntegrityError:
                return True  # an earlier attempt committed but its answer was lost: registered
            except DATABASE_ERRORS as exc:
                failures += 1
                self._back_off(exc, failures, when=" at start")
        return False

    def _back_off(self, exc: BaseException, failures: int, when: str = "") -> None:
        """The database is unreachable: drop the connection, wait 0.4 s doubling to 5 s (or until stopped)."""
        delay = min(0.2 * 2**failures, 5.0)
        logger.warning(
            "Database unavailable%s (%s); retrying in %.1fs",
            when,
            type(exc).__name__,
            delay,
            extra=log_extra("database_unavailable", worker_id=self.id),
        )
        close_quietly(self.using)
        self.stopping.wait(delay)

    def _register(self) -> None:
        now = timezone.now()
        WorkerHeartbeat.objects.using(self.using).create(
            id=self.id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            queues=self.queues,
            started_at=now,
            last_seen_at=now,
        )

    def _unregister(self) -> None:
        try:
            WorkerHeartbeat.objects.using(self.using).filter(id=self.id).update(stopped_at=timezone.now())
        except DATABASE_ERRORS:
            logger.warning("Could not record the worker's stop", extra=log_extra("worker_unregister_failed"))
