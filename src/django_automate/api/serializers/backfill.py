"""Backfills (``events/replay/``): the request, the dry-run report and a backfill's progress."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from django_automate.api.serializers.common import AnyJSONField
from django_automate.api.serializers.events import EventSerializer
from django_automate.models import Backfill


class BackfillRequestSerializer(serializers.Serializer):
    filter = AnyJSONField(
        required=False,
        default=dict,
        help_text=(
            "Which events: type, endpoint (slug), received_from / received_until (ISO 8601, inclusive / "
            "exclusive), status, where (JSON Logic on the event, like a rule condition). All optional."
        ),
    )
    dry_run = serializers.BooleanField(
        default=True, help_text="true (the default): only report what a backfill would do; false: start it."
    )


class WorkflowForecastSerializer(serializers.Serializer):
    workflow = serializers.CharField(help_text="Workflow slug.")
    would_start = serializers.IntegerField(help_text="Runs the current rules would start for the events.")
    ran_originally = serializers.IntegerField(help_text="The events' first runs of this workflow.")
    runs_so_far = serializers.IntegerField(help_text="All the events' runs of this workflow, replays included.")


class DryRunSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    filter = serializers.JSONField(help_text="The filter as applied (without an end, it ends now).")
    matched = serializers.IntegerField(help_text="Events the whole filter selects.")
    scanned = serializers.IntegerField(help_text="Events its fields but the condition select.")
    would_start = serializers.IntegerField(help_text="Runs a backfill would start.")
    workflows = WorkflowForecastSerializer(many=True)
    sample = EventSerializer(many=True, help_text="Up to 10 of the events, redacted (needs automate.view_event).")
    seconds = serializers.FloatField(help_text="How long the dry run took.")


class BackfillSerializer(serializers.ModelSerializer):
    cursor = serializers.SerializerMethodField(help_text="The last event processed: received_at and id, or null.")
    url = serializers.SerializerMethodField(help_text="This backfill's progress.")

    class Meta:
        model = Backfill
        fields = (
            "id",
            "url",
            "tenant",
            "status",
            "filter",
            "total",
            "processed",
            "matched",
            "started",
            "workflows",
            "cursor",
            "error",
            "requested_by",
            "trace_id",
            "created_at",
            "updated_at",
            "finished_at",
        )
        read_only_fields = fields

    def get_cursor(self, obj: Backfill) -> dict[str, Any] | None:
        if obj.cursor_event_id is None or obj.cursor_received_at is None:
            return None
        return {"received_at": obj.cursor_received_at.isoformat(), "event_id": str(obj.cursor_event_id)}

    def get_url(self, obj: Backfill) -> str:
        from django.urls import reverse

        return reverse("automate:api:backfill-detail", args=[obj.pk])
