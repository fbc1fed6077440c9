"""Raw (unredacted) payloads: who may see them, and the audit entry every raw view leaves."""

from __future__ import annotations

from typing import Any

from django.db import models

from django_automate.models import AuditEntry

PERMISSION = "automate.view_raw_payload"


def can_view_raw(user: Any) -> bool:
    """Whether ``user`` holds ``automate.view_raw_payload`` (superusers do; inactive users never)."""
    return bool(user is not None and getattr(user, "is_active", False) and user.has_perm(PERMISSION))


def actor_name(user: Any) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return "anonymous"
    return str(user.get_username())


def record_raw_view(
    user: Any, obj: models.Model, trace_id: str | None = None, *, data: dict[str, Any] | None = None
) -> AuditEntry:
    """Audit one raw view of ``obj`` (an Event, StepRun, …) by ``user``; call it before showing the data.

    ``data`` says how it was viewed (e.g. ``{"via": "rule_test", "paths": [...]}``); it is
    redacted by key like every audit entry's data.
    """
    from django_automate.audit import log as audit

    return audit.record(
        "raw_payload.viewed",
        actor=actor_name(user),
        object_type=obj._meta.model_name or "",
        object_id=str(obj.pk),
        data=data,
        tenant=str(getattr(obj, "tenant", "")),
        trace_id=trace_id if trace_id is not None else str(getattr(obj, "trace_id", "") or ""),
    )
