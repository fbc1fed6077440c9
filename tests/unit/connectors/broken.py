"""Things that are not valid connectors, for the registry and contract tests."""

from __future__ import annotations

from django_automate.connectors.base import Action, BaseConnector, StepResult

OBJECT = {"type": "object"}


class NoExecute(BaseConnector):
    type = "no_execute"
    actions = {"go": Action("go", OBJECT)}


class BadType(BaseConnector):
    type = "Bad Type"
    actions = {"go": Action("go", OBJECT)}

    def execute(self, action, params, ctx):
        return StepResult()


class BadSchema(BaseConnector):
    type = "bad_schema"
    actions = {"go": Action("go", {"type": "object", "properties": {"a": {"type": "nonsense"}}})}

    def execute(self, action, params, ctx):
        return StepResult()


class NeedsArguments(BaseConnector):
    type = "needs_arguments"

    def __init__(self, client):
        self.client = client


ACTIONS = {"not": "a class"}


def bad_schema_action(params, ctx):
    return None


bad_schema_action.input_schema = {"type": "object", "required": "name"}
