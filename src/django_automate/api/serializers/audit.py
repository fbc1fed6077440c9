"""Audit entries: read-only, data redacted."""

from __future__ import annotations

from rest_framework import serializers

from django_automate.api.serializers.common import RedactedJSONField
from django_automate.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    data = RedactedJSONField()  # type: ignore[assignment]  # a field, not Serializer.data

    class Meta:
        model = AuditEntry
        fields = (
            "id",
            "seq",
            "tenant",
            "action",
            "actor",
            "object_type",
            "object_id",
            "trace_id",
            "data",
            "prev_hash",
            "hash",
            "created_at",
        )
        read_only_fields = fields
