"""Execution backends other than the default database workers."""

from __future__ import annotations

from django_automate import exceptions
from django_automate.outbox.claim import claim_by_id
from django_automate.worker.handlers import process
from django_automate.worker.loop import new_worker_id


def dispatch(job_id: int, *, backend: str, using: str = "default") -> None:
    """Called on commit for each new job when ``EXECUTION_BACKEND`` is not ``"database"``."""
    if backend == "inline":
        run_inline(job_id, using=using)
        return
    raise exceptions.ImproperlyConfigured(f"Unknown execution backend {backend!r}.")


def run_inline(job_id: int, *, using: str = "default") -> None:
    """Claim and process the job in this process, under the same lease rules as a worker."""
    job = claim_by_id(job_id, worker_id=f"inline:{new_worker_id()}", using=using)
    if job is not None:
        process(job, using=using)
