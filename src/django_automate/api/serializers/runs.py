"""Runs and their step attempts; stored input, output and errors are shown redacted."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from django_automate.api.serializers.common import RedactedJSONField
from django_automate.models import ExecutionRun, StepRun


class StepRunSerializer(serializers.ModelSerializer):
    input = RedactedJSONField(allow_null=True)
    output = RedactedJSONField(allow_null=True)
    error = RedactedJSONField(allow_null=True)

    class Meta:
        model = StepRun
        fields = (
            "id",
            "step_id",
            "step_index",
            "attempt",
            "connector",
            "action",
            "status",
            "idempotency_key",
            "input",
            "output",
            "error",
            "cost",
            "trace_id",
            "created_at",
            "started_at",
            "finished_at",
            "duration_ms",
        )
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    event: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="Id of the event."
    )
    workflow: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, help_text="Workflow slug."
    )
    version = serializers.IntegerField(source="workflow_version.number", read_only=True)
    rule: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True, help_text="Name of the rule that matched."
    )
    replay_of: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )
    error = RedactedJSONField(allow_null=True)

    class Meta:
        model = ExecutionRun
        fields: tuple[str, ...] = (
            "id",
            "tenant",
            "event",
            "workflow",
            "version",
            "rule",
            "status",
            "replay_of",
            "replay_seq",
            "error",
            "trace_id",
            "created_at",
            "started_at",
            "finished_at",
            "waiting_until",
        )
        read_only_fields: tuple[str, ...] = fields


class RunDetailSerializer(RunSerializer):
    steps = StepRunSerializer(many=True, read_only=True, help_text="Every attempt of every step, in order.")

    class Meta(RunSerializer.Meta):
        fields = (*RunSerializer.Meta.fields, "steps")
        read_only_fields = fields
