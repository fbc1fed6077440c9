"""The hash chain: what an entry's hash covers, and checking a stored chain end to end.

An unkeyed entry (no ``AUDIT_KEYS``, or written before keys were configured) has
``hash = sha256(prev_hash + canonical_json(content))``; a keyed entry has
``hash = hmac_sha256(key, prev_hash + canonical_json(content + key_id))`` and records the
signing key's id. ``content`` holds every recorded field of the entry. Editing any field,
deleting or inserting an entry, or reordering entries breaks the chain at (or right after)
the changed entry; without the key, a rewritten or appended entry cannot be made to verify.
Checkpoints kept outside the database (:mod:`django_automate.audit.checkpoints`) catch what
a chain alone cannot: deletion of its newest entries, or of all of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django_automate.audit.keys import AuditKey
from django_automate.internal.jsonutil import canonical_json
from django_automate.models import AuditEntry

if TYPE_CHECKING:
    from django_automate.audit.checkpoints import Checkpoint

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
    """The hashed fields of an entry (everything but ``prev_hash`` and ``hash``; ``key_id`` if keyed)."""
    fields = {
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
    if entry.key_id:
        fields["key_id"] = entry.key_id
    return fields


def entry_hash(prev_hash: str, fields: dict[str, Any], key: AuditKey | None = None) -> str:
    """SHA-256 of the link and content, or their HMAC-SHA256 under ``key``."""
    message = prev_hash + canonical_json(fields)
    if key is None:
        return hashlib.sha256(message.encode()).hexdigest()
    return key.sign(message)


@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify`: ``ok``, how many entries were checked, and the first broken one.

    ``signed`` counts entries per key id, ``unkeyed`` the entries without a key, and
    ``checkpoints`` the checkpoints that matched the chain.
    """

    ok: bool
    checked: int
    seq: int | None = None
    entry_id: str | None = None
    reason: str = ""
    signed: dict[str, int] = field(default_factory=dict)
    unkeyed: int = 0
    checkpoints: int = 0

    def __str__(self) -> str:
        if self.ok:
            return f"Audit chain intact: {self.checked} entries verified."
        where = f"entry #{self.seq}" + (f" (id {self.entry_id})" if self.entry_id else "")
        return f"Audit chain broken at {where}: {self.reason}"


class _Walk:
    """The state of one pass over the chain, oldest entry first."""

    def __init__(self, keys: dict[str, AuditKey], checkpoints: Iterable[Checkpoint]) -> None:
        self.keys = keys
        self.checkpoints: dict[int, list[Checkpoint]] = {}
        for checkpoint in checkpoints:
            self.checkpoints.setdefault(checkpoint.seq, []).append(checkpoint)
        self.prev_hash, self.expected_seq, self.checked, self.matched = GENESIS, 1, 0, 0
        self.signed: dict[str, int] = {}
        self.unkeyed = 0

    def problem(self, entry: AuditEntry) -> str | None:
        if entry.seq != self.expected_seq:
            return f"expected seq {self.expected_seq}; entries are missing or were inserted"
        if entry.prev_hash != self.prev_hash:
            return "prev_hash does not match the hash of the previous entry"
        if entry.key_id:
            key = self.keys.get(entry.key_id)
            if key is None:
                return f"signed with key id {entry.key_id}, which is not in AUDIT_KEYS (forged, or the key was removed)"
            if entry.hash != entry_hash(entry.prev_hash, content(entry), key):
                return (
                    f"the stored HMAC does not match the entry's content under key {entry.key_id} "
                    "(the entry was modified or forged without the key)"
                )
        elif self.signed:
            return (
                "unkeyed entry after entries signed with AUDIT_KEYS (inserted or rewritten by someone without the key)"
            )
        elif entry.hash != entry_hash(entry.prev_hash, content(entry)):
            return "the stored hash does not match the entry's content (the entry was modified)"
        for checkpoint in self.checkpoints.get(entry.seq, ()):
            if checkpoint.hash != entry.hash:
                return (
                    f"the hash differs from the checkpoint written at {checkpoint.time}: this entry "
                    "or one before it was changed and the chain recomputed"
                )
        return None

    def accept(self, entry: AuditEntry) -> None:
        if entry.key_id:
            self.signed[entry.key_id] = self.signed.get(entry.key_id, 0) + 1
        else:
            self.unkeyed += 1
        self.matched += len(self.checkpoints.get(entry.seq, ()))
        self.prev_hash, self.expected_seq, self.checked = entry.hash, entry.seq + 1, self.checked + 1

    def result(self, ok: bool, seq: int | None = None, entry_id: str | None = None, reason: str = "") -> Verification:
        return Verification(ok, self.checked, seq, entry_id, reason, dict(self.signed), self.unkeyed, self.matched)


def verify_entries(
    entries: Iterable[AuditEntry],
    *,
    keys: dict[str, AuditKey] | None = None,
    checkpoints: Iterable[Checkpoint] = (),
) -> Verification:
    """Walk entries in ``seq`` order and report the first one whose link, hash or checkpoint does not hold.

    ``keys`` (default: the configured ``AUDIT_KEYS``) verify keyed entries. Each checkpoint's
    entry must still carry the checkpointed hash, and the chain must reach the newest
    checkpoint: entries deleted from the end, or all of them, are reported where they are missing.
    """
    if keys is None:
        from django_automate.audit.keys import by_id

        keys = by_id()
    walk = _Walk(keys, checkpoints)
    for entry in entries:
        broken = walk.problem(entry)
        if broken:
            return walk.result(False, entry.seq, str(entry.id), broken)
        walk.accept(entry)
    if walk.checkpoints:
        newest = max(walk.checkpoints)
        if newest >= walk.expected_seq:
            latest = walk.checkpoints[newest][0]
            ends = f"the log ends at entry #{walk.expected_seq - 1}" if walk.checked else "the log is empty"
            return walk.result(
                False,
                walk.expected_seq,
                None,
                f"missing: the checkpoint written at {latest.time} records {latest.count} entries up to "
                f"entry #{latest.seq}, but {ends} (entries were deleted from the end or the table was emptied)",
            )
    return walk.result(True)


def verify(*, using: str = "default", chunk_size: int = 2000, checkpoints: Iterable[Checkpoint] = ()) -> Verification:
    """Check the whole stored chain, oldest entry first, against the given checkpoints."""
    entries = AuditEntry.objects.using(using).order_by("seq").iterator(chunk_size=chunk_size)
    return verify_entries(entries, checkpoints=checkpoints)
