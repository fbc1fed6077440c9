"""Keeping a claimed job's lease alive while it is being processed."""

from __future__ import annotations

import threading
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
