"""The append-only, hash-chained audit log."""

from __future__ import annotations

from typing import Any

from django.db import models

from django_automate import exceptions
from django_automate.models.base import JSONField, tenant_field, uuid_pk


class AuditEntry(models.Model):
    """One recorded action. ``seq`` orders the chain; ``hash`` covers ``prev_hash`` and the content.

    ``key_id`` names the ``AUDIT_KEYS`` key whose HMAC ``hash`` is; empty for an unkeyed entry.
    """

    id = uuid_pk()
    seq = models.BigIntegerField(unique=True, editable=False)
    tenant = tenant_field()
    action = models.CharField(max_length=64, db_index=True)
    actor = models.CharField(max_length=150, blank=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    trace_id = models.CharField(max_length=36, blank=True, db_index=True)
    data = JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        app_label = "automate"
        ordering = ("-seq",)
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise exceptions.Conflict("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise exceptions.Conflict("Audit entries are append-only.")
