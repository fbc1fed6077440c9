"""RuleSpecs: JSON Logic predicates that route events to workflows."""

from __future__ import annotations

from django.db import models

from django_automate.models.base import JSONField, tenant_field, uuid_pk


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
