"""Idempotency guarantees are database constraints, on every backend (MySQL/MariaDB included)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

import django_automate
from django_automate import exceptions
from django_automate.models import Event, ExecutionRun, StepRun

pytestmark = pytest.mark.django_db


def make_run(workflow_factory, **kwargs) -> ExecutionRun:
    workflow = workflow_factory()
    event = django_automate.emit("order.created", {})
    return ExecutionRun.objects.create(
        event=event, workflow=workflow, workflow_version=workflow.current_version, trace_id=event.trace_id, **kwargs
    )


def test_event_key_is_unique_per_tenant_and_source():
    Event.objects.create(source="s", type="t", idempotency_key="k", trace_id="x")
    Event.objects.create(source="s", type="t", idempotency_key="k", trace_id="x", tenant="other")
    Event.objects.create(source="s2", type="t", idempotency_key="k", trace_id="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.create(source="s", type="t", idempotency_key="k", trace_id="x")


def test_one_run_per_event_and_workflow_unless_a_replay(workflow_factory):
    run = make_run(workflow_factory)
    fields = {"event": run.event, "workflow": run.workflow, "workflow_version": run.workflow_version, "trace_id": "x"}
    with pytest.raises(IntegrityError), transaction.atomic():
        ExecutionRun.objects.create(**fields)
    ExecutionRun.objects.create(**fields, replay_of=run, replay_seq=1)
    assert ExecutionRun.objects.count() == 2


def test_at_most_one_succeeded_attempt_per_step(workflow_factory):
    run = make_run(workflow_factory)
    common = {"run": run, "step_id": "a", "step_index": 0, "connector": "log", "action": "write", "trace_id": "x"}
    StepRun.objects.create(**common, attempt=1, status="retrying", idempotency_key="k")
    StepRun.objects.create(**common, attempt=2, status="retrying", idempotency_key="k")
    StepRun.objects.create(**common, attempt=3, status="succeeded", success_guard=True, idempotency_key="k")
    with pytest.raises(IntegrityError), transaction.atomic():
        StepRun.objects.create(**common, attempt=4, status="succeeded", success_guard=True, idempotency_key="k")
    with pytest.raises(IntegrityError), transaction.atomic():
        StepRun.objects.create(**common, attempt=3, status="failed", idempotency_key="k")


def test_workflow_versions_are_immutable(workflow_factory):
    version = workflow_factory().current_version
    version.definition = {"steps": []}
    with pytest.raises(exceptions.Conflict):
        version.save()
    with pytest.raises(exceptions.Conflict):
        version.delete()


def test_publishing_numbers_versions_and_hashes_the_canonical_definition(workflow_factory):
    from django_automate.models import AuditEntry
    from django_automate.workflows.publishing import publish

    workflow = workflow_factory()
    steps = [{"with": {"message": "x"}, "action": "write", "connector": "log", "id": "a"}]
    v2 = publish(workflow, {"steps": steps}, author="alice")
    v3 = publish(workflow, {"steps": [dict(reversed(list(steps[0].items())))]})
    assert (v2.number, v3.number) == (2, 3)
    assert v2.sha256 == v3.sha256  # key order does not change the canonical form
    workflow.refresh_from_db()
    assert workflow.current_version == v3
    assert AuditEntry.objects.filter(action="workflow.published").count() == 3


def test_invalid_definitions_report_each_problem_with_its_path(workflow_factory):
    from django_automate.workflows.publishing import publish

    workflow = workflow_factory()
    bad = {
        "steps": [
            {"id": "a", "connector": "log", "action": "write"},
            {"id": "a", "connector": "nope", "action": "x"},
            {"id": "Bad", "connector": "http", "action": "fly", "on_failure": "explode"},
        ]
    }
    with pytest.raises(exceptions.ValidationError) as info:
        publish(workflow, bad)
    paths = {e["path"] for e in info.value.details["errors"]}
    assert {"$.steps[1].id", "$.steps[1].connector", "$.steps[2].id", "$.steps[2].action"} <= paths
    assert "$.steps[2].on_failure" in paths
