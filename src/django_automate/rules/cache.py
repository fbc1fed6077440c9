"""Each process keeps one :class:`RuleIndex` per (database, tenant), fresh across processes.

Rules change in other processes (admin, API, another worker), and no signal reaches this one.
So every routing first reads the tenant's *rules generation*
(:func:`django_automate.rules.generation.read`): one row, by its unique key, that database
triggers bump in the same transaction as any write to the tenant's rules (``save()``,
``QuerySet.update()``, ``bulk_create()``, deletes, raw SQL). The cached index is used while
its generation equals the one just read. Otherwise it is rebuilt: one query for the
(id, version) pairs, one for the rows that are new or changed; unchanged rules keep their
entry and their compiled condition.

The generation is read *before* the rules, and the index keeps that value: a rule committed
while the index is being built makes the next read differ, so that index is never taken for
current. Inside a transaction the generation may include the transaction's own uncommitted
writes: an index built there serves that transaction, and stays once it commits, but not
after a rollback (a later commit could reach the same generation with other rules).

The workflows of matched rules are cached alike, against the tenant's workflow generation read
in the same row (:mod:`django_automate.rules.workflow_cache`).

Saves and deletes in this process also mark the tenant's index stale at once
(``post_save``/``post_delete``), which keeps this process right even on a database without the
triggers (tables created without migrations; see the check ``automate.W090``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.signals import post_delete, post_save

from django_automate.models import RuleSpec
from django_automate.rules import generation, workflow_cache
from django_automate.rules.index import IndexedRule, RuleIndex
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

#: How many (database, tenant) indexes a process keeps; the least recently used is dropped.
MAX_TENANTS = 256
#: Rows fetched per query when only some rules changed (keeps ``IN (...)`` lists short).
CHUNK = 500
#: Beyond this many chunks of changed rules, one query reads all of them.
MAX_CHUNKS = 4
#: Every column, in model order: an entry can become a ``RuleSpec`` without reading the rule again.
FIELDS = tuple(field.attname for field in RuleSpec._meta.concrete_fields)

_indexes: OrderedDict[tuple[str, str], RuleIndex] = OrderedDict()
_lock = threading.Lock()


def _enabled(tenant: str, using: str) -> Any:
    return RuleSpec.objects.using(using).filter(tenant=tenant, enabled=True)


def rule_index(tenant: str, *, using: str = "default", generations: generation.Generations | None = None) -> RuleIndex:
    """The current index of the tenant's enabled rules, rebuilt only when the generation changed.

    ``generations``: what :func:`~django_automate.rules.generation.read` just returned, when the
    caller already read it; otherwise it is read here.
    """
    key = (using, tenant)
    connection = connections[using]
    if generations is None:
        generations = generation.read(tenant, using=using)
    current = generations.rules  # read before any rule is (see the module docstring)
    index = _indexes.get(key)
    if index is not None and generation.is_current(index.fingerprint, current, connection):
        return index
    if not connection.in_atomic_block and not connection.get_autocommit():
        # Manual transaction management: nothing tells when this transaction ends, so no caching.
        return _rebuild(tenant, using, generation.STALE, _trusted(index, connection))
    with _lock:  # one rebuild at a time; a thread that waited may find it done
        index = _indexes.get(key)
        if index is None or not generation.is_current(index.fingerprint, current, connection):
            stamp = generation.stamp(current, connection)
            index = _rebuild(tenant, using, stamp, _trusted(index, connection))
            _indexes[key] = index
        _indexes.move_to_end(key)
        while len(_indexes) > MAX_TENANTS:
            _indexes.popitem(last=False)
    return index


def _trusted(index: RuleIndex | None, connection: BaseDatabaseWrapper) -> RuleIndex | None:
    """``index`` if its entries may be reused: not built in a transaction that then rolled back."""
    return index if index is not None and generation.trusted(index.fingerprint, connection) else None


def clear() -> None:
    """Forget every cached index and workflow (routing never needs it)."""
    with _lock:
        _indexes.clear()
    workflow_cache.clear()


def mark_stale(tenant: str, *, using: str = "default") -> None:
    """Make the next routing of the tenant rebuild its index (still reusing unchanged entries)."""
    index = _indexes.get((using, tenant))
    if index is not None:
        index.fingerprint = generation.stale(index.fingerprint)


def _rule_changed(sender: Any, instance: RuleSpec, using: str, **kwargs: Any) -> None:
    mark_stale(instance.tenant, using=using)


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
                fresh.extend(rules.filter(id__in=changed[start : start + CHUNK]).values(*FIELDS))
        else:  # most rules changed: read them all at once, still reusing compiled conditions
            reused, fresh = [], list(rules.values(*FIELDS))
    else:
        fresh = list(rules.values(*FIELDS))
    entries = [*reused]
    for values in fresh:
        old = previous.get(values["id"]) if previous is not None else None
        condition = old.condition if old is not None and old.version == values["version"] else None
        row = tuple(values[name] for name in FIELDS)
        entries.append(IndexedRule.from_values(values, condition=condition, row=row))
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
