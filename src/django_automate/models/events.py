"""Events: immutable records of something that happened."""

from __future__ import annotations

from django.db import models

from django_automate.models.base import JSONField, tenant_field, trace_id_field, uuid_pk


class EventStatus(models.TextChoices):
    PENDING = "pending", "Pending routing"
    ROUTED = "routed", "Routed"
    UNMATCHED = "unmatched", "No rule matched"


class Event(models.Model):
    """An immutable signal (webhook, model change, schedule tick or API call).

    Payload, headers and identity never change after insert; only ``status`` and
    ``routed_at`` record what routing did with it.
    """

    id = uuid_pk()
    tenant = tenant_field()
    source = models.CharField(max_length=128, help_text='"webhook:<slug>", "app", "model", "schedule", "api".')
    type = models.CharField(max_length=255)
    idempotency_key = models.CharField(max_length=255)
    body_sha256 = models.CharField(max_length=64, blank=True)
    payload = JSONField(default=dict, blank=True)
    headers = JSONField(default=dict, blank=True)
    trace_id = trace_id_field()
    endpoint = models.ForeignKey(
        "automate.WebhookEndpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    status = models.CharField(max_length=16, choices=EventStatus.choices, default=EventStatus.PENDING)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    routed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "automate"
        ordering = ("-received_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("tenant", "source", "idempotency_key"), name="automate_event_unique_idempotency_key"
            ),
        ]
        indexes = [
            models.Index(fields=("tenant", "type", "received_at"), name="automate_event_type_idx"),
            models.Index(fields=("status", "received_at"), name="automate_event_status_idx"),
        ]
        permissions = [
            ("view_raw_payload", "Can view raw (unredacted) payloads"),
            ("replay_event", "Can replay events"),
        ]

    def __str__(self) -> str:
        return f"{self.type} ({self.id})"
