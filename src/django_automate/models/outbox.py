"""The transactional outbox: durable intents to process something."""

from __future__ import annotations

from django.db import models

from django_automate.models.base import JSONField, tenant_field, trace_id_field


class JobKind(models.TextChoices):
    ROUTE_EVENT = "route_event", "Route event"
    EXECUTE_RUN = "execute_run", "Execute run"
    #: One step of a run whose definition is a graph (``needs``): its ready steps run as jobs of their own.
    EXECUTE_STEP = "execute_step", "Execute step"
    RUN_TASK = "run_task", "Run task"
    #: Starts the trailing run of a debounced rule's key once its burst is over (``models.Debounce``).
    FIRE_DEBOUNCE = "fire_debounce", "Fire debounce"
    #: One batch of a backfill (``models.Backfill``); it enqueues the next batch's job.
    BACKFILL = "backfill", "Backfill batch"


class JobStatus(models.TextChoices):
    READY = "ready", "Ready"
    CLAIMED = "claimed", "Claimed"
    DONE = "done", "Done"
    DEAD = "dead", "Dead-lettered"
    CANCELLED = "cancelled", "Cancelled"


class OutboxJob(models.Model):
    """Written in the same transaction as what it refers to; claimed by workers under a lease.

    Every write by a worker after the claim is conditional on ``lease_token`` (fencing).
    """

    id = models.BigAutoField(primary_key=True)
    tenant = tenant_field()
    kind = models.CharField(max_length=32, choices=JobKind.choices)
    queue = models.CharField(max_length=64, default="default")
    priority = models.SmallIntegerField(default=0, help_text="Higher runs first among ready jobs of a queue.")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.READY)
    event = models.ForeignKey("automate.Event", null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    run = models.ForeignKey(
        "automate.ExecutionRun", null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    step_id = models.CharField(
        max_length=72,
        blank=True,
        default="",
        help_text="The step (or for_each item, id[index]) an execute_step job runs.",
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Number of claims so far.")
    available_at = models.DateTimeField()
    lease_token = models.UUIDField(null=True, blank=True)
    leased_by = models.CharField(max_length=128, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = JSONField(null=True, blank=True)
    trace_id = trace_id_field()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "automate"
        ordering = ("id",)
        indexes = [
            # Matches the claim's ORDER BY (-priority, available_at, id), so a claim reads the index in order.
            models.Index(
                fields=("status", "queue", "-priority", "available_at", "id"), name="automate_job_claim_order_idx"
            ),
            models.Index(fields=("status", "lease_expires_at"), name="automate_job_lease_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.id} ({self.status})"
