"""Appending to the audit log: each entry's hash covers the previous hash and its own content."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from django_automate.internal.jsonutil import canonical_json
from django_automate.models import AuditEntry
from django_automate.tracing import context

GENESIS = "0" * 64


def entry_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(content)).encode()).hexdigest()


def record(
    action: str,
    *,
    actor: str = "system",
    object_type: str = "",
    object_id: str = "",
    data: dict[str, Any] | None = None,
    tenant: str = "",
    trace_id: str | None = None,
) -> AuditEntry:
    """Append one entry; concurrent writers are serialised by the unique ``seq``."""
    from django_automate.policy.redaction import redact

    for _ in range(10):
        try:
            with transaction.atomic():
                last = AuditEntry.objects.select_for_update().order_by("-seq").first()
                seq = (last.seq + 1) if last else 1
                prev_hash = last.hash if last else GENESIS
                now = timezone.now()
                content = {
                    "seq": seq,
                    "action": action,
                    "actor": actor,
                    "object_type": object_type,
                    "object_id": str(object_id),
                    "tenant": tenant,
                    "trace_id": trace_id if trace_id is not None else context.current_trace_id(),
                    "data": redact(data or {}),
                    "created_at": now.isoformat(),
                }
                return AuditEntry.objects.create(
                    prev_hash=prev_hash, hash=entry_hash(prev_hash, content), **{**content, "created_at": now}
                )
        except IntegrityError:
            continue
    raise IntegrityError("Could not append to the audit log after 10 attempts.")
