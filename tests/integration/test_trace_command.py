"""``manage.py automate trace <trace_id>``: the timeline as text or JSON, in milliseconds, redacted."""

from __future__ import annotations

import io
import json
import re
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import django_automate
from django_automate.models import Event, ExecutionRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def trace_id(workflow_factory, rule_factory, run_worker) -> str:
    steps = [
        {"id": "greet", "connector": "log", "action": "write", "with": {"message": "hi"}},
        {"id": "bye", "connector": "log", "action": "write", "with": {"message": "bye"}},
    ]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {"id": 7})
    run_worker()
    assert ExecutionRun.objects.get().status == "succeeded"
    return str(Event.objects.get().trace_id)


def trace(*args: str) -> str:
    out = io.StringIO()
    call_command("automate", "trace", *args, stdout=out)
    return out.getvalue()


def test_the_text_timeline_lists_event_run_and_steps_with_ms_offsets(trace_id):
    lines = trace(trace_id).splitlines()
    assert lines[0].startswith(f"trace {trace_id}, from ")
    assert re.match(r"^ +\+0 ms  event order\.created ", lines[1])
    run = ExecutionRun.objects.get()
    assert any(f"run {run.id} wf v1 rule rule-wf: succeeded, " in line for line in lines)
    steps = [line for line in lines if "  step " in line]
    assert [re.search(r"step (\w+) #1 log\.write: succeeded, \d+ ms", s).group(1) for s in steps] == ["greet", "bye"]
    offsets = [int(re.match(r"^ *\+(\d+) ms", line).group(1)) for line in lines[1:]]
    assert offsets == sorted(offsets)


def test_json_output_is_redacted_and_has_offsets(trace_id):
    from django_automate.models import StepRun

    StepRun.objects.filter(step_id="greet").update(error={"code": "x", "message": "m", "password": "hunter2"})
    document = json.loads(trace(trace_id, "--json"))
    assert document["trace_id"] == trace_id
    kinds = [entry["kind"] for entry in document["entries"]]
    assert kinds[:2] == ["event", "run"] and kinds.count("step") == 2
    assert all(isinstance(entry["offset_ms"], int) for entry in document["entries"])
    greet = next(e for e in document["entries"] if e.get("step_id") == "greet")
    assert greet["error"]["password"] == "[REDACTED]" and "hunter2" not in json.dumps(document)
    assert "hunter2" not in trace(trace_id)


def test_an_unknown_or_malformed_trace_is_a_clear_error():
    unknown = str(uuid.uuid4())
    with pytest.raises(CommandError, match=f"Nothing was recorded under the trace id {unknown}"):
        trace(unknown)
    with pytest.raises(CommandError, match="is not a trace id"):
        trace("not-a-uuid")
