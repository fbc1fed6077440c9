"""A stateful property test: any interleaving of work, retries, crashes, cancels and late writes
keeps runs and steps in legal states, in order, with at most one success per step."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any, ClassVar

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

import django_automate
from django_automate import exceptions
from django_automate.connectors.base import (
    Action,
    BaseConnector,
    ConnectorContext,
    PermanentError,
    RetryableError,
    StepResult,
)
from django_automate.models import Event, ExecutionRun, JobStatus, OutboxJob, RunStatus, StepRun
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob, claim_one, recover_expired
from django_automate.runs import operations, states
from django_automate.worker.handlers import process

pytestmark = pytest.mark.django_db

STEPS = ("a", "b", "c")
OUTCOMES: list[str] = []


class SimulatedCrash(BaseException):
    """The worker process dies in the middle of a step."""


class ScriptConnector(BaseConnector):
    type = "script"
    actions: ClassVar[dict[str, Action]] = {"do": Action("do", {"type": "object"})}

    def execute(self, action: str, params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
        outcome = OUTCOMES.pop(0) if OUTCOMES else "ok"
        if outcome == "retry":
            raise RetryableError("try again")
        if outcome == "fail":
            raise PermanentError("no")
        if outcome == "crash":
            raise SimulatedCrash
        return StepResult(output={"step": ctx.step_id})


def reachable(source: str, target: str) -> bool:
    seen, frontier = {source}, [source]
    while frontier:
        for nxt in states.RUN_TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return target in seen


class RunMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.stale: list[ClaimedJob] = []
        self.last_status: str = RunStatus.PENDING
        self.steps_at_cancel: int | None = None

    @initialize()
    def emit(self) -> None:
        for model in (StepRun, OutboxJob, ExecutionRun, Event):
            model.objects.all().delete()
        OUTCOMES.clear()
        django_automate.emit("order.created", {})

    def _claim(self) -> ClaimedJob | None:
        OutboxJob.objects.filter(status=JobStatus.READY).update(available_at=timezone.now())
        return claim_one(worker_id="machine", queues=["default"])

    @property
    def run(self) -> ExecutionRun | None:
        return ExecutionRun.objects.first()

    @rule(outcomes=st.lists(st.sampled_from(["ok", "ok", "retry", "fail"]), min_size=3, max_size=3))
    def work(self, outcomes: list[str]) -> None:
        OUTCOMES[:] = outcomes
        job = self._claim()
        if job is not None:
            process(job)

    @rule(before=st.lists(st.sampled_from(["ok", "retry"]), max_size=2))
    def crash(self, before: list[str]) -> None:
        OUTCOMES[:] = [*before, "crash"]
        job = self._claim()
        if job is None:
            return
        try:
            process(job)
        except SimulatedCrash:
            self.stale.append(job)
            OutboxJob.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
            recover_expired()

    @rule()
    def late_write_is_fenced_out(self) -> None:
        for job in self.stale:
            with pytest.raises(exceptions.LeaseLost):
                lease.complete(job)

    @rule()
    def cancel(self) -> None:
        run = self.run
        if run is None:
            return
        if run.status in (RunStatus.PENDING, RunStatus.RUNNING):
            operations.cancel_run(run, actor="machine")
            self.steps_at_cancel = StepRun.objects.count()
        else:
            with pytest.raises(exceptions.IllegalTransition):
                operations.cancel_run(run, actor="machine")

    @rule()
    def retry(self) -> None:
        run = self.run
        if run is None:
            return
        if run.status == RunStatus.FAILED:
            operations.retry_run(run, actor="machine")
        else:
            with pytest.raises(exceptions.IllegalTransition):
                operations.retry_run(run, actor="machine")

    @invariant()
    def states_are_legal_and_ordered(self) -> None:
        run = self.run
        if run is None:
            return
        assert run.status == self.last_status or reachable(self.last_status, run.status), (
            self.last_status,
            run.status,
        )
        self.last_status = run.status
        succeeded = list(run.steps.filter(status="succeeded").values_list("step_id", flat=True))
        assert len(succeeded) == len(set(succeeded)), "a step succeeded twice"
        assert succeeded == list(STEPS[: len(succeeded)]), f"steps out of order: {succeeded}"
        if run.status == RunStatus.SUCCEEDED:
            assert succeeded == list(STEPS)
        if self.steps_at_cancel is not None:
            assert StepRun.objects.count() == self.steps_at_cancel, "a step started after cancellation"
        running = run.steps.filter(status="running").count()
        assert running <= 1


def test_run_state_machine_never_reaches_an_illegal_state(settings_override):
    examples = int(os.environ.get("AUTOMATE_STATEFUL_EXAMPLES", "500"))
    run_state_machine_as_test(
        RunMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


@pytest.fixture
def settings_override(settings, workflow_factory, rule_factory):
    settings.AUTOMATE = {
        **settings.AUTOMATE,
        "CONNECTORS": {"script": f"{__name__}.ScriptConnector"},
    }
    steps = [
        {"id": s, "connector": "script", "action": "do", "retry": {"max_attempts": 2, "initial_seconds": 0.001}}
        for s in STEPS
    ]
    rule_factory(workflow_factory(steps=steps))
