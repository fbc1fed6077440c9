"""Appending to the audit log: each entry's hash covers the previous hash and its own content.

With ``AUDIT_KEYS`` the hash is an HMAC under the first key, whose id the entry records;
with ``AUDIT_CHECKPOINT_FILE`` a checkpoint is appended there every
``AUDIT_CHECKPOINT_EVERY`` entries, once the entry's transaction committed.

Appends are serialised so that concurrent writers never fork the chain: each append takes
a chain-wide lock inside its transaction (held until the outermost transaction commits),
reads the last entry and links to it. The unique ``seq`` is the backstop: if two appends
ever raced, one would fail and retry instead of forking the chain.

- PostgreSQL: ``pg_advisory_xact_lock``.
- MySQL/MariaDB: ``SELECT … FOR UPDATE`` of the first entry (InnoDB row locks last until
  commit; advisory ``GET_LOCK`` would outlive a caller's rollback).
- SQLite: a no-op write first, so the transaction holds the database's write lock.
"""

from __future__ import annotations

import time
import uuid
import zlib
from typing import Any

from django.db import IntegrityError, OperationalError, connections, transaction
from django.utils import timezone

from django_automate import conf
from django_automate.audit import checkpoints, keys
from django_automate.audit.chain import GENESIS, content, entry_hash, normalize
from django_automate.models import AuditEntry
from django_automate.tracing import context

__all__ = ["GENESIS", "entry_hash", "record"]

CHAIN_LOCK_KEY = zlib.crc32(b"django_automate.audit.chain")
MAX_ATTEMPTS = 20


def _lock_chain(using: str) -> None:
    connection = connections[using]
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        elif connection.vendor == "mysql":
            cursor.execute(f"SELECT id FROM {table} ORDER BY seq LIMIT 1 FOR UPDATE")
            cursor.fetchall()
        elif connection.vendor == "sqlite":
            cursor.execute(f"UPDATE {table} SET seq = seq WHERE 1 = 0")


_MAX_LENGTHS = {
    "action": 64,
    "actor": 150,
    "object_type": 64,
    "object_id": 64,
    "tenant": 64,
    "trace_id": 36,
}


def _clip(value: Any, field: str) -> str:
    return str(value)[: _MAX_LENGTHS[field]]


def record(
    action: str,
    *,
    actor: str = "system",
    object_type: str = "",
    object_id: Any = "",
    data: dict[str, Any] | None = None,
    tenant: str = "",
    trace_id: str | None = None,
    using: str = "default",
) -> AuditEntry:
    """Append one entry (``data`` redacted by key and masked of the current step's secrets).

    Call it inside the transaction that makes the change it records, so both commit or
    neither does.
    """
    from django_automate.policy import masking
    from django_automate.policy.redaction import redact

    entry = AuditEntry(
        id=uuid.uuid4(),
        action=_clip(action, "action"),
        actor=_clip(actor, "actor"),
        object_type=_clip(object_type, "object_type"),
        object_id=_clip(object_id, "object_id"),
        tenant=_clip(tenant, "tenant"),
        trace_id=_clip(trace_id if trace_id is not None else context.current_trace_id(), "trace_id"),
        data=normalize(masking.mask_active(redact(data or {}))),
    )
    for attempt in range(MAX_ATTEMPTS):
        try:
            with transaction.atomic(using=using):
                return _append(entry, using)
        except (IntegrityError, OperationalError) as exc:
            # A seq collision (only possible on a brand-new, empty log) or SQLite's "database is locked".
            outer = connections[using].in_atomic_block
            if attempt == MAX_ATTEMPTS - 1 or (isinstance(exc, OperationalError) and outer):
                raise
            time.sleep(min(0.001 * 2**attempt, 0.1))
    raise AssertionError("unreachable")


def _append(entry: AuditEntry, using: str) -> AuditEntry:
    _lock_chain(using)
    last = AuditEntry.objects.using(using).select_for_update().order_by("-seq").only("seq", "hash").first()
    entry.seq = last.seq + 1 if last else 1
    entry.prev_hash = last.hash if last else GENESIS
    entry.created_at = timezone.now()
    key = keys.signing_key()
    entry.key_id = key.id if key else ""
    entry.hash = entry_hash(entry.prev_hash, content(entry), key)
    entry._state.adding = True
    entry.save(using=using, force_insert=True)
    if conf.audit_checkpoint_file():
        transaction.on_commit(lambda: checkpoints.after_append(entry), using=using)
    return entry
