"""Secrets (metadata only; values are write-only) and budgets."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from django_automate.api.serializers.common import WholeRegexField, unique_in_tenant
from django_automate.models import Budget, Secret

SECRET_NAME = re.compile(r"^[A-Za-z0-9_./-]+$")
#: The same language in Python's ``re`` and in ECMA-262 (the OpenAPI pattern): ``\s`` differs between
#: them (Python's has U+001C-U+001F and U+0085, ECMA's U+FEFF), so a tenant excludes both sets.
SCOPE = re.compile(
    r"^(global|tenant:[^\s\x1c-\x1f\x85\ufeff]{0,64}|workflow:[-a-zA-Z0-9_]{1,100}|connector:[a-z0-9_.\-]{1,64})$"
)


class SecretSerializer(serializers.ModelSerializer):
    name = WholeRegexField(SECRET_NAME, max_length=200, help_text="Referenced as $secret:<name>.")
    value = serializers.CharField(
        write_only=True,
        max_length=65536,
        trim_whitespace=False,
        help_text="The secret value; write-only, never returned.",
    )
    #: Stated in the document's 400 answer of updates: a check beyond the JSON Schema.
    schema_update_rules = ("A secret cannot be renamed: `name` must be its current name.",)

    class Meta:
        model = Secret
        fields = ("id", "tenant", "name", "description", "value", "created_at", "updated_at")
        read_only_fields = ("id", "tenant", "created_at", "updated_at")
        validators: list[Any] = []

    def validate_name(self, value: str) -> str:
        return unique_in_tenant(self, Secret, "name", value)


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,6})?$", "example": "100.0"}
)
class LimitField(serializers.DecimalField):
    """A budget's limit: at most 12 digits, 6 decimals, not negative (the column's range)."""


class BudgetSerializer(serializers.ModelSerializer):
    scope = WholeRegexField(
        SCOPE, max_length=200, help_text='"global", "tenant:<t>", "workflow:<slug>" or "connector:<type>".'
    )
    limit = LimitField(max_digits=18, decimal_places=6, min_value=0)

    class Meta:
        model = Budget
        fields = (
            "id",
            "tenant",
            "scope",
            "metric",
            "limit",
            "period",
            "on_exceed",
            "enabled",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "tenant", "created_at", "updated_at")


class BudgetUsageSerializer(serializers.Serializer):
    """The budget's current window."""

    budget = serializers.UUIDField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    used = serializers.DecimalField(max_digits=18, decimal_places=6)
    limit = serializers.DecimalField(max_digits=18, decimal_places=6)
    remaining = serializers.DecimalField(max_digits=18, decimal_places=6)
    exhausted = serializers.BooleanField()
