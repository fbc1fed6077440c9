"""Workflows and their immutable versions."""

from __future__ import annotations

from typing import Any

from django.db import models

from django_automate import exceptions
from django_automate.models.base import JSONField, tenant_field, uuid_pk


class Workflow(models.Model):
    """A named automation; what it does lives in its WorkflowVersions."""

    id = uuid_pk()
    tenant = tenant_field()
    slug = models.SlugField(max_length=100)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    current_version = models.ForeignKey(
        "automate.WorkflowVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "automate"
        ordering = ("slug",)
        constraints = [models.UniqueConstraint(fields=("tenant", "slug"), name="automate_workflow_unique_slug")]

    def __str__(self) -> str:
        return self.slug


class WorkflowVersionQuerySet(models.QuerySet["WorkflowVersion"]):
    """Refuses bulk changes: stored versions are immutable, whichever way a write is attempted."""

    def update(self, **kwargs: Any) -> int:
        raise exceptions.Conflict("Workflow versions are immutable; publish a new version instead.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise exceptions.Conflict("Workflow versions are immutable and cannot be deleted.")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        raise exceptions.Conflict("Workflow versions are immutable; publish a new version instead.")


class WorkflowVersion(models.Model):
    """An immutable snapshot of a workflow definition; runs are pinned to one."""

    id = uuid_pk()
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    definition = JSONField()
    sha256 = models.CharField(max_length=64, help_text="sha256 of the canonical JSON definition.")
    author = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkflowVersionQuerySet.as_manager()

    class Meta:
        app_label = "automate"
        ordering = ("workflow", "-number")
        constraints = [
            models.UniqueConstraint(fields=("workflow", "number"), name="automate_workflowversion_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise exceptions.Conflict("Workflow versions are immutable; publish a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise exceptions.Conflict("Workflow versions are immutable and cannot be deleted.")
