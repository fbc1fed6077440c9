"""The ``task`` connector: a workflow step calls an allowed task inline; its return value is the step's output."""

from __future__ import annotations

import django
import pytest

# Django 6.0+ has django.tasks; before it, these tests need the django-tasks backport.
pytest.importorskip(
    "tests.testapp.tasks",
    reason=f"Django {django.get_version()} has no django.tasks and the django-tasks backport is not installed "
    "(pip install 'django-automate[tasks]')",
)

import django_automate
from django_automate import exceptions
from django_automate.connectors.registry import get_connector
from django_automate.models import ExecutionRun, TaskResult

# Tests with a worker commit for real (a transactional database); the others roll back, which is faster.
pytestmark = pytest.mark.django_db
COMMITTING = pytest.mark.django_db(transaction=True)


@pytest.fixture
def allowed(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "TASKS_ALLOWED": ["tests.testapp.tasks.add", "tests.testapp.other.*"]}


def task_step(action: str, **params):
    return {"id": "task", "connector": "task", "action": action, "with": params}


@COMMITTING
def test_a_workflow_step_runs_an_allowed_task_inline(allowed, workflow_factory, rule_factory, run_worker):
    steps = [task_step("tests.testapp.tasks.add", args=["{{ event.payload.a }}"], kwargs={"b": 3})]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {"a": 4})

    run_worker()

    run = ExecutionRun.objects.get()
    assert run.status == "succeeded"
    step = run.steps.get()
    assert (step.action, step.output) == ("tests.testapp.tasks.add", 7)
    assert TaskResult.objects.count() == 0  # called in the step, not enqueued


@COMMITTING
def test_a_task_taking_context_gets_the_steps_idempotency_key(settings, workflow_factory, rule_factory, run_worker):
    settings.AUTOMATE = {**settings.AUTOMATE, "TASKS_ALLOWED": ["tests.testapp.tasks.*"]}
    rule_factory(workflow_factory(steps=[task_step("tests.testapp.tasks.with_context", kwargs={"x": 1})]))
    django_automate.emit("order.created", {})

    run_worker()

    step = ExecutionRun.objects.get().steps.get()
    assert step.output == {"attempt": 1, "id": step.idempotency_key, "x": 1}


def test_a_task_not_allowed_is_refused_when_the_workflow_is_saved(allowed, workflow_factory):
    with pytest.raises(exceptions.ValidationError) as caught:
        workflow_factory(steps=[task_step("tests.testapp.tasks.fail", args=["x"])])
    assert "is not allowed: add it to AUTOMATE['TASKS_ALLOWED']" in str(caught.value.details)


def test_unknown_and_not_allowed_tasks_have_precise_error_codes(allowed):
    connector = get_connector("task")
    with pytest.raises(exceptions.AutomateError) as not_allowed:
        connector.get_action("tests.testapp.tasks.fail")
    assert not_allowed.value.code == "task_not_allowed"
    with pytest.raises(exceptions.AutomateError) as unknown:
        connector.get_action("tests.testapp.other.nothing")  # allowed by the prefix, but no such task
    assert unknown.value.code == "unknown_task"


def test_the_allowed_tasks_are_listed_as_the_connectors_actions(allowed):
    actions = get_connector("task").get_actions()
    assert list(actions) == ["tests.testapp.tasks.add"]
    assert actions["tests.testapp.tasks.add"].description == "Add two numbers."
