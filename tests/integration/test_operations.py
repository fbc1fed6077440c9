"""Operator actions: retry from the failed step, cancel, replay — and their audit entries."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import django_automate
from django_automate import exceptions
from django_automate.models import AuditEntry, ExecutionRun, JobStatus, OutboxJob, StepRun
from django_automate.runs import operations

pytestmark = pytest.mark.django_db(transaction=True)


def two_steps(url: str) -> list[dict]:
    return [
        {"id": "first", "connector": "log", "action": "write", "with": {"message": "one"}},
        {
            "id": "second",
            "connector": "http",
            "action": "request",
            "with": {"method": "POST", "url": url},
            "retry": {"max_attempts": 1},
        },
    ]


@pytest.fixture
def failed_run(workflow_factory, rule_factory, http_sink, run_worker) -> ExecutionRun:
    http_sink.responses = [(500, {}, b"{}")]
    rule_factory(workflow_factory(steps=two_steps(http_sink.url)))
    django_automate.emit("order.created", {})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "failed"
    return run


def test_retry_resumes_from_the_failed_step_without_rerunning_succeeded_ones(failed_run, http_sink, run_worker):
    operations.retry_run(failed_run, actor="alice")
    run_worker()
    failed_run.refresh_from_db()
    assert failed_run.status == "succeeded"
    assert StepRun.objects.filter(step_id="first").count() == 1
    assert list(StepRun.objects.filter(step_id="second").order_by("attempt").values_list("status", flat=True)) == [
        "failed",
        "succeeded",
    ]
    assert len(http_sink.requests) == 2
    entry = AuditEntry.objects.get(action="run.retried")
    assert (entry.actor, entry.object_id, entry.trace_id) == ("alice", str(failed_run.id), failed_run.trace_id)


def test_only_failed_runs_can_be_retried(failed_run, run_worker):
    operations.retry_run(failed_run, actor="a")
    with pytest.raises(exceptions.IllegalTransition):
        operations.retry_run(failed_run, actor="a")


def test_cancel_stops_a_pending_run_and_its_job(workflow_factory, rule_factory, run_worker):
    from django_automate.outbox.claim import claim_one
    from django_automate.runs.routing import route_event

    rule_factory(workflow_factory())
    django_automate.emit("order.created", {})
    route_event(claim_one(worker_id="w", queues=["default"]))
    run = ExecutionRun.objects.get()
    operations.cancel_run(run, actor="bob")
    run_worker()
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert StepRun.objects.count() == 0
    assert OutboxJob.objects.get(run=run).status == JobStatus.CANCELLED
    with pytest.raises(exceptions.IllegalTransition):
        operations.cancel_run(run, actor="bob")


def test_replay_creates_a_new_run_pinned_to_the_current_version(failed_run, http_sink, run_worker):
    from django_automate.workflows.publishing import publish

    publish(failed_run.workflow, {"steps": two_steps(http_sink.url)})
    [replay] = operations.replay_event(failed_run.event, actor="carol")
    [again] = operations.replay_event(failed_run.event, actor="carol")
    run_worker()
    replay.refresh_from_db()
    assert (replay.replay_of, replay.replay_seq, replay.workflow_version.number) == (failed_run, 1, 2)
    assert (again.replay_of, again.replay_seq) == (replay, 2)
    assert replay.status == "succeeded"
    assert replay.trace_id == failed_run.trace_id
    assert AuditEntry.objects.filter(action="event.replayed").count() == 2


def test_commands_call_the_same_services(failed_run, capsys):
    call_command("automate", "retry", str(failed_run.id))
    assert "queued for retry" in capsys.readouterr().out
    with pytest.raises(CommandError, match="conflict"):
        call_command("automate", "retry", str(failed_run.id))
    with pytest.raises(CommandError, match="No execution run"):
        call_command("automate", "cancel", "not-a-uuid")
    call_command("automate", "cancel", str(failed_run.id))
    call_command("automate", "replay", str(failed_run.event_id))
    assert ExecutionRun.objects.count() == 2


def test_bulk_replay_by_filter(workflow_factory, rule_factory, run_worker, capsys):
    rule_factory(workflow_factory())
    for n in range(3):
        django_automate.emit("order.created", {"n": n})
    django_automate.emit("invoice.sent", {})
    run_worker()
    call_command("automate", "replay", "--type", "order.created")
    assert "3 events read, 3 matched, 3 runs started (wf 3)" in capsys.readouterr().out
    assert ExecutionRun.objects.filter(replay_seq=1).count() == 3
    with pytest.raises(CommandError, match="at least one filter"):
        call_command("automate", "replay")
    with pytest.raises(CommandError, match=r"validation_error \(invalid_datetime\).*ISO 8601"):
        call_command("automate", "replay", "--since", "yesterday")
