"""Webhook endpoints; secrets are SecretRef strings (``"$secret:NAME"``), never values."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from django_automate import exceptions
from django_automate.api.serializers.common import WholeRegexField, WholeRegexValidator
from django_automate.models import WebhookEndpoint

SECRET_REF = re.compile(r"^\$secret:[A-Za-z0-9_./-]+$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
PLACEHOLDER = re.compile(  # as ingestion.webhooks.keys.PLACEHOLDER, with its optional | default("…")
    r"\{\{\s*(body|headers)\.[A-Za-z0-9_.\-]+\s*(?:\|\s*default\s*\(\s*\"(?:[^\"\\\x00-\x1f]|\\.){0,255}\"\s*\)\s*)?\}\}"
)
IDEMPOTENCY = re.compile(r"^(auto|body_hash|header:[A-Za-z0-9-]+|body:[A-Za-z0-9_.\-]+)$")
MAX_BODY_BYTES = 100 * 1024 * 1024


class EndpointSerializer(serializers.ModelSerializer):
    slug = serializers.SlugField(max_length=100, help_text="Deliveries go to /automate/hooks/<slug>/.")
    secrets = serializers.ListField(
        child=WholeRegexField(SECRET_REF, max_length=220),
        required=False,
        default=list,
        max_length=10,
        help_text='SecretRefs; several allow rotation, e.g. ["$secret:GH_HOOK"].',
    )
    store_headers = serializers.ListField(
        child=WholeRegexField(HEADER_NAME, max_length=100),
        required=False,
        default=list,
        max_length=100,
        help_text="Header names to store with events; empty stores all but credentials.",
    )
    tolerance_seconds = serializers.IntegerField(min_value=0, max_value=86400, required=False, default=300)
    max_body_bytes = serializers.IntegerField(min_value=1, max_value=MAX_BODY_BYTES, required=False, default=1048576)
    rate_limit_per_minute = serializers.IntegerField(
        min_value=1, max_value=1_000_000, required=False, allow_null=True, default=None
    )

    #: Stated in the document's 400 answer: checks beyond the JSON Schema.
    schema_rules = (
        "A `scheme` other than `none` needs at least one secret (after a partial update too).",
        '`event_type` placeholders must be "{{ body.<path> }}" or "{{ headers.<lower-case-name> }}".',
    )

    class Meta:
        model = WebhookEndpoint
        fields = (
            "id",
            "tenant",
            "slug",
            "name",
            "event_type",
            "scheme",
            "secrets",
            "signature_header",
            "signature_encoding",
            "tolerance_seconds",
            "max_body_bytes",
            "idempotency",
            "store_headers",
            "rate_limit_per_minute",
            "enabled",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "tenant", "created_at", "updated_at")
        extra_kwargs = {
            "event_type": {"min_length": 1},
            "idempotency": {
                "required": False,
                "validators": [
                    WholeRegexValidator(IDEMPOTENCY, 'Use "auto", "body_hash", "header:<name>" or "body:<path>".')
                ],
            },
            "signature_header": {"required": False},
            "signature_encoding": {"required": False},
        }

    def validate_slug(self, value: str) -> str:
        # Slugs are global (they are URLs), not per tenant.
        taken = WebhookEndpoint.objects.filter(slug=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise exceptions.Conflict(f"The slug {value!r} is taken.", details={"field": "slug"})
        return value

    def validate_event_type(self, value: str) -> str:
        if "{{" in PLACEHOLDER.sub("", value) or "}}" in PLACEHOLDER.sub("", value):
            raise serializers.ValidationError(
                'Placeholders must be "{{ body.<path> }}" or "{{ headers.<lower-case-name> }}".'
            )
        return value

    def validate_signature_header(self, value: str) -> str:
        if value and not HEADER_NAME.match(value):
            raise serializers.ValidationError("Not a valid header name.")
        return value

    def validate_idempotency(self, value: str) -> str:
        if not IDEMPOTENCY.match(value):
            raise serializers.ValidationError('Use "auto", "body_hash", "header:<name>" or "body:<path>".')
        return value

    def validate_store_headers(self, value: list[str]) -> list[str]:
        return [name.lower() for name in value]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        scheme = attrs.get("scheme", getattr(self.instance, "scheme", "none"))
        secrets = attrs.get("secrets", getattr(self.instance, "secrets", []))
        if scheme != "none" and not secrets:
            raise serializers.ValidationError({"secrets": [f"The {scheme} scheme needs at least one secret."]})
        return attrs
