"""Step ``rate_limit`` (SPEC §14): token buckets held in the database, shared by every worker and host.

A step with ``"rate_limit": {"key": ..., "per_second": r, "burst": b}`` takes one token from the
bucket of its rendered key (within the run's tenant) before each attempt. A bucket holds at most
``b`` tokens and refills at ``r`` per second. When it is empty the step is not attempted: its job
is rescheduled to when the next token is due (:func:`hold`), holding no worker thread.

Clock: the application's (``timezone.now()`` of the worker taking the token), as for the
``available_at`` the job is rescheduled to. A bucket's time never goes backwards, so a worker
whose clock lags another's refills nothing until it catches up: skewed clocks can delay steps,
never exceed the rate (keep hosts' clocks synchronised, as leases already require).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from django_automate.models import RateLimitBucket
from django_automate.models.flow import KEY_DISPLAY_LENGTH
from django_automate.observability import metrics
from django_automate.policy.redaction import redact
from django_automate.tracing.logging import log_extra
from django_automate.workflows.templating import render_string

logger = logging.getLogger(__name__)

#: ``last_error["code"]`` of a job held back by a step's rate limit.
RATE_LIMITED = "rate_limited"


def burst_of(rate_limit: dict[str, Any]) -> int:
    """The bucket's capacity: ``burst``, by default ``per_second`` rounded up."""
    burst = rate_limit.get("burst")
    return int(burst) if burst is not None else max(1, math.ceil(float(rate_limit["per_second"])))


def take(tenant: str, key: str, per_second: float, burst: int, now: dt.datetime, using: str) -> float | None:
    """Take one token from the bucket of ``key`` in ``tenant``: None if taken, else the seconds until one is due.

    In a short transaction of its own, with the bucket's row locked (``SELECT … FOR UPDATE``;
    on SQLite, which has no row locks, a first write takes the database's write lock instead).
    """
    digest = hashlib.sha256(key.encode()).hexdigest()
    for _ in range(2):
        with transaction.atomic(using=using):
            rows = RateLimitBucket.objects.using(using).filter(tenant=tenant, key_hash=digest)
            if transaction.get_connection(using).vendor == "sqlite":
                rows.update(tokens=F("tokens"))  # BEGIN IMMEDIATE's effect, inside Django's BEGIN
            bucket = rows.select_for_update().first()
            if bucket is not None:
                return _take_from(bucket, per_second, burst, now, using)
        _create(tenant, key, digest, burst, now, using)
    raise RuntimeError("The rate limit bucket could not be created.")  # pragma: no cover


def _take_from(bucket: RateLimitBucket, per_second: float, burst: int, now: dt.datetime, using: str) -> float | None:
    elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
    tokens = min(float(burst), bucket.tokens + elapsed * per_second)
    if tokens < 1:
        return (1 - tokens) / per_second
    RateLimitBucket.objects.using(using).filter(pk=bucket.pk).update(
        tokens=tokens - 1, updated_at=max(now, bucket.updated_at)
    )
    return None


def _create(tenant: str, key: str, digest: str, burst: int, now: dt.datetime, using: str) -> None:
    """A full bucket for a new key (concurrent creators: one wins, the others use its row)."""
    try:
        with transaction.atomic(using=using):
            RateLimitBucket.objects.using(using).create(
                tenant=tenant, key_hash=digest, key=key[:KEY_DISPLAY_LENGTH], tokens=float(burst), updated_at=now
            )
    except IntegrityError:
        pass


@dataclass(frozen=True)
class HeldBack:
    """A step without a token: its job is to be rescheduled to ``until``, with ``error`` as its last error."""

    until: dt.datetime
    error: dict[str, Any]


def hold(tenant: str, step: dict[str, Any], data: dict[str, Any], *, using: str) -> HeldBack | None:
    """Take a token for ``step``'s ``rate_limit`` (if it has one); None when the step may run now."""
    rate_limit = step.get("rate_limit")
    if not isinstance(rate_limit, dict):
        return None
    key = str(render_string(str(rate_limit["key"]), data))
    per_second = float(rate_limit["per_second"])
    now = timezone.now()
    wait = take(tenant, key, per_second, burst_of(rate_limit), now, using)
    if wait is None:
        return None
    metrics.rate_limited(str(step.get("connector", "")), wait)
    shown = str(render_string(str(rate_limit["key"]), redact(data)))[:KEY_DISPLAY_LENGTH]  # for operators
    logger.debug("Step %s held back %.3fs", step.get("id"), wait, extra=log_extra(RATE_LIMITED, key=shown))
    error = {
        "code": RATE_LIMITED,
        "message": f"Held back by the rate limit {shown!r} ({per_second:g}/s).",
        "details": {"key": shown, "step": str(step.get("id", "")), "wait_seconds": round(wait, 3)},
    }
    return HeldBack(now + dt.timedelta(seconds=wait), error)
