"""The hash chain: what an entry's hash covers, and checking a stored chain end to end.

``hash = sha256(prev_hash + canonical_json(content))`` where ``content`` holds every
recorded field of the entry. Editing any field, deleting or inserting an entry, or
reordering entries breaks the chain at (or right after) the changed entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django_automate.internal.jsonutil import canonical_json
from django_automate.models import AuditEntry

GENESIS = "0" * 64


def normalize(value: Any) -> Any:
    """The JSON value as every backend returns it: integral floats as ints, tuples as lists, str keys.

    PostgreSQL's ``jsonb`` may give ``1e20`` back as an integer; hashing the normalised form
    keeps the hash of a stored entry stable across the round trip.
    """
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    return str(value)


def timestamp(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    return value.isoformat(timespec="microseconds")


def content(entry: AuditEntry) -> dict[str, Any]:
    """The hashed fields of an entry (everything but ``prev_hash`` and ``hash`` themselves)."""
    return {
        "id": str(entry.id),
        "seq": entry.seq,
        "action": entry.action,
        "actor": entry.actor,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "tenant": entry.tenant,
        "trace_id": entry.trace_id,
        "data": normalize(entry.data),
        "created_at": timestamp(entry.created_at),
    }


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode()).hexdigest()


@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify`: ``ok``, how many entries were checked, and the first broken one."""

    ok: bool
    checked: int
    seq: int | None = None
    entry_id: str | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"Audit chain intact: {self.checked} entries verified."
        return f"Audit chain broken at entry #{self.seq} (id {self.entry_id}): {self.reason}"


def verify_entries(entries: Iterable[AuditEntry]) -> Verification:
    """Walk entries in ``seq`` order and report the first one whose link or hash does not hold."""
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    for entry in entries:
        broken = None
        if entry.seq != expected_seq:
            broken = f"expected seq {expected_seq}; entries are missing or were inserted"
        elif entry.prev_hash != prev_hash:
            broken = "prev_hash does not match the hash of the previous entry"
        elif entry.hash != entry_hash(entry.prev_hash, content(entry)):
            broken = "the stored hash does not match the entry's content (the entry was modified)"
        if broken:
            return Verification(False, checked, entry.seq, str(entry.id), broken)
        prev_hash, expected_seq, checked = entry.hash, entry.seq + 1, checked + 1
    return Verification(True, checked)


def verify(*, using: str = "default", chunk_size: int = 2000) -> Verification:
    """Check the whole stored chain, oldest entry first."""
    entries = AuditEntry.objects.using(using).order_by("seq").iterator(chunk_size=chunk_size)
    return verify_entries(entries)
