"""Explaining a rule against an event or a payload, and what it would have matched."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

import django_automate
from django_automate import exceptions
from django_automate.models import Event, RuleSpec
from django_automate.policy.redaction import REDACTED
from django_automate.rules import explain
from django_automate.rules.jsonlogic import JsonLogicValidationError

pytestmark = pytest.mark.django_db

BIG_USD = {
    "and": [
        {">": [{"var": "event.payload.amount"}, 100]},
        {"==": [{"var": "event.payload.currency"}, "usd"]},
    ]
}


@pytest.fixture
def workflow(workflow_factory):
    return workflow_factory(slug="wf")


@pytest.fixture
def rule(workflow, rule_factory) -> RuleSpec:
    return rule_factory(workflow, name="big-usd-orders", event_type="order.*", condition=BIG_USD)


def emit_at(event_type: str, payload: dict, minutes_ago: int, tenant: str = "") -> Event:
    """An event received ``minutes_ago`` (so "the last N" has one answer on every database)."""
    event = django_automate.emit(event_type, payload, tenant=tenant)
    Event.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(minutes=minutes_ago))
    return event


def test_a_stored_event_that_matches_shows_each_predicate(rule):
    event = django_automate.emit("order.created", {"amount": 500, "currency": "usd"})
    result = explain.test_rule(rule=rule, event=event)
    assert result["matched"] is result["type_matched"] is result["condition_matched"] is True
    assert result["error"] is None
    tree = result["explanation"]
    assert (tree["op"], tree["value"]) == ("and", True)
    assert [arg["value"] for arg in tree["args"]] == [True, True]


def test_the_tree_points_at_the_predicate_that_failed(rule):
    result = explain.test_rule(rule=rule, event=django_automate.emit("order.created", {"amount": 5, "currency": "usd"}))
    assert result["matched"] is False
    assert (result["type_matched"], result["condition_matched"]) == (True, False)
    amount, currency = result["explanation"]["args"]
    assert amount["value"] is False
    assert amount["args"][0] == {"op": "var", "args": [{"value": "event.payload.amount"}], "value": 5}
    assert currency["skipped"] is True


def test_a_type_mismatch_is_reported_separately_from_the_condition(rule):
    result = explain.test_rule(rule=rule, payload={"amount": 500, "currency": "usd"}, event_type="invoice.paid")
    assert (result["matched"], result["type_matched"], result["condition_matched"]) == (False, False, True)


def test_a_sample_payload_needs_a_type_when_the_rule_is_a_glob(rule, workflow, rule_factory):
    with pytest.raises(exceptions.ValidationError) as caught:
        explain.test_rule(rule=rule, payload={"amount": 500})
    assert caught.value.details["field"] == "event_type"

    exact = rule_factory(workflow, name="exact", event_type="order.created", condition={"var": "event.type"})
    result = explain.test_rule(rule=exact, payload={})
    assert result["matched"] is True
    assert result["explanation"]["value"] == "order.created"


def test_an_ad_hoc_condition_is_tested_against_a_payload_in_a_tenant():
    condition = {"and": [{"==": [{"var": "event.tenant"}, "acme"]}, {"in": ["vip", {"var": "event.payload.tags"}]}]}
    payload = {"tags": ["vip"]}
    result = explain.test_rule(condition=condition, payload=payload, event_type="user.signed_up", tenant="acme")
    assert (result["matched"], result["type_matched"], result["condition_matched"]) == (True, True, True)
    assert explain.test_rule(condition=condition, payload={"tags": []})["matched"] is False


def test_an_evaluation_error_is_reported_and_does_not_match(rule):
    result = explain.test_rule(rule=rule, payload={"amount": "lots", "currency": "usd"}, event_type="order.created")
    assert result["matched"] is False
    assert result["condition_matched"] is False
    assert result["error"]["type"] == "NaN"
    assert result["explanation"]["args"][0]["error"]["type"] == "NaN"


def test_an_unsaved_edit_is_tested_as_edited(rule):
    rule.condition = {"<": [{"var": "event.payload.amount"}, 100]}
    assert explain.test_rule(rule=rule, payload={"amount": 5}, event_type="order.created")["matched"] is True


def test_an_invalid_condition_is_a_validation_error_with_its_path():
    with pytest.raises(JsonLogicValidationError) as caught:
        explain.test_rule(condition={"or": [True, {"nope": []}]}, payload={})
    assert caught.value.details == {"path": "/or/1", "field": "condition"}


@pytest.mark.parametrize(
    ("make_kwargs", "field"),
    [
        (lambda rule, event: {"payload": {}}, "rule"),
        (lambda rule, event: {"rule": rule, "condition": True, "payload": {}}, "rule"),
        (lambda rule, event: {"condition": True}, "event"),
        (lambda rule, event: {"condition": True, "payload": {}, "event": event}, "event"),
        (lambda rule, event: {"rule": rule, "event": event, "event_type": "order.paid"}, "event_type"),
        (lambda rule, event: {"condition": True, "payload": {"x": {1, 2}}}, "payload"),
        (lambda rule, event: {"condition": True, "payload": {"x": float("nan")}}, "payload"),
        (lambda rule, event: {"condition": True, "payload": {}, "event_type": 3}, "event_type"),
        (lambda rule, event: {"rule": RuleSpec(name="draft", event_type=None), "payload": {}}, "event_type"),
    ],
)
def test_inconsistent_input_is_a_validation_error_naming_the_field(rule, make_kwargs, field):
    event = django_automate.emit("order.created", {})
    with pytest.raises(exceptions.ValidationError) as caught:
        explain.test_rule(**make_kwargs(rule, event))
    assert caught.value.details["field"] == field


def test_an_event_of_another_tenant_is_refused(rule):
    foreign = django_automate.emit("order.created", {"amount": 500, "currency": "usd"}, tenant="globex")
    with pytest.raises(exceptions.ValidationError) as caught:
        explain.test_rule(rule=rule, event=foreign)
    assert caught.value.details["field"] == "event"


def test_values_read_from_sensitive_keys_are_redacted_unless_asked():
    condition = {
        "and": [
            {"==": [{"var": "event.payload.api_token"}, "s3cr3t"]},
            {"!!": {"var": "event.payload"}},
            {"==": [{"val": ["event", "payload", "user"]}, "ann"]},
        ]
    }
    payload = {"api_token": "s3cr3t", "user": "ann"}
    tree = explain.test_rule(condition=condition, payload=payload)["explanation"]
    token, whole, user = tree["args"]
    assert token["value"] is True
    assert token["args"][0]["value"] == REDACTED
    assert whole["args"][0]["value"] == {"api_token": REDACTED, "user": "ann"}
    assert user["args"][0]["value"] == "ann"
    raw = explain.test_rule(condition=condition, payload=payload, redacted=False)["explanation"]
    assert raw["args"][0]["args"][0]["value"] == "s3cr3t"


def test_would_have_matched_returns_matching_events_among_the_last_n_of_the_rules_type(rule):
    big = {"amount": 500, "currency": "usd"}
    oldest = emit_at("order.created", big, minutes_ago=50)
    older = emit_at("order.paid", big, minutes_ago=40)
    emit_at("order.paid", {"amount": 5, "currency": "usd"}, minutes_ago=30)
    emit_at("invoice.paid", big, minutes_ago=20)  # another type
    emit_at("order.created", big, minutes_ago=15, tenant="globex")  # another tenant
    newest = emit_at("order.refunded", big, minutes_ago=10)

    assert explain.would_have_matched(rule) == [str(newest.id), str(older.id), str(oldest.id)]
    # the last 3 events of type order.*: newest, the small one, older
    assert explain.would_have_matched(rule, limit=3) == [str(newest.id), str(older.id)]


def test_would_have_matched_with_an_exact_type_and_a_catch_all_glob(workflow, rule_factory):
    first = emit_at("order.created", {}, minutes_ago=3)
    second = emit_at("invoice.created", {}, minutes_ago=2)
    emit_at("order.paid", {}, minutes_ago=1)
    exact = rule_factory(workflow, name="exact", event_type="order.created", enabled=False)
    created = rule_factory(workflow, name="created", event_type="*.created")

    assert explain.would_have_matched(exact) == [str(first.id)]  # disabled rules can be tried too
    assert explain.would_have_matched(created) == [str(second.id), str(first.id)]
    assert explain.would_have_matched(created, limit=1) == [str(second.id)]


@pytest.mark.parametrize("limit", [0, -1, 1001, "10", True, 2.5])
def test_would_have_matched_rejects_a_bad_limit(rule, limit):
    with pytest.raises(exceptions.ValidationError) as caught:
        explain.would_have_matched(rule, limit=limit)
    assert caught.value.details["field"] == "limit"
