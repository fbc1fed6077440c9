"""Backfills: a filter's events replayed in the background, in batches, from a cursor."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from django_automate.models.base import JSONField, tenant_field, trace_id_field, uuid_pk


class BackfillStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    #: Stopped by an operator; ``resume`` continues from the cursor.
    CANCELLED = "cancelled", "Cancelled"
    DONE = "done", "Done"
    #: Stopped by an error a batch cannot get past (``error`` says which); resumable once it is fixed.
    FAILED = "failed", "Failed"


#: States a backfill's job works in; the others wait for an operator (resume) or are over.
ACTIVE_STATUSES = (BackfillStatus.PENDING, BackfillStatus.RUNNING)
#: States ``resume`` continues from the cursor.
RESUMABLE_STATUSES = (BackfillStatus.CANCELLED, BackfillStatus.FAILED)


class Backfill(models.Model):
    """A bulk replay of the events a filter selects, oldest first, processed by workers in batches.

    ``cursor_received_at``/``cursor_event_id`` name the last event processed: each batch commits
    its runs together with the cursor's advance, so a worker killed mid-batch loses and repeats
    nothing. ``job`` is the outbox job of the next batch.
    """

    id = uuid_pk()
    tenant = tenant_field()
    filter = JSONField(default=dict, blank=True, help_text="The event filter (see docs/execution.md, Backfill).")
    redacted = models.BooleanField(
        default=True,
        help_text="The requester could not view raw payloads: the filter may not read sensitive keys.",
    )
    status = models.CharField(max_length=16, choices=BackfillStatus.choices, default=BackfillStatus.PENDING)
    cursor_received_at = models.DateTimeField(null=True, blank=True)
    cursor_event_id = models.UUIDField(null=True, blank=True)
    total = models.PositiveBigIntegerField(
        default=0, help_text="Events the filter's fields (all but its condition) selected when it was requested."
    )
    processed = models.PositiveBigIntegerField(default=0, help_text="Events read so far.")
    matched = models.PositiveBigIntegerField(default=0, help_text="Events the filter selected so far.")
    started = models.PositiveBigIntegerField(default=0, help_text="Runs started so far.")
    workflows = JSONField(default=dict, blank=True, help_text="Runs started so far, by workflow slug.")
    job = models.ForeignKey(
        "automate.OutboxJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="backfills"
    )
    error = JSONField(null=True, blank=True)
    requested_by = models.CharField(max_length=150)
    trace_id = trace_id_field()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[models.Manager[Backfill]] = models.Manager()
    job_id: int | None

    class Meta:
        app_label = "automate"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"Backfill {self.id} ({self.status})"
