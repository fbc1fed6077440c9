"""Approval steps: a pending approval as listed, a decision as sent and as recorded."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from django_automate.models import RunWait
from django_automate.runs.approvals import MAX_COMMENT


class ApprovalSerializer(serializers.ModelSerializer):
    """One approval step of a run: what it asks, who may decide, until when, and the decision once made."""

    run: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="Id of the waiting run."
    )
    workflow = serializers.CharField(source="run.workflow.slug", read_only=True, help_text="Workflow slug.")
    requested_at = serializers.DateTimeField(source="created_at", read_only=True)
    decision = serializers.CharField(read_only=True, help_text='"approve", "reject", or "" while pending.')

    class Meta:
        model = RunWait
        fields = (
            "id",
            "run",
            "workflow",
            "step_id",
            "attempt",
            "title",
            "permission",
            "on_timeout",
            "requested_at",
            "timeout_at",
            "decision",
            "decided_by",
            "comment",
            "decided_at",
        )
        read_only_fields = fields


class DecisionSerializer(serializers.Serializer):
    """The body of ``POST runs/{id}/approvals/{step_id}/``."""

    decision = serializers.ChoiceField(choices=("approve", "reject"))
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_COMMENT)
