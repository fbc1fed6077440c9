"""Rules (the workflow is named by slug) and the "test a rule" request and result."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from django_automate import exceptions
from django_automate.api.serializers.common import AnyJSONField, Int32Field
from django_automate.models import RuleSpec, Workflow
from django_automate.rules.services import MAX_DEBOUNCE_KEY, MAX_DEBOUNCE_SECONDS

CONDITION_HELP = "JSON Logic over {event: {...}}; true matches every event of the type."


def validated_condition(value: Any) -> Any:
    from django_automate.rules.jsonlogic import validate_logic

    try:
        validate_logic(value)
    except exceptions.AutomateError as exc:
        raise serializers.ValidationError(exc.message) from None
    return value


class TenantWorkflowField(serializers.SlugRelatedField):
    """A workflow of the caller's tenant, by slug."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="slug", **kwargs)

    def get_queryset(self) -> QuerySet[Workflow]:
        return Workflow.objects.filter(tenant=self.context.get("tenant", ""))


class RuleSerializer(serializers.ModelSerializer):
    workflow = TenantWorkflowField(help_text="Slug of the workflow to run.")
    condition = AnyJSONField(required=False, default=True, help_text=CONDITION_HELP)
    priority = Int32Field(required=False, default=0, help_text="Higher priorities are evaluated first.")
    debounce_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=MAX_DEBOUNCE_SECONDS,
        help_text="Events with the same debounce_key within this many seconds start one run, for the last of them.",
    )
    debounce_key = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MAX_DEBOUNCE_KEY,
        help_text='Template over the event, e.g. "{{ event.payload.id }}"; required with debounce_seconds.',
    )
    #: Stated in the document's 400 answer: checks beyond the JSON Schema.
    schema_rules = (
        "`workflow` must be the slug of an existing workflow of your tenant.",
        "`condition` must be valid JSON Logic (docs/rules.md).",
        "`debounce_key` must be a template over the event, given exactly when `debounce_seconds` is (docs/rules.md).",
    )

    class Meta:
        model = RuleSpec
        fields = (
            "id",
            "tenant",
            "name",
            "event_type",
            "condition",
            "workflow",
            "priority",
            "enabled",
            "debounce_seconds",
            "debounce_key",
            "version",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "tenant", "version", "created_at", "updated_at")
        extra_kwargs = {"name": {"min_length": 1}, "event_type": {"min_length": 1}}
        validators: list[Any] = []  # (tenant, name) is checked by rules.services.save_rule (409)

    def validate_condition(self, value: Any) -> Any:
        return validated_condition(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        from django_automate.rules.services import validate_debounce

        instance = self.instance
        seconds = attrs.get("debounce_seconds", getattr(instance, "debounce_seconds", None))
        key = attrs.get("debounce_key", getattr(instance, "debounce_key", ""))
        try:
            validate_debounce(seconds, key)
        except exceptions.AutomateError as exc:
            raise serializers.ValidationError({str(exc.details.get("field", "debounce_key")): [exc.message]}) from None
        return attrs


class RuleDraftSerializer(serializers.Serializer):
    """A rule that is not saved: what to try before creating it."""

    event_type = serializers.CharField(min_length=1, max_length=255, default="*")
    condition = AnyJSONField(required=False, default=True, help_text=CONDITION_HELP)

    def validate_condition(self, value: Any) -> Any:
        return validated_condition(value)


class SampleEventSerializer(serializers.Serializer):
    """An event that is not stored: a type and a sample payload."""

    type = serializers.CharField(min_length=1, max_length=255)
    payload = AnyJSONField(required=False, default=dict)


class RuleTestSerializer(serializers.Serializer):
    """One of ``rule``/``rule_id`` (neither: every enabled rule) and one of ``event``/``event_id``."""

    rule_id = serializers.UUIDField(required=False, help_text="A saved rule.")
    rule = RuleDraftSerializer(required=False, help_text="An unsaved rule.")
    event_id = serializers.UUIDField(required=False, help_text="A stored event.")
    event = SampleEventSerializer(required=False, help_text="A sample event.")
    schema_constraints = {
        "oneOf": [{"required": ["event"]}, {"required": ["event_id"]}],
        "not": {"required": ["rule", "rule_id"]},
    }
    #: Stated in the document's 400 answer: checks beyond the JSON Schema.
    schema_rules = ("`rule.condition` must be valid JSON Logic (docs/rules.md).",)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "rule" in attrs and "rule_id" in attrs:
            raise serializers.ValidationError("Give rule or rule_id, not both.")
        if ("event" in attrs) == ("event_id" in attrs):
            raise serializers.ValidationError("Give exactly one of event and event_id.")
        return attrs


class RuleResultSerializer(serializers.Serializer):
    rule_id = serializers.UUIDField(allow_null=True, help_text="null for an unsaved rule.")
    name = serializers.CharField()
    event_type = serializers.CharField()
    type_matched = serializers.BooleanField()
    condition_matched = serializers.BooleanField()
    matched = serializers.BooleanField()
    explanation = serializers.JSONField(help_text="The evaluation tree (docs/rules.md#explain).")
    error = serializers.JSONField(allow_null=True, help_text='null, or {"type", "message"} when evaluation failed.')


class RuleTestResultSerializer(serializers.Serializer):
    matched = serializers.BooleanField(help_text="Whether any of the tested rules matched.")
    redacted = serializers.BooleanField(
        help_text="true when the explanation hides values read from sensitive keys of a stored event "
        "(the caller lacks automate.view_raw_payload)."
    )
    results = RuleResultSerializer(many=True)
