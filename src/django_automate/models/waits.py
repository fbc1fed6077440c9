"""What a waiting run waits for: an event (``wait_for``) or a decision (``approval``).

One row per attempt of such a step, written in the transaction that moves the run to
``waiting``. Events find the waits they resume through the index on (tenant, event type,
correlation): ``correlation`` is a hash of the correlation path and value, so matching an
event is an index lookup, never a scan of waiting runs. ``WaitRoute`` lists the correlation
paths ever awaited per (tenant, event type), so routing knows which keys to compute for an event.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

from django_automate.models.base import JSONField, tenant_field, uuid_pk


class WaitKind(models.TextChoices):
    EVENT = "event", "Event"
    APPROVAL = "approval", "Approval"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class RunWait(models.Model):
    """One attempt of a ``wait_for`` or ``approval`` step while (and after) its run waits.

    ``event`` is the event that resumed it; ``decision``/``decided_by``/``decided_at`` the
    approval's decision. Both are set once, by conditional updates; ``resolved_at`` is when
    the step closed (resumed, decided or timed out).
    """

    id = uuid_pk()
    tenant = tenant_field()
    run = models.ForeignKey("automate.ExecutionRun", on_delete=models.CASCADE, related_name="waits")
    step_id = models.CharField(max_length=64)
    attempt = models.PositiveIntegerField(default=1)
    kind = models.CharField(max_length=16, choices=WaitKind.choices)
    event_type = models.CharField(max_length=255, blank=True)
    correlation = models.CharField(max_length=64, blank=True, help_text="sha256 of the path and the value.")
    condition = JSONField(null=True, blank=True, help_text="wait_for.if: JSON Logic over the awaited event.")
    after = models.DateTimeField(help_text="Only events received after this (the run's creation) count.")
    timeout_at = models.DateTimeField()
    title = models.CharField(max_length=500, blank=True)
    permission = models.CharField(max_length=150, blank=True)
    on_timeout = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    event = models.ForeignKey(
        "automate.Event", null=True, blank=True, on_delete=models.SET_NULL, related_name="resumed_waits"
    )
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Declared for type checkers that do not load this app's models.
    objects: ClassVar[models.Manager[RunWait]] = models.Manager()
    run_id: Any
    event_id: Any

    class Meta:
        app_label = "automate"
        ordering = ("-created_at",)
        verbose_name = "run wait"
        constraints = [
            models.UniqueConstraint(fields=("run", "step_id", "attempt"), name="automate_runwait_unique_attempt"),
        ]
        indexes = [
            models.Index(fields=("tenant", "event_type", "correlation"), name="automate_runwait_match_idx"),
            models.Index(fields=("tenant", "kind", "resolved_at", "created_at"), name="automate_runwait_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} wait of {self.step_id} (run {self.run_id})"


class WaitRoute(models.Model):
    """A correlation path awaited for events of one type in one tenant (rows are only ever added)."""

    id = models.BigAutoField(primary_key=True)
    tenant = tenant_field()
    event_type = models.CharField(max_length=255)
    path = models.CharField(max_length=255)

    objects: ClassVar[models.Manager[WaitRoute]] = models.Manager()

    class Meta:
        app_label = "automate"
        constraints = [
            models.UniqueConstraint(fields=("tenant", "event_type", "path"), name="automate_waitroute_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} by {self.path}"
