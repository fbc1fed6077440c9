"""The Celery backend: job ids are published after commit, Celery tasks claim them by id.

The database stays the source of truth. A task claims its job with the same conditional
update and lease token as a ``automate worker`` process, so a duplicate or redelivered
message finds the job no longer ready and does nothing. A message that never arrives (broker
down at publish time, process killed between commit and publish, message dropped) is made up
for by the sweep, which every Celery worker runs on a timer once :func:`install` has added it
(or celery beat runs as the ``django_automate.sweep`` task): it recovers expired leases and
publishes again the ready jobs that nobody claimed for ``CELERY_SWEEP_AFTER_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from typing import Any

from celery import Celery, bootsteps, current_app, shared_task  # type: ignore[import-untyped, import-not-found, unused-ignore]
from celery.signals import worker_shutting_down  # type: ignore[import-untyped, import-not-found, unused-ignore]
from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from django_automate import conf, exceptions
from django_automate.tracing.logging import log_extra

# Models and the worker machinery are imported where they are used: a project's Celery module
# imports this one (for install()) while Django settings are still loading.

logger = logging.getLogger(__name__)

PROCESS_TASK = "django_automate.process_job"
SWEEP_TASK = "django_automate.sweep"
# A job given back without a new time (shutdown, unexpected error) is published again after this delay.
RELEASED_DELAY_SECONDS = 1.0
SWEEP_BATCH = 500
# Publishing happens after the user's commit: retry briefly, then leave the job to the sweep.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

_stopping = threading.Event()
_worker: tuple[int, str] | None = None


def get_app() -> Any:
    """The Celery app named by ``AUTOMATE["CELERY_APP"]`` (import string or app), else Celery's current app."""
    return resolve_app(conf.celery_app())


def resolve_app(value: Any) -> Any:
    """An import string or a Celery app, or ``None`` for Celery's current app; ImproperlyConfigured otherwise."""
    if value is None:
        return current_app._get_current_object()
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            raise exceptions.ImproperlyConfigured(
                f"Could not import {value!r} for AUTOMATE['CELERY_APP']: {exc}."
            ) from exc
    if not isinstance(value, Celery):
        raise exceptions.ImproperlyConfigured(f"AUTOMATE['CELERY_APP'] is {value!r}, which is not a Celery app.")
    return value


def worker_id() -> str:
    """New per process (prefork children included), like the ids of ``automate worker`` processes."""
    from django_automate.worker.loop import new_worker_id

    global _worker
    pid = os.getpid()
    if _worker is None or _worker[0] != pid:
        _worker = (pid, f"celery:{new_worker_id()}")
    return _worker[1]


def publish(
    job_id: int,
    *,
    using: str = "default",
    eta: dt.datetime | None = None,
    countdown: float | None = None,
    app: Any = None,
) -> None:
    """Send one job id to Celery; broker errors propagate to the caller."""
    options: dict[str, Any] = {"retry": True, "retry_policy": PUBLISH_RETRY_POLICY}
    queue = conf.celery_queue()
    if queue is not None:
        options["queue"] = queue
    if eta is not None:
        options["eta"] = eta
    if countdown is not None:
        options["countdown"] = countdown
    (app or get_app()).send_task(PROCESS_TASK, args=[job_id], kwargs={"using": using}, **options)


def dispatch(job_id: int, *, using: str = "default") -> None:
    """Called once the job's transaction committed. Never raises: the sweep publishes what this could not."""
    try:
        publish(job_id, using=using)
    except Exception:
        logger.warning(
            "Could not publish job %s to Celery; the sweep will publish it again",
            job_id,
            exc_info=True,
            extra=log_extra("celery_publish_failed", job_id=job_id),
        )


@shared_task(name=PROCESS_TASK, acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator, unused-ignore]
def process_job(job_id: Any, using: Any = "default") -> str:
    """Claim the job by id under a fresh lease and process it; anything else is a harmless duplicate."""
    from django_automate.outbox.claim import claim_by_id
    from django_automate.worker.handlers import process
    from django_automate.worker.heartbeat import LeaseKeeper

    if not isinstance(job_id, int) or isinstance(job_id, bool) or not isinstance(using, str):
        logger.warning("Ignoring malformed job message %r", job_id, extra=log_extra("celery_bad_message"))
        return "rejected"
    if using not in settings.DATABASES:
        logger.warning("Ignoring job %s for unknown database %r", job_id, using, extra=log_extra("celery_bad_message"))
        return "rejected"
    job = claim_by_id(job_id, worker_id=worker_id(), using=using)
    if job is None:
        return _not_claimed(job_id, using)
    logger.debug("Claimed job %s", job.id, extra=log_extra("claim_job", job_id=job.id))
    with LeaseKeeper(job, using=using):
        process(job, using=using, stopping=_stopping)
    _follow_up(job_id, using)
    return "processed"


def _not_claimed(job_id: int, using: str) -> str:
    """Done, held by someone else or unknown: drop the message. Ready but early: publish it for later."""
    from django_automate.models import JobStatus, OutboxJob

    row = OutboxJob.objects.using(using).filter(id=job_id).values_list("status", "available_at").first()
    if row is not None and row[0] == JobStatus.READY and row[1] > timezone.now():
        _republish(job_id, using, eta=row[1])
        return "deferred"
    logger.debug("Job %s is not ready; duplicate message dropped", job_id, extra=log_extra("celery_duplicate"))
    return "duplicate"


