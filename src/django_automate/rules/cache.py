"""Each process keeps one :class:`RuleIndex` per (database, tenant), fresh across processes.

Rules change in other processes (admin, API, another worker), and no signal reaches this one.
So every routing first reads the tenant's *rules generation*: one aggregate over its enabled
rules (count, ``max(updated_at)``, ``sum(version)``). Any save bumps the rule's ``version`` and
``updated_at``; creating, deleting, enabling or disabling a rule changes the count. When the
fingerprint differs from the cached index's, the index is rebuilt: one query for the
(id, version) pairs, one for the rows that are new or changed; unchanged rules keep their
entry and their compiled condition. Saves and deletes in this process also mark the tenant's
index stale at once (``post_save``/``post_delete``), which covers what the fingerprint cannot
tell apart, such as a rule replaced by another at the same instant under a frozen test clock.

Not seen from other processes: ``QuerySet.update()`` of a rule's fields that leaves
``version`` alone. Bump it with ``version=F("version") + 1`` (and set ``updated_at``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from django.db.models import Count, Max, Sum
from django.db.models.signals import post_delete, post_save

from django_automate.models import RuleSpec
from django_automate.rules.index import IndexedRule, RuleIndex
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

#: How many (database, tenant) indexes a process keeps; the least recently used is dropped.
MAX_TENANTS = 256
#: Rows fetched per query when only some rules changed (keeps ``IN (...)`` lists short).
CHUNK = 500
#: Beyond this many chunks of changed rules, one query reads all of them.
MAX_CHUNKS = 4
_FIELDS = ("id", "name", "event_type", "condition", "priority", "version", "workflow_id")

_indexes: OrderedDict[tuple[str, str], RuleIndex] = OrderedDict()
_lock = threading.Lock()


def _enabled(tenant: str, using: str) -> Any:
    return RuleSpec.objects.using(using).filter(tenant=tenant, enabled=True)


def fingerprint(tenant: str, *, using: str = "default") -> Hashable:
    """The tenant's rules generation: one small aggregate query, read on every routing."""
    row = _enabled(tenant, using).aggregate(count=Count("id"), updated=Max("updated_at"), versions=Sum("version"))
    return (row["count"], row["updated"], row["versions"] or 0)


def rule_index(tenant: str, *, using: str = "default") -> RuleIndex:
    """The current index of the tenant's enabled rules, rebuilt only when the fingerprint changed."""
    key = (using, tenant)
    current = fingerprint(tenant, using=using)
    index = _indexes.get(key)
    if index is not None and index.fingerprint == current:
        return index
    with _lock:  # one rebuild at a time; a thread that waited may find it done
        index = _indexes.get(key)
        if index is None or index.fingerprint != current:
            index = _rebuild(tenant, using, current, index)
            _indexes[key] = index
        _indexes.move_to_end(key)
        while len(_indexes) > MAX_TENANTS:
            _indexes.popitem(last=False)
    return index


def clear() -> None:
    """Forget every cached index (routing never needs it)."""
    with _lock:
        _indexes.clear()


def mark_stale(tenant: str, *, using: str = "default") -> None:
    """Make the next routing of the tenant rebuild its index (still reusing unchanged entries)."""
    index = _indexes.get((using, tenant))
    if index is not None:
        index.fingerprint = _STALE


def _rule_changed(sender: Any, instance: RuleSpec, using: str, **kwargs: Any) -> None:
    mark_stale(instance.tenant, using=using)


_STALE = object()  # equal to no fingerprint
post_save.connect(_rule_changed, sender=RuleSpec, weak=False, dispatch_uid="automate.rules.cache.saved")
post_delete.connect(_rule_changed, sender=RuleSpec, weak=False, dispatch_uid="automate.rules.cache.deleted")


def _rebuild(tenant: str, using: str, current: Hashable, previous: RuleIndex | None) -> RuleIndex:
    started = time.perf_counter()
    rules = _enabled(tenant, using)
    reused: list[IndexedRule] = []
    fresh: list[dict[str, Any]] = []
    if previous is not None:
        changed = []
        for rule_id, version in rules.values_list("id", "version"):
            old = previous.get(rule_id)
            if old is not None and old.version == version:
                reused.append(old.copy())
            else:
                changed.append(rule_id)
        if len(changed) <= MAX_CHUNKS * CHUNK:
            for start in range(0, len(changed), CHUNK):
                fresh.extend(rules.filter(id__in=changed[start : start + CHUNK]).values(*_FIELDS))
        else:  # most rules changed: read them all at once, still reusing compiled conditions
            reused, fresh = [], list(rules.values(*_FIELDS))
    else:
        fresh = list(rules.values(*_FIELDS))
    entries = [*reused]
    for values in fresh:
        old = previous.get(values["id"]) if previous is not None else None
        condition = old.condition if old is not None and old.version == values["version"] else None
        entries.append(IndexedRule.from_values(values, condition=condition))
    index = RuleIndex(entries, fingerprint=current)
    logger.info(
        "Rule index of tenant %r rebuilt: %s rules (%s reused) in %.1f ms",
        tenant,
        len(index),
        len(reused),
        (time.perf_counter() - started) * 1000,
        extra=log_extra("rule_index_rebuilt", tenant=tenant, using=using),
    )
    return index
