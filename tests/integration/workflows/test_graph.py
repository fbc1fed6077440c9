"""Step graphs (``needs``): validation, joins, failure semantics, retry and cancel (SPEC §13)."""

from __future__ import annotations

import json
import threading
import time

import pytest

import django_automate
from django_automate.models import ExecutionRun, JobKind, JobStatus, OutboxJob, StepRun
from django_automate.runs import operations
from django_automate.worker.loop import Worker
from django_automate.workflows.definition import definition_problems

pytestmark = pytest.mark.django_db(transaction=True)


def log(step_id: str, message: str = "hi", **extra: object) -> dict:
    return {"id": step_id, "connector": "log", "action": "write", "with": {"message": message}, **extra}


def call(step_id: str, url: str, **extra: object) -> dict:
    step = {"id": step_id, "connector": "http", "action": "request", "with": {"method": "POST", "url": url}}
    step["with"]["json"] = {"step": step_id}
    return {**step, **extra}


def diamond(url: str, **b_extra: object) -> list[dict]:
    return [
        log("a"),
        call("b", f"{url}/b", needs=["a"], **b_extra),
        call("c", f"{url}/c", needs=["a"]),
        log("d", "{{ steps.b.status }}/{{ steps.c.status }}", needs=["b", "c"]),
    ]


def attempts(step_id: str) -> list[StepRun]:
    return list(StepRun.objects.filter(step_id=step_id).order_by("attempt"))


def paths(problems: list[dict[str, str]]) -> dict[str, str]:
    return {p["path"]: p["message"] for p in problems}


# -- validation ---------------------------------------------------------------------------------


def test_unknown_self_and_cyclic_needs_are_reported_with_their_paths():
    unknown = paths(definition_problems({"steps": [log("a"), log("b", needs=["a", "zz"])]}))
    assert "There is no step 'zz'" in unknown["$.steps[1].needs[1]"]
    itself = paths(definition_problems({"steps": [log("a", needs=["a"])]}))
    assert "cannot need itself" in itself["$.steps[0].needs[0]"]
    cyclic = definition_problems({"steps": [log("a", needs=["c"]), log("b", needs=["a"]), log("c", needs=["b"])]})
    assert cyclic == [{"path": "$.steps[0].needs", "message": "The steps' needs form a cycle: a -> c -> b -> a."}]
    # A step without needs needs the one before it: that closes a cycle too.
    implied = paths(definition_problems({"steps": [log("a", needs=["b"]), log("b")]}))
    assert "cycle: a -> b -> a" in implied["$.steps[0].needs"]
    repeated = paths(definition_problems({"steps": [log("a"), log("b", needs=["a", "a"])]}))
    assert "$.steps[1].needs" in repeated


def test_a_step_reads_only_its_ancestors():
    parallel = [log("a"), log("b", needs=["a"]), log("c", "{{ steps.b.output }}", needs=["a"])]
    problems = paths(definition_problems({"steps": parallel}))
    assert "not among the steps this step needs" in problems["$.steps[2].with.message"]
    # Through a need of a need, and by a JSON Logic condition, an ancestor is readable.
    chain = [
        log("a"),
        log("b", needs=["a"]),
        log("c", "{{ steps.a.output }}", needs=["b"], **{"if": {"var": "steps.b.status"}}),
    ]
    assert definition_problems({"steps": chain}) == []
    bad_if = [log("a"), log("b", needs=[]), log("c", needs=["a"], **{"if": {"==": [{"var": "steps.b.status"}, 1]}})]
    assert "not among the steps" in paths(definition_problems({"steps": bad_if}))['$.steps[2].if["=="][0].var']


def test_needs_must_be_a_list_of_step_ids():
    problems = paths(definition_problems({"steps": [log("a"), log("b", needs="a")]}))
    assert "$.steps[1].needs" in problems
    problems = paths(definition_problems({"steps": [log("a"), log("b", needs=["A b"])]}))
    assert "$.steps[1].needs[0]" in problems


