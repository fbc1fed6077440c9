"""Execution backends other than the default database workers."""

from __future__ import annotations

import logging
from typing import Any

from django_automate import conf, exceptions
from django_automate.outbox.claim import claim_by_id
from django_automate.tracing.logging import log_extra
from django_automate.worker.handlers import process
from django_automate.worker.loop import new_worker_id

logger = logging.getLogger(__name__)


def dispatch(job_id: int, *, backend: str, using: str = "default") -> None:
    """Called on commit for each new job when ``EXECUTION_BACKEND`` is not ``"database"``."""
    if backend == "inline":
        run_inline(job_id, using=using)
        return
    if backend == "celery":
        try:
            from django_automate.worker import celery as celery_backend
        except ImportError:
            # The commit happened; raising here would fail the caller after the fact. Check E080 says why.
            logger.error(
                "Celery is not installed; job %s waits for a worker", job_id, extra=log_extra("celery_missing")
            )
            return
        celery_backend.dispatch(job_id, using=using)
        return
    raise exceptions.ImproperlyConfigured(f"Unknown execution backend {backend!r}.")


def run_inline(job_id: int, *, using: str = "default") -> None:
    """Claim and process the job in this process, under the same lease rules as a worker."""
    job = claim_by_id(job_id, worker_id=f"inline:{new_worker_id()}", using=using)
    if job is not None:
        process(job, using=using)


def celery_setting_problems(user: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(id, message, hint)`` for each problem with the Celery settings (system checks E080 to E089)."""
    problems: list[tuple[str, str, str]] = []
    for key in ("CELERY_SWEEP_INTERVAL_SECONDS", "CELERY_SWEEP_AFTER_SECONDS"):
        value = user.get(key, conf.DEFAULTS[key])
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            problems.append(("automate.E082", f"AUTOMATE[{key!r}] must be a positive number.", "See docs/scaling.md."))
    queue = user.get("CELERY_QUEUE")
    if queue is not None and (not isinstance(queue, str) or not queue):
        problems.append(
            ("automate.E083", "AUTOMATE['CELERY_QUEUE'] must be a queue name or None.", "See docs/scaling.md.")
        )
    if user.get("EXECUTION_BACKEND") != "celery":
        return problems
    try:
        from django_automate.worker import celery as celery_backend
    except ImportError as exc:
        problems.append(
            (
                "automate.E080",
                f"AUTOMATE['EXECUTION_BACKEND'] is 'celery' but Celery cannot be imported: {exc}.",
                'pip install "django-automate[celery]"',
            )
        )
        return problems
    try:
        celery_backend.resolve_app(user.get("CELERY_APP"))
    except exceptions.ImproperlyConfigured as exc:
        problems.append(("automate.E081", exc.message, "Name your Celery app, e.g. 'proj.celery.app'."))
    return problems
