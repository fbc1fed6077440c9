"""Schedules: a cron expression or an interval, in a time zone.

Field rules are those of :func:`django_automate.ingestion.schedules.validation.validate_schedule`
(the admin and your own code use it too), so the API accepts exactly what the scheduler can run.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from django_automate import exceptions
from django_automate.api.serializers.common import AnyJSONField, WholeRegexField, unique_in_tenant
from django_automate.ingestion.schedules import validation
from django_automate.ingestion.schedules.ticks import ALIASES, normalize_cron
from django_automate.models import Schedule

MAX_INTERVAL = 366 * 24 * 3600
CRON_HELP = (
    "Five fields (minute hour day-of-month month day-of-week, croniter syntax) or one of "
    + ", ".join(sorted(ALIASES))
    + "; hashed (H) and random (R) values are not allowed."
)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {},
        "not": {"required": [validation.RESERVED_KEY]},
        "description": f"Merged into each tick's event payload; the key {validation.RESERVED_KEY!r} is set by ticks.",
    }
)
class SchedulePayloadField(AnyJSONField):
    """A JSON object without the reserved ``schedule`` key."""


class ScheduleSerializer(serializers.ModelSerializer):
    name = WholeRegexField(validation.NAME, max_length=100, help_text='Events are typed "schedule.<name>".')
    cron = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100, trim_whitespace=False, help_text=CRON_HELP
    )
    interval_seconds = serializers.IntegerField(
        min_value=1, max_value=MAX_INTERVAL, required=False, allow_null=True, default=None
    )
    payload = SchedulePayloadField(required=False, default=dict)
    #: Exactly one cadence: a cron expression (not blank) or an interval (not null).
    schema_constraints = {
        "oneOf": [
            {"required": ["cron"], "properties": {"cron": {"type": "string", "pattern": r"\S"}}},
            {"required": ["interval_seconds"], "properties": {"interval_seconds": {"type": "integer"}}},
        ]
    }
    #: Stated in the document's 400 answer: checks beyond the JSON Schema.
    schema_rules = (
        "`cron` must be an expression the scheduler can run; after a partial update the schedule still needs"
        " exactly one of `cron` and `interval_seconds`.",
        "`timezone` must be an IANA time zone name.",
    )

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
        value = " ".join(value.split())
        if value:
            try:
                normalize_cron(value)
            except exceptions.ValidationError as exc:
                raise serializers.ValidationError(exc.message) from None
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        def current(name: str, default: Any) -> Any:
            return attrs.get(name, getattr(self.instance, name, default))

        try:
            validation.validate_schedule(
                name=current("name", ""),
                cron=current("cron", ""),
                interval_seconds=current("interval_seconds", None),
                timezone=current("timezone", "UTC"),
                payload=current("payload", None),
                catch_up=current("catch_up", Schedule.CatchUp.RUN_ONCE),
            )
        except exceptions.ValidationError as exc:
            fields: dict[str, list[str]] = {}
            for error in exc.details.get("errors", []):
                fields.setdefault(error["field"], []).append(error["message"])
            raise serializers.ValidationError(fields or exc.message) from None
        return attrs
