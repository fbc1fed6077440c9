"""Handing committed jobs to an execution backend other than the database's own workers.

The outbox stores jobs; it does not know who runs them. The app registers the hand-off once
at startup (``AutomateConfig.ready`` registers ``worker.backends.dispatch``), so imports point
down: the worker knows the outbox, the outbox never imports the worker.
"""

from __future__ import annotations

import logging
from typing import Protocol

from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def __call__(self, job_id: int, *, backend: str, using: str = "default") -> None: ...


_dispatcher: Dispatcher | None = None


def register(dispatcher: Dispatcher) -> None:
    """Set the function that hands each committed job to ``AUTOMATE["EXECUTION_BACKEND"]``."""
    global _dispatcher
    _dispatcher = dispatcher


def after_commit(job_id: int, *, backend: str, using: str = "default") -> None:
    """Hand ``job_id`` over; without a registered dispatcher it waits for a database worker."""
    if _dispatcher is None:
        logger.error(
            "No dispatcher for backend %r; job %s waits for a worker", backend, job_id, extra=log_extra("no_dispatcher")
        )
        return
    _dispatcher(job_id, backend=backend, using=using)
