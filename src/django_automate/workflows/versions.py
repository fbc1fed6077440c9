"""Workflow versions by id, cached per process: a version is immutable, so a cached one is never stale."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from django_automate.models import WorkflowVersion

#: Versions a process keeps; the least recently used is dropped.
MAX_VERSIONS = 1024
FIELDS = tuple(field.attname for field in WorkflowVersion._meta.concrete_fields)

_rows: OrderedDict[tuple[str, Any], tuple[Any, ...]] = OrderedDict()
_lock = threading.Lock()


def get_version(version_id: Any, *, using: str = "default") -> WorkflowVersion:
    """The version with this id; one query the first time, none after. Its ``definition`` is shared: read it only."""
    key = (using, version_id)
    with _lock:
        row = _rows.get(key)
        if row is not None:
            _rows.move_to_end(key)
    if row is None:
        row = tuple(WorkflowVersion.objects.using(using).values_list(*FIELDS).get(pk=version_id))
        with _lock:
            _rows[key] = row
            while len(_rows) > MAX_VERSIONS:
                _rows.popitem(last=False)
    return WorkflowVersion.from_db(using, FIELDS, row)


def clear() -> None:
    """Forget every cached version."""
    with _lock:
        _rows.clear()


def priority_of(version_id: Any, *, using: str = "default") -> int:
    """The ``priority`` of a version's definition (0 when it has none): its runs' jobs carry it."""
    value = get_version(version_id, using=using).definition.get("priority", 0)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0