def test_definitions_without_needs_keep_their_meaning(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=[log("a"), log("b", "{{ steps.a.status }}")]))
    django_automate.emit("order.created", {})
    run_worker()
    assert ExecutionRun.objects.get().status == "succeeded"
    # One job for the whole run, as before: no step jobs.
    assert not OutboxJob.objects.filter(kind=JobKind.EXECUTE_STEP).exists()


# -- execution ----------------------------------------------------------------------------------


def test_a_diamond_runs_its_join_once_after_both_branches(workflow_factory, rule_factory, run_worker, http_sink):
    rule_factory(workflow_factory(steps=diamond(http_sink.url)))
    django_automate.emit("order.created", {})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "succeeded", run.error
    (a,), (b,), (c,), (d,) = attempts("a"), attempts("b"), attempts("c"), attempts("d")
    assert [s.status for s in (a, b, c, d)] == ["succeeded"] * 4
    assert d.input == {"message": "succeeded/succeeded"}
    assert d.started_at >= max(b.finished_at, c.finished_at) and min(b.started_at, c.started_at) >= a.finished_at
    assert sorted(json.loads(r["body"])["step"] for r in http_sink.requests) == ["b", "c"]
    # Each step's key is <run_id>:<step_id>, sent to the server as the Idempotency-Key.
    assert {r["headers"]["idempotency-key"] for r in http_sink.requests} == {f"{run.id}:b", f"{run.id}:c"}
    jobs = OutboxJob.objects.filter(run=run)
    assert sorted(jobs.filter(kind=JobKind.EXECUTE_STEP).values_list("step_id", flat=True)) == ["a", "b", "c", "d"]
    assert set(jobs.values_list("status", flat=True)) == {JobStatus.DONE}


def test_ready_branches_run_at_the_same_time_on_two_threads(workflow_factory, rule_factory, http_sink):
    http_sink.delay_seconds = 0.6
    rule_factory(workflow_factory(steps=diamond(http_sink.url)))
    worker = Worker(concurrency=2, install_signal_handlers=False)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        django_automate.emit("order.created", {})
        deadline = time.monotonic() + 30
        while not ExecutionRun.objects.filter(status__in=("succeeded", "failed")).exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(10)
    assert ExecutionRun.objects.get().status == "succeeded"
    (b,), (c,) = attempts("b"), attempts("c")
    assert b.started_at < c.finished_at and c.started_at < b.finished_at, "the branches overlap"


def test_a_failing_branch_fails_the_run_and_cancels_what_has_not_started(
    workflow_factory, rule_factory, run_worker, http_sink
):
    http_sink.responses.append((400, {}, b"{}"))
    steps = [
        log("a"),
        {"id": "nap", "sleep": {"seconds": 600}, "needs": ["a"]},  # listed first: its job is claimed first
        call("b", f"{http_sink.url}/b", needs=["a"]),
        log("d", needs=["b", "nap"]),
    ]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "failed" and run.error["step_id"] == "b"
    assert [s.status for s in attempts("b")] == ["failed"]
    # The sleep in the other branch ends with the run; the join never starts.
    assert [s.status for s in attempts("nap")] == ["failed"]
    assert attempts("d") == []
    assert not OutboxJob.objects.filter(status__in=(JobStatus.READY, JobStatus.CLAIMED)).exists()


def test_on_failure_continue_lets_the_join_run_and_read_the_failure(
    workflow_factory, rule_factory, run_worker, http_sink
):
    http_sink.responses.append((400, {}, b"{}"))
    rule_factory(workflow_factory(steps=diamond(http_sink.url, on_failure="continue")))
    django_automate.emit("order.created", {})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "succeeded"
    assert attempts("d")[0].input == {"message": "failed/succeeded"}


