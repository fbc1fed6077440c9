"""A connector written by a user, installed as a distribution with an entry point, runs in a real worker."""

from __future__ import annotations

import os
import signal
import uuid
from decimal import Decimal

import pytest

import django_automate
from django_automate.connectors import registry
from django_automate.models import ExecutionRun, StepRun
from django_automate.testing import assert_connector_contract
from tests.acceptance.conftest import ROOT, wait_for
from tests.unit.connectors.plugins import GREETER, install

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """``acme-greeter`` installed in a directory of its own: on sys.path here, on PYTHONPATH for the worker."""
    module = f"acme_greeter_{uuid.uuid4().hex[:8]}"
    install(tmp_path, "acme-greeter", {module: GREETER}, {"greeter": f"{module}:GreeterConnector"})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.clear_cache()
    yield tmp_path, module
    monkeypatch.undo()
    registry.clear_cache()


def test_an_entry_point_connector_runs_in_a_worker_process(plugin, workflow_factory, rule_factory, start_worker):
    directory, _module = plugin
    assert_connector_contract(registry.get_connector("greeter").__class__, examples={"greet": {"name": "Ann"}})
    steps = [
        {"id": "greet", "connector": "greeter", "action": "greet", "with": {"name": "{{ event.payload.name }}"}},
        {"id": "note", "connector": "log", "action": "write", "with": {"message": "{{ steps.greet.output.greeting }}"}},
    ]
    rule_factory(workflow_factory(steps=steps))
    good = django_automate.emit("order.created", {"name": "Ann"})
    bad = django_automate.emit("order.created", {"name": ""})  # valid JSON, invalid for the action's schema

    pythonpath = os.pathsep.join([str(ROOT), str(ROOT / "src"), str(directory)])
    worker = start_worker(PYTHONPATH=pythonpath)
    finished = ExecutionRun.objects.filter(status__in=["succeeded", "failed"])
    wait_for(lambda: finished.count() == 2, 60, "two finished runs", worker)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.output()[-2000:]

    run = ExecutionRun.objects.get(event=good)
    assert run.status == "succeeded"
    greet = StepRun.objects.get(run=run, step_id="greet")
    assert greet.output == {"greeting": "Hello, Ann!", "step": f"{run.id}:greet", "trace": run.trace_id}
    assert greet.cost == Decimal("1.5")
    assert StepRun.objects.get(run=run, step_id="note").output["logged"] == "Hello, Ann!"

    failed = ExecutionRun.objects.get(event=bad)
    assert failed.status == "failed"
    error = StepRun.objects.get(run=failed, step_id="greet").error
    assert error["code"] == "validation_error"
    assert error["details"]["errors"] == [{"path": "$.name", "message": "must have at least 1 characters."}]
    assert "Traceback" not in worker.output()
