"""Events: redacted by default, raw with ``automate.view_raw_payload``; created through ``record_event``."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from django_automate.api.serializers.common import AnyJSONField, RedactedHeadersField, RedactedJSONField
from django_automate.models import Event


class EventSerializer(serializers.ModelSerializer):
    payload = RedactedJSONField(help_text="The payload, values under sensitive keys redacted.")
    headers = RedactedHeadersField(help_text="Stored request headers, redacted.")
    endpoint: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="Slug of the webhook endpoint, if any."
    )

    class Meta:
        model = Event
        fields = (
            "id",
            "tenant",
            "type",
            "source",
            "status",
            "idempotency_key",
            "trace_id",
            "endpoint",
            "payload",
            "headers",
            "received_at",
            "routed_at",
        )
        read_only_fields = fields


class RawEventSerializer(EventSerializer):
    """The stored payload and headers as received (``?raw=true``)."""

    payload = serializers.JSONField(read_only=True)  # type: ignore[assignment]
    headers = serializers.JSONField(read_only=True)  # type: ignore[assignment]


class EventCreateSerializer(serializers.Serializer):
    """``POST events/``: send ``Idempotency-Key`` to make retries safe."""

    type = serializers.CharField(min_length=1, max_length=255, help_text='Event type, e.g. "order.paid".')
    payload = AnyJSONField(required=False, default=dict, help_text="Any JSON value.")


class RunRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    workflow = serializers.CharField(help_text="Workflow slug.")
    version = serializers.IntegerField(help_text="Workflow version number the run is pinned to.")
    status = serializers.CharField()


class ReplayResultSerializer(serializers.Serializer):
    event_id = serializers.UUIDField()
    runs = RunRefSerializer(many=True, help_text="The new runs, one per workflow the event's rules match now.")
