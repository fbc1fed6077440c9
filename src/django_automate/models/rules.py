"""RuleSpecs: JSON Logic predicates that route events to workflows."""

from __future__ import annotations

from typing import Any

from django.db import models

from django_automate.models.base import TENANT_MAX_LENGTH, JSONField, tenant_field, uuid_pk


def _true() -> bool:
    return True


class RuleSpec(models.Model):
    """Match events of ``event_type`` (exact or glob) whose ``condition`` holds, and run ``workflow``."""

    id = uuid_pk()
    tenant = tenant_field()
    name = models.CharField(max_length=200)
    event_type = models.CharField(max_length=255, help_text='Exact type or a glob such as "order.*".')
    condition = JSONField(default=_true, blank=True, help_text="JSON Logic over {event: {...}}.")
    workflow = models.ForeignKey("automate.Workflow", on_delete=models.PROTECT, related_name="rules")
    priority = models.IntegerField(default=0, help_text="Higher priorities are evaluated first.")
    enabled = models.BooleanField(default=True)
    debounce_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Events with the same debounce key within this many seconds start one run, for the last of them.",
    )
    debounce_key = models.CharField(
        max_length=255, blank=True, default="", help_text='Template over the event, e.g. "{{ event.payload.id }}".'
    )
    version = models.PositiveIntegerField(default=1, editable=False, help_text="Bumped on every change.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "automate"
        ordering = ("-priority", "name")
        constraints = [models.UniqueConstraint(fields=("tenant", "name"), name="automate_rule_unique_name")]
        indexes = [models.Index(fields=("tenant", "enabled", "event_type"), name="automate_rule_route_idx")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Bump ``version`` on every update, in SQL (``version + 1``), so concurrent saves never share a version.

        Rule matching caches compiled conditions by (id, version); it notices changes through
        the tenant's :class:`RuleGeneration`, which database triggers bump (docs/rules.md).
        """
        update_fields = kwargs.get("update_fields")
        if self._state.adding or (update_fields is not None and not update_fields):
            super().save(*args, **kwargs)
            return
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "version", "updated_at"}
        previous = self.version
        self.version = models.F("version") + 1
        try:
            super().save(*args, **kwargs)
        except BaseException:
            self.version = previous
            raise
        self.refresh_from_db(using=self._state.db, fields=["version"])


class RuleGeneration(models.Model):
    """Per-tenant counters that change with every write to the tenant's rules or workflows, in that transaction.

    Database triggers installed by migration ``0004`` maintain them, so every write path counts
    (``save()``, ``QuerySet.update()``, ``bulk_create()``, deletes, raw SQL). Routing reads the
    row by its unique key to know whether its cached rules and workflows are current. The
    values are opaque: compare them for equality only (a tenant's first ones are random, see
    docs/rules.md).
    """

    id = models.BigAutoField(primary_key=True)
    tenant = models.CharField(max_length=TENANT_MAX_LENGTH, unique=True)
    generation = models.BigIntegerField(help_text="Bumped by every write to the tenant's rules.")
    workflow_generation = models.BigIntegerField(help_text="Bumped by every write to the tenant's workflows.")

    class Meta:
        app_label = "automate"

    def __str__(self) -> str:
        return f"{self.tenant!r}: {self.generation}/{self.workflow_generation}"
