"""Per-endpoint rate limit: a fixed one-minute window counted in a Django cache.

The counter lives in the cache named by ``AUTOMATE["WEBHOOK_RATE_LIMIT_CACHE"]``; with
several server processes it must be a shared cache (Redis, Memcached or the database
cache), otherwise each process counts on its own. Only authenticated deliveries count, so a
flood of forged requests cannot use up a sender's allowance; once the window is full,
further requests are turned away before their body is read.
"""

from __future__ import annotations

import logging
import math

from django.core.cache import caches

from django_automate import conf, exceptions
from django_automate.models import WebhookEndpoint
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


def reject_if_exhausted(endpoint: WebhookEndpoint, now: float) -> None:
    """Raise ``Throttled`` when this window's allowance is already used up (cheap, reads nothing)."""
    limit = endpoint.rate_limit_per_minute
    if limit is None:
        return
    used = _read(_key(endpoint, now))
    if used is not None and used >= limit:
        raise _throttled(limit, now)


def consume(endpoint: WebhookEndpoint, now: float) -> None:
    """Count one authenticated delivery; raise ``Throttled`` when it is over the allowance."""
    limit = endpoint.rate_limit_per_minute
    if limit is None:
        return
    key = _key(endpoint, now)
    try:
        cache = caches[conf.webhook_rate_limit_cache()]
        cache.add(key, 0, timeout=2 * WINDOW_SECONDS)
        try:
            used = cache.incr(key)
        except ValueError:  # the key expired between add() and incr()
            cache.add(key, 1, timeout=2 * WINDOW_SECONDS)
            used = 1
    except Exception:
        # Ingestion must not stop because the cache is down: the limit is skipped, loudly.
        logger.exception("Rate limit cache unavailable", extra=log_extra("webhook_rate_limit_unavailable"))
        return
    if used > limit:
        raise _throttled(limit, now)


def _read(key: str) -> int | None:
    try:
        value = caches[conf.webhook_rate_limit_cache()].get(key)
    except Exception:
        logger.exception("Rate limit cache unavailable", extra=log_extra("webhook_rate_limit_unavailable"))
        return None
    return value if isinstance(value, int) else None


def _key(endpoint: WebhookEndpoint, now: float) -> str:
    return f"automate:webhook-rate:{endpoint.pk}:{int(now // WINDOW_SECONDS)}"


def _throttled(limit: int, now: float) -> exceptions.Throttled:
    retry_after = max(1, math.ceil(WINDOW_SECONDS - now % WINDOW_SECONDS))
    return exceptions.Throttled(
        f"More than {limit} deliveries per minute for this endpoint; retry in {retry_after} s.",
        retry_after=retry_after,
        details={"limit_per_minute": limit, "retry_after": retry_after},
    )
