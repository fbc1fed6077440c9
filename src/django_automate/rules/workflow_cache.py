"""The workflows routing hands out with matched rules, cached per (database, tenant) like the rule index.

What routing reads of a workflow (``enabled``, ``current_version``) must never be older than
the event, yet reading it costs a query per routed event. Database triggers bump the tenant's
``workflow_generation`` with every write to its workflows (see
:mod:`django_automate.rules.generation`), and routing reads it in the same one-row query as the
rules generation: while it is unchanged, the workflows loaded since stay current. Each call
gets its own ``Workflow`` instances, built from the cached column values.

A rule may only point at a workflow of its own tenant (:func:`~django_automate.rules.services.validate_rule`);
the cache relies on it, as a change to another tenant's workflow bumps only that tenant.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

from django.db import connections
from django.db.models.signals import post_delete, post_save

from django_automate.models import Workflow
from django_automate.rules import generation

#: How many (database, tenant) workflow caches a process keeps; the least recently used is dropped.
MAX_TENANTS = 256
FIELDS = tuple(field.attname for field in Workflow._meta.concrete_fields)


class _Workflows:
    __slots__ = ("rows", "stamp")

    def __init__(self, stamp: Hashable) -> None:
        self.stamp = stamp
        self.rows: dict[Any, tuple[Any, ...]] = {}


_caches: OrderedDict[tuple[str, str], _Workflows] = OrderedDict()
_lock = threading.Lock()


def workflows(
    tenant: str, ids: Iterable[Any], *, using: str = "default", generations: generation.Generations
) -> dict[Any, Workflow]:
    """``{id: Workflow}`` for the ids that exist, as current as ``generations`` (read before this call).

    Loads only the workflows not cached since the tenant's workflow generation last changed:
    usually none, so no query.
    """
    key = (using, tenant)
    connection = connections[using]
    current = generations.workflows
    with _lock:
        cached = _caches.get(key)
        if cached is None or not generation.is_current(cached.stamp, current, connection):
            cached = _Workflows(generation.stamp(current, connection))
            if connection.in_atomic_block or connection.get_autocommit():  # else: a manual transaction
                _caches[key] = cached
                while len(_caches) > MAX_TENANTS:
                    _caches.popitem(last=False)
        elif key in _caches:
            _caches.move_to_end(key)
    wanted = set(ids)
    missing = wanted - cached.rows.keys()
    if missing:
        loaded = Workflow.objects.using(using).filter(pk__in=missing).values_list(*FIELDS)
        rows = {row[0]: tuple(row) for row in loaded}
        with _lock:
            cached.rows.update(rows)
    return {pk: Workflow.from_db(using, FIELDS, row) for pk in wanted if (row := cached.rows.get(pk)) is not None}


def clear() -> None:
    """Forget every cached workflow."""
    with _lock:
        _caches.clear()


def _workflow_changed(sender: Any, instance: Workflow, using: str, **kwargs: Any) -> None:
    """Saves here are seen at once, even on a database without the triggers."""
    cached = _caches.get((using, instance.tenant))
    if cached is not None:
        cached.stamp = generation.stale(cached.stamp)


post_save.connect(_workflow_changed, sender=Workflow, weak=False, dispatch_uid="automate.rules.workflow_cache.saved")
post_delete.connect(
    _workflow_changed, sender=Workflow, weak=False, dispatch_uid="automate.rules.workflow_cache.deleted"
)
