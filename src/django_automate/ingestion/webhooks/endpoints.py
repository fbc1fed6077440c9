"""Enabled webhook endpoints by slug, kept in memory for ``WEBHOOK_ENDPOINT_CACHE_SECONDS``.

Every delivery needs its endpoint; reading it through the ORM costs about as much as the
rest of the view. Each process therefore keeps the enabled endpoints it has served for a
short time (one second by default; ``0`` reads the database on every delivery). Saving or
deleting an endpoint through the ORM (the admin, the API, ``save()``) forgets it in that
process at once; other processes, and ``QuerySet.update()``, take effect when the entry
expires. Unknown and disabled slugs are never cached.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db.models.signals import post_delete, post_save

from django_automate import conf
from django_automate.models import WebhookEndpoint

#: Entries kept at most; past it the cache starts again empty (a process serves few endpoints).
MAX_ENTRIES = 1024

_entries: dict[tuple[str, str], tuple[float, WebhookEndpoint]] = {}
_lock = threading.Lock()


def enabled_endpoint(slug: str, *, using: str) -> WebhookEndpoint | None:
    """The enabled endpoint called ``slug``, or ``None``; from memory while the entry is fresh."""
    ttl = conf.webhook_endpoint_cache_seconds()
    key = (using, slug)
    now = time.monotonic()
    if ttl > 0:
        entry = _entries.get(key)
        if entry is not None and now - entry[0] < ttl:
            return entry[1]
    endpoint = WebhookEndpoint.objects.using(using).filter(slug=slug, enabled=True).first()
    if ttl > 0:
        with _lock:
            if endpoint is None:
                _entries.pop(key, None)
            else:
                if len(_entries) >= MAX_ENTRIES:
                    _entries.clear()
                _entries[key] = (now, endpoint)
    return endpoint


def forget_all() -> None:
    """Drop every cached endpoint of this process."""
    with _lock:
        _entries.clear()


def _forget(sender: Any, instance: WebhookEndpoint, **kwargs: Any) -> None:
    # By primary key (the slug may have changed) and by slug (a new endpoint may take over a
    # slug whose old row went away unseen, e.g. rolled back at the end of a test).
    with _lock:
        stale = [key for key, (_, cached) in _entries.items() if cached.pk == instance.pk or key[1] == instance.slug]
        for key in stale:
            del _entries[key]


post_save.connect(_forget, sender=WebhookEndpoint, dispatch_uid="automate_webhook_endpoint_saved")
post_delete.connect(_forget, sender=WebhookEndpoint, dispatch_uid="automate_webhook_endpoint_deleted")