def test_a_failed_graph_run_retries_from_its_failed_step_only(workflow_factory, rule_factory, run_worker, http_sink):
    http_sink.responses.append((400, {}, b"{}"))
    rule_factory(workflow_factory(steps=diamond(http_sink.url)))
    django_automate.emit("order.created", {})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "failed"
    operations.retry_run(run, actor="test")
    run_worker()
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert [s.status for s in attempts("b")] == ["failed", "succeeded"]
    assert len(attempts("a")) == 1 and len(attempts("d")) == 1
    # c had succeeded (or had not started when b failed); either way it ran exactly once.
    assert [s.status for s in attempts("c")] == ["succeeded"]
    called = sorted(json.loads(r["body"])["step"] for r in http_sink.requests)
    assert called == ["b", "b", "c"]


def test_cancelling_a_graph_run_stops_every_branch(workflow_factory, rule_factory, run_worker):
    steps = [
        log("a"),
        {"id": "one", "sleep": {"seconds": 600}, "needs": ["a"]},
        {"id": "two", "sleep": {"seconds": 600}, "needs": ["a"]},
        log("d", needs=["one", "two"]),
    ]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "waiting"
    assert [s.status for s in attempts("one")] == ["running"] and [s.status for s in attempts("two")] == ["running"]
    operations.cancel_run(run, actor="test")
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert [s.status for s in attempts("one") + attempts("two")] == ["failed", "failed"]
    assert not OutboxJob.objects.filter(status__in=(JobStatus.READY, JobStatus.CLAIMED)).exists()
    assert attempts("d") == []


def test_a_step_job_claimed_after_its_run_ended_does_not_start(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=[log("a", needs=[]), log("b", needs=[])]))
    django_automate.emit("order.created", {})
    # Route and start the graph, but not the steps: run only the routing and the run's job.
    from django_automate.outbox.claim import claim_one
    from django_automate.worker.handlers import process

    for _ in range(2):
        job = claim_one(worker_id="t", queues=["default"])
        assert job is not None and job.kind != JobKind.EXECUTE_STEP
        process(job)
    assert OutboxJob.objects.filter(kind=JobKind.EXECUTE_STEP, status=JobStatus.READY).count() == 2
    run = ExecutionRun.objects.get()
    assert run.status == "running"
    operations.cancel_run(run, actor="test")
    run_worker()
    assert StepRun.objects.count() == 0


def test_a_branch_waiting_for_an_event_resumes_while_the_run_runs_and_the_join_follows(
    workflow_factory, rule_factory, run_worker
):
    paid = {
        "id": "paid",
        "needs": ["a"],
        "wait_for": {
            "event_type": "invoice.paid",
            "correlate": {"path": "payload.customer", "value": "{{ event.payload.customer }}"},
            "timeout_seconds": 3600,
        },
    }
    steps = [
        log("a"),
        paid,
        log("c", needs=["a"]),
        log("d", "t={{ steps.paid.output.timed_out }}", needs=["paid", "c"]),
    ]
    rule_factory(workflow_factory(steps=steps), event_type="order.*")
    django_automate.emit("order.created", {"customer": "cus_1"})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "waiting"
    assert [s.status for s in attempts("c")] == ["succeeded"] and attempts("d") == []
    django_automate.emit("invoice.paid", {"customer": "cus_2"})  # another customer's: not this run's
    run_worker()
    assert ExecutionRun.objects.get(pk=run.pk).status == "waiting"
    django_automate.emit("invoice.paid", {"customer": "cus_1"})
    run_worker()
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert attempts("paid")[-1].output["payload"] == {"customer": "cus_1"}
    assert attempts("d")[0].input == {"message": "t=false"}


def test_an_approval_in_one_branch_holds_only_its_join(workflow_factory, rule_factory, run_worker):
    from django.contrib.auth.models import User

    from django_automate.runs import approvals

    gate = {"id": "ok", "needs": ["a"], "approval": {"title": "Ship?", "timeout_seconds": 3600}}
    steps = [log("a"), gate, log("c", needs=["a"]), log("d", "{{ steps.ok.output.decision }}", needs=["ok", "c"])]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "waiting" and [s.status for s in attempts("c")] == ["succeeded"]
    user = User.objects.create_superuser("boss", "boss@example.com", None)
    approvals.decide(run, "ok", "approve", user=user, actor="user:boss")
    run_worker()
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert attempts("d")[0].input == {"message": "approve"}
