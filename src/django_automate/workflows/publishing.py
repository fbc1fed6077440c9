"""Creating workflows and publishing new immutable versions of them."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from django_automate.audit import log as audit
from django_automate.internal.jsonutil import canonical_json, sha256_hex
from django_automate.models import Workflow, WorkflowVersion
from django_automate.workflows.definition import validate_definition


def create_workflow(
    *, slug: str, name: str, definition: dict[str, Any], description: str = "", tenant: str = "", author: str = ""
) -> Workflow:
    """Create a workflow and publish its version 1."""
    validate_definition(definition)
    with transaction.atomic():
        workflow = Workflow.objects.create(slug=slug, name=name, description=description, tenant=tenant)
        publish(workflow, definition, author=author)
    return workflow


def publish(workflow: Workflow, definition: dict[str, Any], *, author: str = "") -> WorkflowVersion:
    """Validate ``definition`` and make it the workflow's next, current version."""
    validate_definition(definition)
    with transaction.atomic():
        # Writing first takes the workflow's row lock (PostgreSQL, MySQL) or the database's
        # write lock (SQLite, where reading first and writing later can deadlock) before the
        # next number is read, so concurrent publishers queue instead of colliding.
        Workflow.objects.filter(pk=workflow.pk).update(updated_at=timezone.now())
        locked = Workflow.objects.get(pk=workflow.pk)
        number = (locked.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = WorkflowVersion.objects.create(
            workflow=locked,
            number=number,
            definition=definition,
            sha256=sha256_hex(canonical_json(definition)),
            author=author,
        )
        Workflow.objects.filter(pk=locked.pk).update(current_version=version)
        workflow.current_version = version
        audit.record(
            "workflow.published",
            actor=author or "system",
            object_type="workflow",
            object_id=str(workflow.pk),
            tenant=workflow.tenant,
            data={"slug": workflow.slug, "version": number, "sha256": version.sha256},
        )
    return version
