"""Runs held back by flow control (SPEC §14): waiting for a concurrency slot or a rate limit's token.

Neither is a run status: the run stays ``pending`` (no slot yet) or ``running`` (a step waits for
a token), and the job that will go on carries the reason in ``last_error`` while it waits
(``concurrency_limited`` or ``rate_limited``, with the key as operators may see it: rendered from
redacted data). What the admin and the API show is read from those ready jobs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from django_automate.models import ExecutionRun, JobStatus, OutboxJob
from django_automate.runs.concurrency import CONCURRENCY_LIMITED
from django_automate.runs.rate_limits import RATE_LIMITED

#: ``last_error["code"]`` → the reason's name in the API and the admin.
REASONS = {CONCURRENCY_LIMITED: "concurrency", RATE_LIMITED: "rate_limit"}
_PREFETCHED = "held_back_jobs"


@dataclass(frozen=True)
class Throttled:
    """Why a run waits, on which key, for which step ("" for the run's start), and its next try."""

    reason: str
    key: str
    step_id: str
    until: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "key": self.key, "step": self.step_id, "until": self.until}


def held_back_jobs(reason: str | None = None) -> QuerySet[OutboxJob]:
    """The ready jobs waiting for a slot or a token (of one ``reason``: ``concurrency`` or ``rate_limit``)."""
    codes = [code for code, name in REASONS.items() if reason in (None, name)]
    return OutboxJob.objects.filter(status=JobStatus.READY, last_error__code__in=codes)


def filter_runs(runs: QuerySet[ExecutionRun], reason: str | None = None) -> QuerySet[ExecutionRun]:
    """``runs`` held back now (by ``reason`` when given)."""
    return runs.filter(Q(pk__in=held_back_jobs(reason).values("run_id")))


def with_held_back(runs: QuerySet[ExecutionRun]) -> QuerySet[ExecutionRun]:
    """``runs`` with their held-back jobs prefetched (one query per page), for :func:`of`."""
    return runs.prefetch_related(Prefetch("jobs", queryset=held_back_jobs().order_by("id"), to_attr=_PREFETCHED))


def of(run: ExecutionRun) -> Throttled | None:
    """What holds ``run`` back now, or None (reads the prefetch of :func:`with_held_back` when present)."""
    jobs = getattr(run, _PREFETCHED, None)
    if jobs is None:
        jobs = list(held_back_jobs().filter(run_id=run.pk).order_by("id")[:1])
    if not jobs:
        return None
    job = jobs[0]
    error = job.last_error or {}
    details = error.get("details") or {}
    step_id = str(details.get("step") or job.step_id)
    return Throttled(REASONS[error["code"]], str(details.get("key", "")), step_id, job.available_at)
