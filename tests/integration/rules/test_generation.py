"""The per-tenant routing generations: every write path bumps them, routing reads only them, caches follow them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

import django_automate
from django_automate.models import RuleGeneration, RuleSpec, Workflow
from django_automate.rules import cache, generation
from django_automate.rules.matching import matching_rules
from django_automate.rules.services import delete_rule, save_rule
from django_automate.workflows.publishing import publish

BIG = {">": [{"var": "event.payload.amount"}, 100]}
STEPS = {"steps": [{"id": "x", "connector": "log", "action": "write", "with": {"message": "v2"}}]}

pytestmark = pytest.mark.django_db


class Rollback(Exception):
    """Leaves an atomic block by rolling it back."""


@pytest.fixture
def workflow(workflow_factory):
    return workflow_factory(slug="wf")


@pytest.fixture
def rule(workflow, rule_factory, workflow_factory):
    rule_factory(workflow_factory(slug="other", tenant="other"), name="theirs", tenant="other")
    return rule_factory(workflow, name="orders", event_type="order.created")


def names(rules: list[RuleSpec]) -> list[str]:
    return [rule.name for rule in rules]


def rules_generation(tenant: str = "") -> int | None:
    return generation.read(tenant).rules


def workflows_generation(tenant: str = "") -> int | None:
    return generation.read(tenant).workflows


def _save(rule: RuleSpec) -> None:
    rule.priority = 3
    rule.save()


def _raw_update(rule: RuleSpec) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE automate_rulespec SET priority = priority + 1 WHERE name = %s", [rule.name])


WRITES: dict[str, Callable[[RuleSpec], Any]] = {
    "create": lambda rule: RuleSpec.objects.create(name="new", event_type="x", workflow=rule.workflow),
    "save": _save,
    "save_rule": lambda rule: save_rule(rule, actor="alice"),
    "delete": lambda rule: rule.delete(),
    "delete_rule": lambda rule: delete_rule(rule, actor="alice"),
    "QuerySet.update": lambda rule: RuleSpec.objects.filter(pk=rule.pk).update(enabled=False),
    "QuerySet.delete": lambda rule: RuleSpec.objects.filter(pk=rule.pk).delete(),
    "bulk_create": lambda rule: RuleSpec.objects.bulk_create(
        [RuleSpec(name=f"bulk{n}", event_type="x", workflow=rule.workflow) for n in range(3)]
    ),
    "bulk_update": lambda rule: RuleSpec.objects.bulk_update([rule], ["priority"]),
    "raw SQL": _raw_update,
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_every_kind_of_rule_write_changes_only_its_tenants_rules_generation(rule, write):
    before, theirs = generation.read(""), generation.read("other")
    assert before.rules is not None

    write(rule)

    assert rules_generation() not in (None, before.rules)
    assert generation.read("other") == theirs
    assert workflows_generation() == before.workflows


def test_moving_a_rule_to_another_tenant_changes_both_generations(rule):
    before, theirs = rules_generation(), rules_generation("other")
    RuleSpec.objects.filter(pk=rule.pk).update(tenant="other")
    assert rules_generation() != before
    assert rules_generation("other") != theirs


WORKFLOW_WRITES: dict[str, Callable[[Workflow], Any]] = {
    "create": lambda workflow: Workflow.objects.create(slug="new", name="New"),
    "save": lambda workflow: workflow.save(),
    "publish": lambda workflow: publish(
        workflow, {"steps": [{"id": "x", "connector": "log", "action": "write", "with": {"message": "v2"}}]}
    ),
    "QuerySet.update": lambda workflow: Workflow.objects.filter(pk=workflow.pk).update(enabled=False),
    "delete": lambda workflow: Workflow.objects.create(slug="gone", name="Gone").delete(),
}


@pytest.mark.parametrize("write", WORKFLOW_WRITES.values(), ids=WORKFLOW_WRITES.keys())
def test_every_kind_of_workflow_write_changes_only_its_tenants_workflows_generation(rule, write):
    before, theirs = generation.read(""), generation.read("other")
    assert before.workflows is not None

    write(rule.workflow)

    assert workflows_generation() not in (None, before.workflows)
    assert generation.read("other") == theirs
    assert rules_generation() == before.rules


def test_a_tenant_without_rules_has_no_generation_and_its_first_is_unpredictable(rule_factory, workflow_factory):
    RuleGeneration.objects.all().delete()  # a flush (DELETE, row by row) may leave rows behind
    assert generation.read("") == (None, None)
    rule_factory(workflow_factory(slug="wf"), name="first")
    first = rules_generation()
    assert first is not None and first >= 1
    RuleGeneration.objects.all().delete()  # as a flushed database would
    rule_factory(Workflow.objects.get(), name="second")
    assert rules_generation() not in (None, first, first + 1)  # a new random start, not a repeat


def test_an_update_that_leaves_version_alone_bumps_it_and_a_save_bumps_it_once(rule):
    RuleSpec.objects.filter(pk=rule.pk).update(priority=9)
    rule.refresh_from_db()
    assert rule.version == 2
    rule.save()
    assert rule.version == 3
    RuleSpec.objects.filter(pk=rule.pk).update(priority=1, version=10)
    rule.refresh_from_db()
    assert rule.version == 10


def test_routing_reads_only_the_generation_row_when_nothing_changed(rule):
    matched = django_automate.emit("order.created", {})
    assert names(matching_rules(matched)) == ["orders"]  # builds the index, caches the workflow
    with CaptureQueriesContext(connection) as queries:
        rules = matching_rules(matched)
    assert names(rules) == ["orders"] and rules[0].workflow.slug == "wf"
    assert len(queries) == 1
    sql = queries[0]["sql"].lower()
    assert "automate_rulegeneration" in sql and "automate_rulespec" not in sql and "count(" not in sql


def test_each_routing_hands_out_its_own_instances(rule):
    event = django_automate.emit("order.created", {})
    first = matching_rules(event)[0]
    first.condition = {"changed": "locally"}
    first.workflow.enabled = False
    second = matching_rules(event)[0]
    assert second is not first and second.condition is True and second.workflow.enabled
    assert second.version == rule.version and second.created_at == rule.created_at


def test_workflow_changes_without_signals_are_seen_by_the_next_routing(rule):
    event = django_automate.emit("order.created", {})
    assert matching_rules(event)[0].workflow.enabled
    Workflow.objects.filter(pk=rule.workflow_id).update(enabled=False)
    assert not matching_rules(event)[0].workflow.enabled


def test_writes_that_send_no_signal_are_seen_by_the_next_routing(rule, workflow):
    event = django_automate.emit("order.created", {"amount": 5})
    assert names(matching_rules(event)) == ["orders"]

    RuleSpec.objects.filter(pk=rule.pk).update(condition=BIG)
    assert matching_rules(event) == []
    RuleSpec.objects.bulk_create([RuleSpec(name="late", event_type="order.*", workflow=workflow)])
    assert names(matching_rules(event)) == ["late"]
    RuleSpec.objects.filter(pk=rule.pk).update(condition=True, priority=5)
    assert names(matching_rules(event)) == ["orders", "late"]


def test_an_index_built_in_a_rolled_back_transaction_is_not_reused(rule):
    event = django_automate.emit("order.created", {"amount": 5})
    assert names(matching_rules(event)) == ["orders"]
    with pytest.raises(Rollback), transaction.atomic():
        RuleSpec.objects.filter(pk=rule.pk).update(condition=BIG)
        assert matching_rules(event) == []
        assert matching_rules(event) == []  # reused inside its transaction
        raise Rollback

    # The same generation and version as inside the rolled-back block, with other content.
    RuleSpec.objects.filter(pk=rule.pk).update(priority=5)
    assert names(matching_rules(event)) == ["orders"]


def test_workflows_cached_in_a_rolled_back_transaction_are_not_reused(rule):
    event = django_automate.emit("order.created", {})
    assert matching_rules(event)[0].workflow.enabled
    with pytest.raises(Rollback), transaction.atomic():
        Workflow.objects.filter(pk=rule.workflow_id).update(enabled=False)
        assert not matching_rules(event)[0].workflow.enabled
        raise Rollback

    Workflow.objects.filter(pk=rule.workflow_id).update(name="Renamed")  # the same generation as rolled back
    workflow = matching_rules(event)[0].workflow
    assert workflow.enabled and workflow.name == "Renamed"


@pytest.mark.django_db(transaction=True)
def test_an_index_built_inside_a_transaction_is_kept_after_it_commits(rule, django_assert_num_queries):
    with transaction.atomic():
        RuleSpec.objects.filter(pk=rule.pk).update(priority=2)
        index = cache.rule_index("")
    with django_assert_num_queries(1):  # the generation, nothing rebuilt
        assert cache.rule_index("") is index


def test_an_index_built_while_a_rule_commits_is_not_cached_as_current(rule, monkeypatch):
    """The generation is read before the rules: a commit landing in between is seen by the next routing."""
    event = django_automate.emit("order.created", {"amount": 5})
    rebuild = cache._rebuild

    def rebuild_then_commit_elsewhere(*args: Any) -> Any:
        index = rebuild(*args)
        monkeypatch.setattr(cache, "_rebuild", rebuild)
        # Another writer commits after the rules were read, before the index is stored.
        RuleSpec.objects.filter(pk=rule.pk).update(condition=BIG)
        return index

    monkeypatch.setattr(cache, "_rebuild", rebuild_then_commit_elsewhere)
    assert names(matching_rules(event)) == ["orders"]  # routed by the rules as they were read
    entry = cache.rule_index("").get(rule.pk)
    assert entry is not None and entry.condition.logic == BIG and entry.version == 2


@pytest.mark.django_db(transaction=True)
def test_a_commit_on_another_connection_is_seen_by_the_next_routing(workflow_factory, rule_factory):
    rule = rule_factory(workflow_factory(slug="wf"), name="orders", event_type="order.created")
    event = django_automate.emit("order.created", {"amount": 5})
    assert names(matching_rules(event)) == ["orders"]
    committed = threading.Event()
    proceed = threading.Event()
    errors: list[BaseException] = []

    def other_connection() -> None:  # a thread has its own database connection
        try:
            with transaction.atomic():
                RuleSpec.objects.filter(pk=rule.pk).update(condition=BIG)
                proceed.wait(10)
            committed.set()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_connection)
    thread.start()
    try:
        if connection.vendor != "sqlite":  # SQLite locks the database for the writer
            assert names(matching_rules(event)) == ["orders"]  # not committed yet
    finally:
        proceed.set()
        thread.join(20)
    assert committed.is_set() and not errors
    assert matching_rules(event) == []


@pytest.mark.django_db(transaction=True)  # DDL: MySQL commits implicitly, SQLite cannot inside a transaction
def test_the_triggers_are_installed_and_reinstallable():
    installed = generation.trigger_names(connection)
    assert len(installed) == generation.EXPECTED[connection.vendor]
    assert generation.trigger_messages(["default"]) == []
    with connection.cursor() as cursor:
        cursor.execute(
            f"DROP TRIGGER {installed[0]}" + (" ON automate_rulespec" if connection.vendor == "postgresql" else "")
        )
    assert [message.id for message in generation.trigger_messages(["default"])] == ["automate.W090"]
    assert generation.reinstall() == installed


def test_models_and_migrations_agree():
    call_command("makemigrations", "automate", "--check", "--dry-run", verbosity=0)
