"""Runs and their step attempts; stored input, output and errors are shown redacted."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from django_automate.api.serializers.common import RedactedJSONField
from django_automate.models import ExecutionRun, StepRun
from django_automate.runs import held_back


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


class HeldBackSerializer(serializers.Serializer):
    """What holds a run back now (SPEC §14): a concurrency slot or a step's rate limit."""

    reason = serializers.ChoiceField(choices=sorted(held_back.REASONS.values()), read_only=True)
    key = serializers.CharField(read_only=True, help_text="The key, rendered from redacted data.")
    step = serializers.CharField(read_only=True, help_text='The step waiting for a token ("" for a slot).')
    until = serializers.DateTimeField(read_only=True, help_text="When the run's job tries again (or sooner).")


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
    held_back = serializers.SerializerMethodField(
        help_text="Null, or what holds the run back now: a concurrency slot or a rate limit, with its key."
    )

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
            "held_back",
        )
        read_only_fields: tuple[str, ...] = fields

    @extend_schema_field(HeldBackSerializer(allow_null=True))
    def get_held_back(self, run: ExecutionRun) -> dict[str, Any] | None:
        found = held_back.of(run)
        return HeldBackSerializer(found.as_dict()).data if found else None


class RunDetailSerializer(RunSerializer):
    steps = StepRunSerializer(many=True, read_only=True, help_text="Every attempt of every step, in order.")

    class Meta(RunSerializer.Meta):
        fields = (*RunSerializer.Meta.fields, "steps")
        read_only_fields = fields
