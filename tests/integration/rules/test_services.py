"""Saving rules through the service: validated, versioned, audited."""

from __future__ import annotations

import pytest

from django_automate import exceptions
from django_automate.models import AuditEntry, RuleSpec
from django_automate.rules.jsonlogic import JsonLogicValidationError
from django_automate.rules.services import delete_rule, save_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow(workflow_factory):
    return workflow_factory(slug="wf")


def test_save_rule_creates_then_updates_with_a_new_version_and_audit_entries(workflow):
    rule = save_rule(RuleSpec(name="orders", event_type="order.*", workflow=workflow), actor="alice")
    assert rule.version == 1
    rule.condition = {">": [{"var": "event.payload.amount"}, 100]}
    save_rule(rule, actor="bob")

    assert RuleSpec.objects.get(pk=rule.pk).version == 2
    created, updated = AuditEntry.objects.filter(object_type="rule").order_by("seq")
    assert (created.action, created.actor, created.object_id) == ("rule.created", "alice", str(rule.pk))
    assert (updated.action, updated.actor, updated.data["version"]) == ("rule.updated", "bob", 2)
    assert updated.data["condition"] == rule.condition


def test_an_invalid_condition_is_rejected_with_the_path_of_the_offending_node(workflow):
    rule = RuleSpec(name="bad", event_type="order.*", workflow=workflow, condition={"and": [True, {"nope": 1}]})
    with pytest.raises(JsonLogicValidationError) as caught:
        save_rule(rule, actor="alice")
    assert caught.value.code == "validation_error"
    assert caught.value.details["path"] == "/and/1"
    assert caught.value.details["field"] == "condition"
    assert not RuleSpec.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": " "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"event_type": ""}, "event_type"),
        ({"event_type": "order.*\n"}, "event_type"),
        ({"event_type": "o" * 256}, "event_type"),
        ({"priority": "high"}, "priority"),
    ],
)
def test_invalid_fields_are_rejected_by_name(workflow, changes, field):
    rule = RuleSpec(**{"name": "orders", "event_type": "order.*", "workflow": workflow, **changes})
    with pytest.raises(exceptions.ValidationError) as caught:
        save_rule(rule, actor="alice")
    assert caught.value.details["field"] == field


def test_a_rule_cannot_use_another_tenants_workflow(workflow_factory):
    foreign = workflow_factory(slug="foreign", tenant="globex")
    with pytest.raises(exceptions.ValidationError) as caught:
        save_rule(RuleSpec(name="r", tenant="acme", event_type="a", workflow=foreign), actor="alice")
    assert caught.value.details["field"] == "workflow"


def test_a_duplicate_name_in_the_tenant_is_a_conflict(workflow, workflow_factory):
    save_rule(RuleSpec(name="orders", event_type="a", workflow=workflow), actor="alice")
    with pytest.raises(exceptions.Conflict):
        save_rule(RuleSpec(name="orders", event_type="b", workflow=workflow), actor="alice")
    other = workflow_factory(slug="other", tenant="acme")
    save_rule(RuleSpec(name="orders", tenant="acme", event_type="b", workflow=other), actor="alice")
    assert RuleSpec.objects.count() == 2


def test_delete_rule_is_audited(workflow):
    rule = save_rule(RuleSpec(name="orders", event_type="a", workflow=workflow), actor="alice")
    rule_id = str(rule.pk)
    delete_rule(rule, actor="bob")
    assert not RuleSpec.objects.exists()
    entry = AuditEntry.objects.get(action="rule.deleted")
    assert (entry.actor, entry.object_id, entry.data["name"]) == ("bob", rule_id, "orders")
