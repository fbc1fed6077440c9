"""Schedules: a cron expression or an interval, in a time zone."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from rest_framework import serializers

from django_automate.api.serializers.common import AnyJSONField, unique_in_tenant
from django_automate.models import Schedule

NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
MAX_INTERVAL = 366 * 24 * 3600


class ScheduleSerializer(serializers.ModelSerializer):
    name = serializers.RegexField(NAME, max_length=100, help_text='Events are typed "schedule.<name>".')
    cron = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    interval_seconds = serializers.IntegerField(
        min_value=1, max_value=MAX_INTERVAL, required=False, allow_null=True, default=None
    )
    payload = AnyJSONField(required=False, default=dict)

    class Meta:
        model = Schedule
        fields = (
            "id",
            "tenant",
            "name",
            "cron",
            "interval_seconds",
            "timezone",
            "payload",
            "catch_up",
            "enabled",
            "next_tick_at",
            "last_tick_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "tenant", "next_tick_at", "last_tick_at", "created_at", "updated_at")
        validators: list[Any] = []

    def validate_name(self, value: str) -> str:
        return unique_in_tenant(self, Schedule, "name", value)

    def validate_cron(self, value: str) -> str:
        from croniter import croniter  # type: ignore[import-untyped]

        value = value.strip()
        if value and (len(value.split()) != 5 or not croniter.is_valid(value)):
            raise serializers.ValidationError("Not a valid five-field cron expression.")
        return value

    def validate_timezone(self, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(f"Unknown time zone {value!r}.") from None
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        cron = attrs.get("cron", getattr(self.instance, "cron", ""))
        interval = attrs.get("interval_seconds", getattr(self.instance, "interval_seconds", None))
        if bool(cron) == (interval is not None):
            raise serializers.ValidationError("Give exactly one of cron and interval_seconds.")
        return attrs
