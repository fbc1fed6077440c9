"""Rule matching through the per-tenant index: right rules, tenant-isolated, fresh after any change."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

import django_automate
from django_automate.models import RuleSpec
from django_automate.rules import cache
from django_automate.rules.matching import condition_holds, event_data, matching_rules
from django_automate.workflows.publishing import publish

ROOT = Path(__file__).resolve().parents[3]
BIG = {">": [{"var": "event.payload.amount"}, 100]}

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow(workflow_factory):
    return workflow_factory(slug="wf")


def names(rules: list[RuleSpec]) -> list[str]:
    return [rule.name for rule in rules]


def test_exact_glob_and_catch_all_rules_match_by_priority(workflow, rule_factory):
    rule_factory(workflow, name="exact", event_type="order.created", priority=1)
    rule_factory(workflow, name="prefix-big", event_type="order.*", condition=BIG, priority=5)
    rule_factory(workflow, name="any-created", event_type="*.created")
    rule_factory(workflow, name="other-type", event_type="invoice.*")
    rule_factory(workflow, name="disabled", event_type="order.created", enabled=False)

    big = django_automate.emit("order.created", {"amount": 500})
    small = django_automate.emit("order.created", {"amount": 5})

    assert names(matching_rules(big)) == ["prefix-big", "exact", "any-created"]
    assert names(matching_rules(small)) == ["exact", "any-created"]
    assert matching_rules(big)[0].workflow == workflow


def test_rules_never_cross_tenants(workflow_factory, rule_factory):
    ours = workflow_factory(slug="ours", tenant="acme")
    theirs = workflow_factory(slug="theirs", tenant="globex")
    rule_factory(ours, name="acme-orders", tenant="acme")
    rule_factory(theirs, name="globex-orders", tenant="globex")
    rule_factory(workflow_factory(slug="default"), name="default-orders")

    assert names(matching_rules(django_automate.emit("order.created", {}, tenant="acme"))) == ["acme-orders"]
    assert names(matching_rules(django_automate.emit("order.created", {}, tenant="globex"))) == ["globex-orders"]
    assert names(matching_rules(django_automate.emit("order.created", {}))) == ["default-orders"]


def test_a_tenants_index_survives_changes_to_another_tenants_rules(workflow_factory, rule_factory):
    rule_factory(workflow_factory(slug="a", tenant="a"), name="a-rule", tenant="a")
    other = rule_factory(workflow_factory(slug="b", tenant="b"), name="b-rule", tenant="b")
    index = cache.rule_index("a")

    other.condition = False
    other.save()
    rule_factory(other.workflow, name="b-rule-2", tenant="b")

    assert cache.rule_index("a") is index
    assert cache.rule_index("b") is not cache.rule_index("a")


def test_changes_of_a_rule_are_seen_by_the_next_routing(workflow, rule_factory):
    rule = rule_factory(workflow, name="orders", event_type="order.created")
    event = django_automate.emit("order.created", {"amount": 5})
    assert names(matching_rules(event)) == ["orders"]

    rule.condition = BIG
    rule.save()
    assert matching_rules(event) == []

    rule.condition = True
    rule.event_type = "invoice.*"
    rule.save()
    assert matching_rules(event) == []

    rule.event_type = "order.*"
    rule.save(update_fields=["event_type"])
    assert names(matching_rules(event)) == ["orders"]

    rule.enabled = False
    rule.save()
    assert matching_rules(event) == []

    RuleSpec.objects.filter(pk=rule.pk).update(enabled=True)  # bulk update: the count changes
    assert names(matching_rules(event)) == ["orders"]

    RuleSpec.objects.filter(pk=rule.pk).update(condition=BIG, version=F("version") + 1, updated_at=timezone.now())
    assert matching_rules(event) == []

    rule_factory(workflow, name="new", event_type="order.created")
    assert names(matching_rules(event)) == ["new"]

    RuleSpec.objects.filter(name="new").delete()
    assert matching_rules(event) == []


def test_every_save_bumps_the_version_even_from_a_stale_instance(workflow, rule_factory):
    rule = rule_factory(workflow, name="orders")
    assert rule.version == 1
    stale = RuleSpec.objects.get(pk=rule.pk)

    rule.priority = 3
    rule.save()
    assert rule.version == 2
    stale.condition = BIG
    stale.save()  # a concurrent editor: its save still gets a version of its own
    assert stale.version == 3
    rule.save(update_fields=["priority"])
    assert rule.version == 4
    rule.save(update_fields=[])  # Django's no-op save stays a no-op
    assert RuleSpec.objects.get(pk=rule.pk).version == 4


def test_unchanged_rules_keep_their_compiled_condition_across_rebuilds(workflow, rule_factory):
    kept = rule_factory(workflow, name="kept", event_type="order.created", condition=BIG)
    changed = rule_factory(workflow, name="changed", event_type="order.created", condition=BIG)
    matching_rules(django_automate.emit("order.created", {"amount": 500}))
    before = cache.rule_index("")

    changed.condition = {"<": [{"var": "event.payload.amount"}, 100]}
    changed.save()
    after = cache.rule_index("")

    assert after is not before
    assert after.get(kept.pk).condition is before.get(kept.pk).condition
    assert after.get(kept.pk).condition.compiled
    assert after.get(changed.pk).version == 2
    assert after.get(changed.pk).condition is not before.get(changed.pk).condition
    assert names(matching_rules(django_automate.emit("order.created", {"amount": 5}))) == ["changed"]


def test_routing_costs_one_query_once_rules_and_workflows_are_cached(workflow, rule_factory, django_assert_num_queries):
    for number in range(50):
        rule_factory(workflow, name=f"r{number}", event_type=f"type.{number}")
    rule_factory(workflow, name="glob", event_type="type.1*", condition=BIG)
    matched = django_automate.emit("type.1", {"amount": 500})
    unmatched = django_automate.emit("type.none", {})
    with django_assert_num_queries(3):  # generations, the rules (cold index), their workflows
        matching_rules(matched)

    with django_assert_num_queries(1):
        rules = matching_rules(matched)
        assert [rule.workflow.slug for rule in rules] == ["wf", "wf"]  # workflows come with the rules
    with django_assert_num_queries(1):
        assert matching_rules(unmatched) == []


def test_routing_reads_the_workflows_current_state(workflow, rule_factory):
    rule_factory(workflow, name="orders")
    event = django_automate.emit("order.created", {})
    first = matching_rules(event)[0].workflow.current_version
    publish(workflow, {"steps": [{"id": "x", "connector": "log", "action": "write", "with": {"message": "v2"}}]})

    assert matching_rules(event)[0].workflow.current_version.number == first.number + 1


def test_condition_holds_never_uses_a_stale_compiled_condition(workflow, rule_factory):
    rule = rule_factory(workflow, name="orders", condition=BIG)
    data = event_data(django_automate.emit("order.created", {"amount": 50}))
    assert not condition_holds(rule, data)
    rule.condition = {"<": [{"var": "event.payload.amount"}, 100]}  # edited, not saved: same version
    assert condition_holds(rule, data)


@pytest.mark.django_db(transaction=True)
def test_a_change_made_by_another_process_is_seen_by_the_next_routing(workflow_factory, rule_factory):
    rule_factory(workflow_factory(slug="wf"), name="orders", event_type="order.created")
    event = django_automate.emit("order.created", {"amount": 5})
    assert names(matching_rules(event)) == ["orders"]

    script = textwrap.dedent(
        """
        import django
        django.setup()
        from django_automate.models import RuleSpec
        rule = RuleSpec.objects.get(name="orders")
        rule.condition = {">": [{"var": "event.payload.amount"}, 100]}
        rule.save()
        RuleSpec.objects.create(name="late", event_type="order.*", workflow=rule.workflow)
        """
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "AUTOMATE_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
    }
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)

    assert names(matching_rules(event)) == ["late"]
    assert names(matching_rules(django_automate.emit("order.created", {"amount": 500}))) == ["late", "orders"]


def test_a_rule_replaced_at_the_same_instant_in_this_process_is_seen(workflow, rule_factory):
    """Same count, versions and updated_at (tests with a frozen clock): saves here mark the index stale."""
    instant = timezone.now()
    first = rule_factory(workflow, name="first", event_type="order.created")
    RuleSpec.objects.filter(pk=first.pk).update(updated_at=instant)
    event = django_automate.emit("order.created", {})
    assert names(matching_rules(event)) == ["first"]

    first.delete()
    second = rule_factory(workflow, name="second", event_type="order.created")
    RuleSpec.objects.filter(pk=second.pk).update(updated_at=instant)
    assert names(matching_rules(event)) == ["second"]
