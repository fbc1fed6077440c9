"""Workflow versions: immutable whichever ORM path tries to change them; published, audited and diffed."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from django_automate import exceptions
from django_automate.internal.jsonutil import canonical_json, sha256_hex
from django_automate.models import AuditEntry, Workflow, WorkflowVersion
from django_automate.workflows.diff import diff_versions, version_unified_diff
from django_automate.workflows.publishing import create_workflow, publish

pytestmark = pytest.mark.django_db


def log_steps(message: str = "hi") -> dict:
    return {"steps": [{"id": "say", "connector": "log", "action": "write", "with": {"message": message}}]}


@pytest.fixture
def version(workflow_factory) -> WorkflowVersion:
    workflow = workflow_factory()
    assert workflow.current_version is not None
    return workflow.current_version


def assert_unchanged(version: WorkflowVersion) -> None:
    stored = WorkflowVersion.objects.get(pk=version.pk)
    assert (stored.number, stored.definition, stored.sha256, stored.author) == (
        1,
        version.definition,
        sha256_hex(canonical_json(version.definition)),
        "",
    )


def test_saving_a_stored_version_fails(version):
    version.definition = log_steps("changed")
    with pytest.raises(exceptions.Conflict):
        version.save()
    with pytest.raises(exceptions.Conflict):
        version.save(update_fields=["definition"])
    assert WorkflowVersion.objects.get(pk=version.pk).definition == log_steps()


def test_queryset_update_fails(version):
    with pytest.raises(exceptions.Conflict) as info:
        WorkflowVersion.objects.filter(pk=version.pk).update(definition=log_steps("changed"))
    assert info.value.code == "conflict"
    with pytest.raises(exceptions.Conflict):
        version.workflow.versions.update(author="mallory")
    with pytest.raises(exceptions.Conflict):
        WorkflowVersion.objects.update_or_create(pk=version.pk, defaults={"author": "mallory"})
    assert_unchanged(version)


def test_bulk_update_fails(version):
    version.author = "mallory"
    with pytest.raises(exceptions.Conflict):
        WorkflowVersion.objects.bulk_update([version], ["author"])
    version.author = ""
    assert_unchanged(version)


def test_deleting_a_version_fails_one_by_one_and_in_bulk(version):
    with pytest.raises(exceptions.Conflict):
        version.delete()
    with pytest.raises(exceptions.Conflict):
        WorkflowVersion.objects.filter(pk=version.pk).delete()
    with pytest.raises(exceptions.Conflict):
        WorkflowVersion.objects.all().delete()
    assert_unchanged(version)


def test_publishing_numbers_hashes_and_audits_each_version(workflow_factory):
    workflow = workflow_factory()
    v2 = publish(workflow, log_steps("two"), author="alice")
    v3 = publish(workflow, log_steps("three"), author="bob")
    assert [(v.number, v.author) for v in workflow.versions.order_by("number")] == [(1, ""), (2, "alice"), (3, "bob")]
    assert v3.sha256 == sha256_hex(canonical_json(log_steps("three")))
    assert Workflow.objects.get(pk=workflow.pk).current_version == v3
    entry = AuditEntry.objects.filter(action="workflow.published").order_by("-seq").first()
    assert entry is not None
    assert (entry.actor, entry.object_id, entry.data) == (
        "bob",
        str(workflow.pk),
        {"slug": "wf", "version": 3, "sha256": v3.sha256},
    )
    assert v2.number == 2


def test_an_invalid_definition_publishes_nothing(workflow_factory):
    workflow = workflow_factory()
    audits = AuditEntry.objects.count()
    with pytest.raises(exceptions.ValidationError) as info:
        publish(workflow, {"steps": [{"id": "say", "connector": "log", "action": "fly"}]})
    [error] = info.value.details["errors"]
    assert error["path"] == "$.steps[0].action" and "Unknown action 'fly'" in error["message"]
    assert workflow.versions.count() == 1
    assert AuditEntry.objects.count() == audits
    with pytest.raises(exceptions.ValidationError):
        create_workflow(slug="other", name="Other", definition={"steps": []})
    assert not Workflow.objects.filter(slug="other").exists()


def test_stored_versions_can_be_diffed(workflow_factory):
    workflow = workflow_factory(steps=log_steps("one")["steps"])
    v1 = workflow.current_version
    assert v1 is not None
    v2 = publish(workflow, log_steps("two"))
    assert diff_versions(v1, v2) == [{"op": "changed", "path": "$.steps[0].with.message", "old": "one", "new": "two"}]
    text = version_unified_diff(v1, v2)
    assert text.startswith("--- v1\n+++ v2\n")
    assert '-        "message": "one"\n' in text
    assert '+        "message": "two"\n' in text


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_get_distinct_consecutive_numbers(workflow_factory):
    workflow = workflow_factory()
    errors: list[BaseException] = []

    def publish_three(n: int) -> None:
        try:
            for i in range(3):
                publish(Workflow.objects.get(pk=workflow.pk), log_steps(f"{n}-{i}"))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=publish_three, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(workflow.versions.values_list("number", flat=True)) == list(range(1, 14))
    assert Workflow.objects.get(pk=workflow.pk).current_version.number == 13
