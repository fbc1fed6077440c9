"""Results of tasks enqueued through Django's Tasks framework on :class:`~django_automate.tasks.AutomateBackend`."""

from __future__ import annotations

from django.db import models

from django_automate.models.base import JSONField, tenant_field, trace_id_field, uuid_pk


class TaskStatus(models.TextChoices):
    """The values of Django's ``TaskResultStatus``, kept here so the models import without the Tasks framework."""

    READY = "READY", "Ready"
    RUNNING = "RUNNING", "Running"
    FAILED = "FAILED", "Failed"
    SUCCESSFUL = "SUCCESSFUL", "Successful"


class TaskResult(models.Model):
    """One ``task.enqueue(...)``: what to call, its outcome, and the outbox job that runs it.

    ``id`` is the id Django's ``TaskResult`` carries (``get_result(id)``). Written in the caller's
    transaction together with ``job``; every later write by a worker is fenced by that job's lease.
    """

    id = uuid_pk()
    tenant = tenant_field()
    task_path = models.CharField(max_length=255, db_index=True, help_text="Import path of the task.")
    backend = models.CharField(max_length=64, default="default", help_text="Alias in the TASKS setting.")
    args = JSONField(default=list, blank=True)
    kwargs = JSONField(default=dict, blank=True)
    queue = models.CharField(max_length=64, default="default")
    priority = models.SmallIntegerField(default=0)
    run_after = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.READY)
    return_value = JSONField(null=True, blank=True, help_text="Stored redacted.")
    errors = JSONField(default=list, blank=True, help_text="[{exception_class_path, traceback}], one per failure.")
    attempts = models.PositiveIntegerField(default=0)
    worker_ids = JSONField(default=list, blank=True)
    job = models.OneToOneField(
        "automate.OutboxJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="task_result"
    )
    trace_id = trace_id_field()
    enqueued_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "automate"
        ordering = ("-enqueued_at",)
        indexes = [models.Index(fields=("status", "queue"), name="automate_task_status_idx")]

    def __str__(self) -> str:
        return f"{self.task_path} ({self.status})"