def _follow_up(job_id: int, using: str) -> None:
    """A job that is ready again after processing (retry scheduled, or given back) needs a new message."""
    from django_automate.models import JobStatus, OutboxJob

    row = OutboxJob.objects.using(using).filter(id=job_id).values_list("status", "available_at").first()
    if row is None or row[0] != JobStatus.READY:
        return
    if row[1] > timezone.now():
        _republish(job_id, using, eta=row[1])
    else:
        _republish(job_id, using, countdown=RELEASED_DELAY_SECONDS)


def _republish(job_id: int, using: str, **timing: Any) -> None:
    try:
        publish(job_id, using=using, **timing)
    except Exception:
        logger.warning(
            "Could not publish job %s again; the sweep will",
            job_id,
            exc_info=True,
            extra=log_extra("celery_publish_failed", job_id=job_id),
        )


@worker_shutting_down.connect  # type: ignore[untyped-decorator, unused-ignore]
def _on_shutdown(**kwargs: Any) -> None:
    """Warm shutdown: runs in hand stop after their current step and are published again."""
    _stopping.set()


# -- the sweep -----------------------------------------------------------------------------------
def _locked_ids(queryset: Any, using: str, limit: int) -> list[int]:
    if connections[using].features.has_select_for_update_skip_locked:
        queryset = queryset.select_for_update(skip_locked=True)
    return list(queryset.values_list("id", flat=True)[:limit])


def sweep(*, using: str = "default", app: Any = None, older_than: float | None = None, limit: int = SWEEP_BATCH) -> int:
    """Recover expired leases and publish again ready jobs left unclaimed; return how many were published.

    Runs concurrently in every Celery worker: ``SKIP LOCKED`` spreads the jobs between
    sweepers, and a job published twice anyway is still processed once.
    """
    from django_automate.models import JobStatus, OutboxJob

    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=conf.celery_sweep_after() if older_than is None else older_than)
    jobs = OutboxJob.objects.using(using)
    with transaction.atomic(using=using):
        expired = _locked_ids(
            jobs.filter(status=JobStatus.CLAIMED, lease_expires_at__lt=now).order_by("lease_expires_at"), using, limit
        )
        if expired:
            # Same effect as claim.recover_expired(): clearing the token fences the old holder out.
            jobs.filter(id__in=expired, status=JobStatus.CLAIMED, lease_expires_at__lt=now).update(
                status=JobStatus.READY, lease_token=None, leased_by="", lease_expires_at=None, updated_at=now
            )
        stale = _locked_ids(
            jobs.filter(status=JobStatus.READY, available_at__lte=cutoff, updated_at__lte=cutoff).order_by(
                "-priority", "available_at", "id"
            ),
            using,
            limit,
        )
        if stale:
            # Marks them published, so that the next sweep leaves them alone for another period.
            jobs.filter(id__in=stale, status=JobStatus.READY).update(updated_at=now)
    if expired:
        logger.warning("Recovered %s jobs with expired leases", len(expired), extra=log_extra("recover_leases"))
    if stale:
        logger.warning(
            "Publishing %s ready jobs again that no Celery worker claimed", len(stale), extra=log_extra("celery_sweep")
        )
    app = app or get_app()
    for job_id in [*expired, *stale]:
        publish(job_id, using=using, app=app)
    return len(expired) + len(stale)


@shared_task(name=SWEEP_TASK, bind=True, ignore_result=True)  # type: ignore[untyped-decorator, unused-ignore]
def sweep_task(self: Any, using: str = "default") -> int:
    """The sweep as a task, for celery beat (when workers run without :func:`install`)."""
    return sweep(using=using, app=self.app)


class SweepStep(bootsteps.StartStopStep):
    """Worker bootstep: the sweep every ``CELERY_SWEEP_INTERVAL_SECONDS``, and a ``WorkerHeartbeat`` row."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        from django_automate.worker.loop import new_worker_id

        super().__init__(parent, **kwargs)
        self.tref: Any = None
        self.app: Any = parent.app
        self.id = f"celery:{new_worker_id()}"

    def start(self, parent: Any) -> None:
        self._safely(self._register, parent)
        self.tref = parent.timer.call_repeatedly(conf.celery_sweep_interval(), self.tick, priority=10)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        self._safely(self._seen, "stopped_at")

    def tick(self) -> None:
        def once() -> None:
            sweep(app=self.app)
            self._seen("last_seen_at")

        self._safely(once)

    def _seen(self, field: str) -> None:
        from django_automate.models import WorkerHeartbeat

        WorkerHeartbeat.objects.filter(id=self.id).update(**{field: timezone.now()})

    def _register(self, parent: Any) -> None:
        from django_automate.models import WorkerHeartbeat

        now = timezone.now()
        try:
            queues = sorted(parent.app.amqp.queues.consume_from or parent.app.amqp.queues)
        except Exception:
            queues = []
        WorkerHeartbeat.objects.update_or_create(
            id=self.id,
            defaults={
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
                "queues": queues,
                "started_at": now,
                "last_seen_at": now,
            },
        )

    def _safely(self, fn: Any, *args: Any) -> None:
        """The timer must survive a database outage: log, drop the connection, try again next time."""
        try:
            fn(*args)
        except DatabaseError:
            logger.warning("Sweep skipped: database unavailable", exc_info=True, extra=log_extra("celery_sweep"))
            connections["default"].close()
        except Exception:
            logger.exception("Sweep failed", extra=log_extra("celery_sweep"))


def install(app: Any) -> Any:
    """Make ``app``'s workers run django-automate jobs and the sweep; returns ``app``.

    Call it in your Celery module (``install(app)`` after ``app = Celery(...)``). Importing
    this module registers the tasks; the bootstep adds the sweep to every worker.
    """
    if SweepStep not in app.steps["worker"]:
        app.steps["worker"].add(SweepStep)
    return app
