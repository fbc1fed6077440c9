"""Execution runs and the step attempts inside them."""

from __future__ import annotations

from django.db import models

from django_automate.models.base import JSONField, tenant_field, trace_id_field, uuid_pk


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class ExecutionRun(models.Model):
    """One WorkflowVersion processing one Event.

    ``replay_seq`` is 0 for the run routing created and 1, 2, … for explicit replays, so
    "one run per (event, workflow) unless a replay" is a plain unique constraint that
    every backend (MySQL/MariaDB included) enforces. ``waiting_until`` is set while the run
    is ``waiting`` (a ``sleep`` step): when its job is due again.
    """

    id = uuid_pk()
    tenant = tenant_field()
    event = models.ForeignKey("automate.Event", on_delete=models.PROTECT, related_name="runs")
    workflow = models.ForeignKey("automate.Workflow", on_delete=models.PROTECT, related_name="runs")
    workflow_version = models.ForeignKey("automate.WorkflowVersion", on_delete=models.PROTECT, related_name="runs")
    rule = models.ForeignKey("automate.RuleSpec", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replays")
    replay_seq = models.PositiveIntegerField(default=0)
    error = JSONField(null=True, blank=True)
    trace_id = trace_id_field()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    waiting_until = models.DateTimeField(null=True, blank=True, help_text="While waiting: when the run goes on.")
    concurrency_key = models.CharField(
        max_length=64, blank=True, default="", help_text="Hash of the definition's concurrency key for this run."
    )
    admitted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the run got one of its concurrency key's slots."
    )

    class Meta:
        app_label = "automate"
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("event", "workflow", "replay_seq"), name="automate_run_unique_per_event_workflow"
            )
        ]
        indexes = [
            models.Index(fields=("tenant", "status", "created_at"), name="automate_run_status_idx"),
            models.Index(fields=("concurrency_key", "status", "created_at"), name="automate_run_concurrency_idx"),
            # The dashboard: open runs by status, and finished runs by the time they finished.
            models.Index(fields=("status", "finished_at"), name="automate_run_finished_idx"),
        ]
        permissions = [("approve_run", "Can decide approval steps of runs")]

    def __str__(self) -> str:
        return f"run {self.id} ({self.status})"


class StepRun(models.Model):
    """One attempt of one step of a run.

    ``success_guard`` is ``True`` on the succeeded attempt and NULL otherwise; a unique
    constraint over (run, step_id, success_guard) therefore allows at most one succeeded
    attempt per step on every backend (NULLs never collide), without a partial index.
    """

    id = uuid_pk()
    tenant = tenant_field()
    run = models.ForeignKey(ExecutionRun, on_delete=models.CASCADE, related_name="steps")
    #: The step's id; an item of a ``for_each`` step is ``<id>[<index>]``.
    step_id = models.CharField(max_length=72)
    step_index = models.PositiveIntegerField()
    attempt = models.PositiveIntegerField(default=1)
    connector = models.CharField(max_length=64)
    action = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    success_guard = models.BooleanField(null=True, blank=True, editable=False)
    idempotency_key = models.CharField(max_length=255)
    input = JSONField(null=True, blank=True, help_text="Rendered input, redacted; secrets never resolved.")
    output = JSONField(null=True, blank=True, help_text="Connector output, redacted.")
    error = JSONField(null=True, blank=True)
    cost = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    trace_id = trace_id_field()
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        app_label = "automate"
        ordering = ("run", "step_index", "attempt")
        constraints = [
            models.UniqueConstraint(fields=("run", "step_id", "attempt"), name="automate_steprun_unique_attempt"),
            models.UniqueConstraint(fields=("run", "step_id", "success_guard"), name="automate_steprun_one_success"),
        ]

    def __str__(self) -> str:
        return f"{self.step_id} #{self.attempt} ({self.status})"
