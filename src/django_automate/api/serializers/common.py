"""Fields and shapes shared by the resources: the NormalizedError body, JSON values, bounded integers."""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import RegexValidator
from django.db.models import Model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from django_automate import exceptions
from django_automate.api.parsers import check_storable
from django_automate.policy.redaction import redact

#: The codes an error body can carry (SPEC §10).
ERROR_CODES = (
    "validation_error",
    "malformed_payload",
    "not_authenticated",
    "invalid_signature",
    "signature_expired",
    "permission_denied",
    "resource_not_found",
    "method_not_allowed",
    "conflict",
    "idempotency_conflict",
    "payload_too_large",
    "unsupported_media_type",
    "throttled",
    "budget_exceeded",
    "internal_error",
    "service_unavailable",
)
INT32_MAX = 2**31 - 1


class NormalizedErrorSerializer(serializers.Serializer):
    """The one error shape: ``{"code", "message", "details", "trace_id"}``."""

    code = serializers.ChoiceField(choices=ERROR_CODES, help_text="Stable, machine-readable error code.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    details = serializers.DictField(help_text="Structured context, e.g. field errors under `fields`.")
    trace_id = serializers.CharField(help_text="The request's trace id (also in the X-Trace-Id header).")


@extend_schema_field(OpenApiTypes.ANY)
class AnyJSONField(serializers.JSONField):
    """Any JSON value that every supported database can store."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        check_storable(value)
        return value


@extend_schema_field(OpenApiTypes.ANY)
class RedactedJSONField(serializers.JSONField):
    """Read-only JSON with values under sensitive keys replaced by ``[REDACTED]``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        return redact(value)


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
class RedactedHeadersField(RedactedJSONField):
    """Stored request headers (lower-case names), redacted."""


class Int32Field(serializers.IntegerField):
    """An integer that fits every database's INTEGER column."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", -INT32_MAX - 1)
        kwargs.setdefault("max_value", INT32_MAX)
        super().__init__(**kwargs)


def unique_in_tenant(serializer: serializers.Serializer, model: type[Model], field: str, value: Any) -> Any:
    """409 ``conflict`` if another row of the caller's tenant (``context["tenant"]``) already has ``value``."""
    rows = model._default_manager.filter(**{"tenant": serializer.context.get("tenant", ""), field: value})
    if serializer.instance is not None:
        rows = rows.exclude(pk=serializer.instance.pk)
    if rows.exists():
        raise exceptions.Conflict(
            f"A {model._meta.verbose_name} with {field} {value!r} already exists.", details={"field": field}
        )
    return value


class WholeRegexValidator(RegexValidator):
    """A RegexValidator that matches the whole value.

    Python's ``$`` also matches before a final newline (``"global\\n"``); the schema's patterns
    are ECMA-262, whose ``$`` does not. Matching the whole value makes both say the same.
    """

    def __call__(self, value: Any) -> None:
        super().__call__(value)
        if not re.compile(self.regex).fullmatch(str(value)):
            raise serializers.ValidationError(self.message, code=self.code)


class WholeRegexField(serializers.RegexField):
    """DRF's RegexField, matched against the whole value as sent (see :class:`WholeRegexValidator`).

    Not trimmed either: ``" global"`` is not a value the schema's pattern allows.
    """

    def __init__(self, regex: str | re.Pattern[str], **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(regex, **kwargs)
        self.validators = [v for v in self.validators if type(v) is not RegexValidator]
        self.validators.append(WholeRegexValidator(regex, message=self.error_messages["invalid"]))
