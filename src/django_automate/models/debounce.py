"""Debounces: the pending trailing run of a debounced rule, one row per (rule, rendered key)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

from django_automate.models.base import tenant_field


class Debounce(models.Model):
    """Events of ``rule`` whose ``debounce_key`` rendered to the same text, waiting for their burst to end.

    Routing writes the row (the burst's last event, ``due_at``) and keeps one ``fire_debounce``
    job pending for it; that job starts the run for ``event`` once ``due_at`` has passed and
    deletes the row (docs/rules.md, "Debounce").
    """

    id = models.BigAutoField(primary_key=True)
    tenant = tenant_field()
    rule = models.ForeignKey("automate.RuleSpec", on_delete=models.CASCADE, related_name="debounces")
    key_hash = models.CharField(max_length=64, help_text="SHA-256 of the rendered debounce key.")
    key = models.CharField(max_length=255, blank=True, help_text="The rendered key (its first 255 characters).")
    event = models.ForeignKey("automate.Event", on_delete=models.CASCADE, related_name="+", help_text="The last one.")
    first_at = models.DateTimeField(help_text="When the burst's first event was routed.")
    due_at = models.DateTimeField(help_text="When the run starts unless another event of the key comes first.")
    job = models.ForeignKey(
        "automate.OutboxJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="debounces"
    )
    events = models.PositiveIntegerField(default=1, help_text="Events of the burst so far.")

    objects: ClassVar[models.Manager[Debounce]] = models.Manager()
    rule_id: Any
    event_id: Any
    job_id: Any

    class Meta:
        app_label = "automate"
        ordering = ("due_at",)
        constraints = [models.UniqueConstraint(fields=("rule", "key_hash"), name="automate_debounce_unique_key")]

    def __str__(self) -> str:
        return f"{self.key!r} of rule {self.rule_id}"
