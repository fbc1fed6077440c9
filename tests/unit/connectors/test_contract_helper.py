"""``django_automate.testing.assert_connector_contract`` accepts good connectors and names what is wrong."""

from __future__ import annotations

import pytest

from django_automate.connectors.base import Action, BaseConnector, StepResult
from django_automate.connectors.email import EmailConnector
from django_automate.connectors.http import HttpConnector
from django_automate.connectors.log import LogConnector
from django_automate.connectors.python import PythonConnector
from django_automate.connectors.slack import SlackConnector
from django_automate.testing import assert_connector_contract, make_context
from tests.unit.connectors import broken

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


class Doubler(BaseConnector):
    """Doubles numbers."""

    type = "doubler"
    actions = {"double": Action("double", SCHEMA, "Double n.")}

    def execute(self, action, params, ctx):
        params = self.validate(action, params)
        return StepResult(output={"n": params["n"] * 2}, cost=0.5)


class Careless(BaseConnector):
    """Ignores the action name and its input."""

    type = "careless"
    actions = {"double": Action("double", SCHEMA)}

    def execute(self, action, params, ctx):
        return StepResult(output={"n": params.get("n")})


class BadOutput(Doubler):
    def execute(self, action, params, ctx):
        super().execute(action, params, ctx)
        return StepResult(output={"when": object()}, cost=-1)


class RaisesOther(Doubler):
    def execute(self, action, params, ctx):
        raise KeyError(action)


def test_a_connector_that_keeps_the_contract_passes():
    assert_connector_contract(Doubler, examples={"double": {"n": 2}})


@pytest.mark.parametrize("cls", [HttpConnector, SlackConnector, EmailConnector, PythonConnector, LogConnector])
def test_the_built_in_connectors_keep_the_contract(cls):
    assert_connector_contract(cls)


def test_log_keeps_the_contract_with_an_example():
    assert_connector_contract(LogConnector, examples={"write": {"message": "hi", "data": {"a": 1}}})


@pytest.mark.parametrize(
    ("cls", "examples", "expected"),
    [
        (broken.NoExecute, None, "does not override execute()"),
        (broken.BadType, None, "type must be a string matching"),
        (broken.BadSchema, None, "invalid JSON Schema"),
        (broken.NeedsArguments, None, "NeedsArguments() failed: TypeError"),
        (Careless, None, "an unknown action did not raise a PermanentError"),
        (Careless, None, "action 'double' with input missing required keys did not raise a PermanentError"),
        (RaisesOther, None, "an unknown action raised KeyError instead of a PermanentError"),
        (BadOutput, {"double": {"n": 1}}, "the output of 'double' is not JSON"),
        (BadOutput, {"double": {"n": 1}}, "the cost of 'double' must be None or a non-negative number, not -1"),
        (Doubler, {"double": {"n": "x"}}, "example for 'double' does not match its schema: $.n"),
        (Doubler, {"triple": {}}, "example for unknown action 'triple'"),
    ],
)
def test_contract_problems_are_named(cls, examples, expected):
    with pytest.raises(AssertionError) as caught:
        assert_connector_contract(cls, examples=examples)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(f"{cls.__qualname__} breaks the connector contract:")


def test_make_context_gives_a_usable_context():
    ctx = make_context(step_id="s1")
    assert ctx.step_id == "s1" and ctx.remaining() > 25 and ctx.idempotency_key.endswith(":test_step")
