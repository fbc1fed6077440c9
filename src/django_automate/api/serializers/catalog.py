"""Read-only shapes that are not rows: connectors and trace timelines."""

from __future__ import annotations

from rest_framework import serializers


class ActionSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    input_schema = serializers.JSONField(help_text="JSON Schema of the step's `with`.")


class ConnectorSerializer(serializers.Serializer):
    type = serializers.CharField()
    actions = ActionSerializer(many=True)


class TimelineEntrySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=("event", "run", "step", "audit"))
    at = serializers.DateTimeField()
    data = serializers.JSONField()  # type: ignore[assignment]  # a field, not Serializer.data


class TraceSerializer(serializers.Serializer):
    trace_id = serializers.UUIDField()
    entries = TimelineEntrySerializer(many=True, help_text="Oldest first.")
