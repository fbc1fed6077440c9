"""Admin forms: JSON fields edited as text and validated by the same code as the API."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from django_automate import exceptions
from django_automate.workflows.definition import validate_definition


def parse_json(text: str, field: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise forms.ValidationError(f"{field} is not valid JSON: {exc}") from exc


def problems_as_errors(exc: exceptions.AutomateError) -> forms.ValidationError:
    """Show every problem at its JSON path."""
    errors = exc.details.get("errors")
    if errors:
        return forms.ValidationError([f"{e['path']}: {e['message']}" for e in errors])
    path = exc.details.get("path")
    return forms.ValidationError(f"{path}: {exc.message}" if path else exc.message)


class DefinitionField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 24, "cols": 100, "class": "automate-json-editor", "spellcheck": "false"})

    def prepare_value(self, value: Any) -> Any:
        return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)

    def clean(self, value: Any) -> Any:
        definition = parse_json(super().clean(value), "The definition")
        try:
            validate_definition(definition)
        except exceptions.AutomateError as exc:
            raise problems_as_errors(exc) from exc
        return definition


class RuleForm(forms.ModelForm):
    """A rule; the debounce settings are checked together, as the API and ``rules.services`` do."""

    def clean(self) -> dict[str, Any]:
        from django_automate.rules.services import validate_debounce

        cleaned: dict[str, Any] = super().clean() or {}
        seconds, key = cleaned.get("debounce_seconds"), cleaned.get("debounce_key") or ""
        try:
            validate_debounce(seconds, key)
        except exceptions.AutomateError as exc:
            field = exc.details.get("field", "debounce_key")
            self.add_error(field if field in self.fields else None, exc.message)
        return cleaned


class WorkflowForm(forms.ModelForm):
    definition = DefinitionField(help_text="Saving a changed definition publishes a new version.")


class RuleTestForm(forms.Form):
    event_id = forms.UUIDField(required=False, help_text="A stored event of this rule's tenant.")
    payload = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 8, "cols": 80}), help_text="Or paste a sample payload."
    )
    event_type = forms.CharField(
        required=False, max_length=200, help_text="The sample's type; needed when the rule's type is a pattern."
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("payload"):
            data["payload"] = parse_json(data["payload"], "The payload")
        elif not data.get("event_id"):
            raise forms.ValidationError("Choose an event or paste a payload.")
        return data
