"""Keeping a claimed job's lease alive while it is being processed."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from types import TracebackType

from django.db import DatabaseError, InterfaceError
from django.utils import timezone

from django_automate import conf
from django_automate.internal.outage import close_quietly
from django_automate.models import WorkerHeartbeat
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob


class LeaseKeeper:
    """Context manager: a daemon thread extends the lease every ``HEARTBEAT_SECONDS``.

    If a heartbeat finds the lease gone, ``lost`` is set; the fenced writes of the job
    then fail with LeaseLost on their own. With ``worker_id``, each beat also refreshes that
    worker's ``WorkerHeartbeat.last_seen_at``, so a worker busy with a long step stays "alive"
    for the health check.
    """

    def __init__(self, job: ClaimedJob, *, using: str = "default", worker_id: str | None = None) -> None:
        self.job = job
        self.using = using
        self.worker_id = worker_id
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"automate-lease-{job.id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(conf.heartbeat_seconds()):
                try:
                    held = lease.heartbeat(self.job, using=self.using)
                    if held and self.worker_id is not None:
                        WorkerHeartbeat.objects.using(self.using).filter(id=self.worker_id).update(
                            last_seen_at=timezone.now()
                        )
                except (DatabaseError, InterfaceError):
                    # Unreachable for now (server restarting): try again next beat, while the lease may still be ours.
                    close_quietly(self.using)
                    continue
                if not held:
                    self.lost.set()
                    return
        finally:
            close_quietly(self.using)


class LeaseHeartbeat:
    """One long-lived thread per worker thread that extends the lease of whichever job it holds.

    The same beats as :class:`LeaseKeeper` (every ``HEARTBEAT_SECONDS`` of one job, the
    worker's ``WorkerHeartbeat`` row refreshed with each), without starting and joining a
    thread for every job. The thread's database connection is closed whenever it goes idle.
    """

    def __init__(self, *, using: str = "default", worker_id: str | None = None) -> None:
        self.using = using
        self.worker_id = worker_id
        self._changed = threading.Condition()
        self._job: ClaimedJob | None = None
        self._due = 0.0
        self._closed = False
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def holding(self, job: ClaimedJob) -> Iterator[None]:
        """Keep ``job``'s lease alive while the block runs."""
        with self._changed:
            self._job = job
            self._due = time.monotonic() + conf.heartbeat_seconds()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="automate-lease", daemon=True)
                self._thread.start()
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._job = None

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        connected = False
        try:
            while True:
                with self._changed:
                    while not self._closed and (self._job is None or time.monotonic() < self._due):
                        if self._job is None and connected:
                            break  # idle: close the connection first (outside the lock)
                        self._changed.wait(None if self._job is None else self._due - time.monotonic())
                    if self._closed:
                        return
                    job = self._job
                    if job is not None:
                        self._due = time.monotonic() + conf.heartbeat_seconds()
                if job is None:
                    close_quietly(self.using)
                    connected = False
                    continue
                self._beat(job)
                connected = True
        finally:
            close_quietly(self.using)

    def _beat(self, job: ClaimedJob) -> None:
        try:
            if lease.heartbeat(job, using=self.using) and self.worker_id is not None:
                WorkerHeartbeat.objects.using(self.using).filter(id=self.worker_id).update(last_seen_at=timezone.now())
        except (DatabaseError, InterfaceError):
            # Unreachable for now (server restarting): try again next beat, while the lease may still be ours.
            close_quietly(self.using)
