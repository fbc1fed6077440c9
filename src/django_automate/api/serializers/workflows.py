"""Workflows: created with version 1, changed only by publishing new immutable versions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from django_automate.api.serializers.common import AnyJSONField
from django_automate.models import Workflow, WorkflowVersion

DEFINITION_HELP = 'The workflow definition: {"steps": [...]} (docs/workflows.md).'


class WorkflowVersionSerializer(serializers.ModelSerializer):
    definition = serializers.JSONField(read_only=True)

    class Meta:
        model = WorkflowVersion
        fields = ("id", "number", "definition", "sha256", "author", "created_at")
        read_only_fields = fields


class WorkflowSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(
        source="current_version.number", read_only=True, allow_null=True, help_text="Current version number."
    )
    definition = serializers.SerializerMethodField(help_text="Definition of the current version.")

    class Meta:
        model = Workflow
        fields = (
            "id",
            "tenant",
            "slug",
            "name",
            "description",
            "enabled",
            "version",
            "definition",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "tenant", "slug", "version", "definition", "created_at", "updated_at")
        extra_kwargs = {"name": {"min_length": 1}, "description": {"max_length": 10000}}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """A definition is changed only by publishing a new version; never drop it silently."""
        if isinstance(self.initial_data, dict) and "definition" in self.initial_data:
            slug = self.instance.slug if self.instance is not None else "{slug}"
            raise serializers.ValidationError(
                {"definition": [f"Definitions are published as new versions: POST workflows/{slug}/publish/."]}
            )
        return attrs

    @extend_schema_field({"type": "object", "nullable": True, "additionalProperties": {}})
    def get_definition(self, workflow: Workflow) -> dict[str, Any] | None:
        version = workflow.current_version
        return version.definition if version is not None else None


@extend_schema_field(
    {"type": "object", "additionalProperties": {}, "required": ["steps"], "description": DEFINITION_HELP}
)
class DefinitionField(AnyJSONField):
    """A workflow definition (a JSON object); its full checks run when it is published."""


class WorkflowCreateSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=100)
    name = serializers.CharField(min_length=1, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=10000)
    definition = DefinitionField(help_text=DEFINITION_HELP)
    #: Stated in the document's 400 answer: checks beyond the JSON Schema.
    schema_rules = ("`definition` must pass the publish checks (docs/workflows.md).",)


class PublishSerializer(serializers.Serializer):
    definition = DefinitionField(help_text=DEFINITION_HELP)
    #: Stated in the document's 400 answer: checks beyond the JSON Schema.
    schema_rules = ("`definition` must pass the publish checks (docs/workflows.md).",)
