"""One attempt of one step: condition, templating, secret resolution, connector call, fenced write-back."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from django_automate import conf, exceptions
from django_automate.connectors.base import ConnectorContext, RetryableError, StepResult
from django_automate.connectors.registry import get_connector
from django_automate.internal import sql
from django_automate.models import Budget, ExecutionRun, RunStatus, StepRun, StepStatus
from django_automate.observability import instrument
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.outbox.retry import RetryPolicy
from django_automate.policy import budgets
from django_automate.policy.redaction import mask_values, redact
from django_automate.runs import rate_limits, single_statement, states, transactional
from django_automate.runs.deadline import call_with_deadline
from django_automate.secrets.refs import Resolver
from django_automate.tracing import context
from django_automate.tracing.logging import log_extra
from django_automate.workflows.templating import render

logger = logging.getLogger(__name__)


class Outcome(enum.Enum):
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    FAILED = "failed"
    RETRY_SCHEDULED = "retry_scheduled"
    #: The run sleeps (``runs.waits``): its job is rescheduled for the due time.
    WAITING = "waiting"


@dataclass
class StepCall:
    """Everything one step attempt needs."""

    job: ClaimedJob
    run: ExecutionRun
    index: int
    step: dict[str, Any]
    data: dict[str, Any]
    using: str = "default"
    #: This step's earlier attempts, oldest first (the executor loads every step's rows once per job).
    history: list[StepRun] = field(default_factory=list)
    #: For the last step: finishes the run inside the transaction that records its success.
    finish: Callable[[], str] | None = None
    #: The run's status after ``finish`` ran.
    finished: str | None = None
    #: The budgets the executor loaded for this job (``budgets.load``); None queries them per check.
    budgets: list[Budget] | None = None
    #: The idempotency key of the attempts, when not ``<run_id>:<step_id>`` (an item: ``<run_id>:<step_id>:<index>``).
    key: str = ""

    @property
    def step_id(self) -> str:
        return str(self.step["id"])

    @property
    def idempotency_key(self) -> str:
        return self.key or f"{self.run.id}:{self.step_id}"


def settled(call: StepCall) -> Outcome | None:
    """What an earlier attempt already decided for this step, recording its output in ``call.data``."""
    if not call.history:
        return None
    last = call.history[-1]
    if last.status == StepStatus.SUCCEEDED:
        call.data["steps"][call.step_id] = {"status": "succeeded", "output": last.output}
        return Outcome.SUCCEEDED
    if last.status == StepStatus.SKIPPED:
        call.data["steps"][call.step_id] = {"status": "skipped", "output": None}
        return Outcome.SKIPPED
    if last.status == StepStatus.FAILED and call.step.get("on_failure") == "continue":
        call.data["steps"][call.step_id] = {"status": "failed", "output": None, "error": last.error}
        return Outcome.FAILED
    if last.status == StepStatus.RUNNING:
        # A worker died (or lost its lease) mid-attempt: that attempt counts, and is closed now.
        with transaction.atomic(using=call.using):
            lease.fence(call.job, using=call.using)
            states.close_step(
                last,
                StepStatus.RETRYING,
                using=call.using,
                error={"code": "attempt_interrupted", "message": "The worker stopped during this attempt."},
            )
    return None


def _round_attempts(call: StepCall) -> tuple[int, int]:
    """(next attempt number, attempts made since the step last failed for good)."""
    in_round = 0
    for earlier in reversed(call.history):
        if earlier.status == StepStatus.FAILED:
            break
        in_round += 1
    return len(call.history) + 1, in_round


def start_run(run: ExecutionRun, *, using: str) -> None:
    """Inside a transaction: move a pending run to running, with the first write of its job that needs it.

    Starting a run is not a transaction of its own: it commits with the run's first step
    attempt (or whatever else the job writes first), so a job that stops earlier leaves
    nothing behind and is not charged twice for the run.
    """
    if run.status == RunStatus.PENDING:
        states.transition(run, RunStatus.RUNNING, using=using)
        logger.info("Run %s started", run.id, extra=log_extra("run_started"))


def new_attempt(call: StepCall, attempt: int, status: str, **values: Any) -> StepRun:
    """The row of one attempt of ``call``'s step, not saved yet."""
    now = timezone.now()
    return StepRun(
        tenant=call.run.tenant,
        run=call.run,
        step_id=call.step_id,
        step_index=call.index,
        attempt=attempt,
        connector=str(call.step.get("connector", "")),
        action=str(call.step.get("action", "sleep" if "sleep" in call.step else "")),
        status=status,
        idempotency_key=call.idempotency_key,
        trace_id=call.run.trace_id,
        started_at=now,
        finished_at=None if status == StepStatus.RUNNING else now,
        success_guard=True if status == StepStatus.SUCCEEDED else None,
        **values,
    )


def record_attempt(call: StepCall, attempt: int, status: str, **values: Any) -> StepRun:
    """Record an attempt, fenced by the job's lease, starting a pending run with it."""
    step_run = new_attempt(call, attempt, status, **values)
    if single_statement.available(call.using):
        single_statement.record(call.job, call.run, step_run, using=call.using)
        return step_run
    with transaction.atomic(using=call.using):
        lease.fence(call.job, using=call.using)
        start_run(call.run, using=call.using)
        sql.insert(step_run, call.using)
        return step_run


@instrument.step
def run_step(call: StepCall) -> Outcome:
    """Run the step once (or skip it), recording the attempt; reschedules the job for retries."""
    done = settled(call)
    if done is not None:
        return done
    attempt, in_round = _round_attempts(call)
    decided = condition(call, attempt)
    if decided is not None:
        return decided
    try:
        rendered = render(call.step.get("with", {}), call.data)
        held = rate_limits.hold(call.run.tenant, call.step, call.data, using=call.using)
    except exceptions.AutomateError as exc:
        return fail_attempt(call, attempt, {"code": exc.code, "message": exc.message, "details": exc.details})
    if held is not None:  # before the budgets: a step held back is neither attempted nor charged
        return _defer(call, held.until, held.error)
    stopped = _over_budget(call, attempt)
    if stopped is not None:
        return stopped
    if records_once(call.step):
        step_run = new_attempt(call, attempt, StepStatus.RUNNING, input=redact(rendered))  # written after the call
        return _execute(call, step_run, in_round + 1, recorded=False)
    step_run = record_attempt(call, attempt, StepStatus.RUNNING, input=redact(rendered))
    return _execute(call, step_run, in_round + 1)


def records_once(step: dict[str, Any]) -> bool:
    """Whether the step's attempt is written once, after its call, instead of before and after it.

    So when the call has no effect outside our transaction (a ``python`` step with
    ``"transaction": true``) or outside the worker (a connector with ``external = False``,
    like ``log``): a record before the call would protect nothing. A worker that dies during
    such a call leaves no attempt behind, and the step is called again on the next claim.
    """
    if transactional.requested(step):
        return True
    try:
        connector = get_connector(str(step.get("connector", "")))
    except exceptions.AutomateError:
        return False  # the attempt fails, recorded as any other
    return not getattr(connector, "external", True)


def condition(call: StepCall, attempt: int) -> Outcome | None:
    """Evaluate the step's ``if``: the attempt is recorded skipped (false) or failed (invalid), else None."""
    if "if" not in call.step:
        return None
    from django_automate.rules.jsonlogic import evaluate, truthy

    try:
        should_run = truthy(evaluate(call.step["if"], call.data))
    except exceptions.AutomateError as exc:
        return fail_attempt(call, attempt, {"code": exc.code, "message": f"Step condition failed: {exc.message}"})
    if should_run:
        return None
    record_attempt(call, attempt, StepStatus.SKIPPED)
    call.data["steps"][call.step_id] = {"status": "skipped", "output": None}
    return Outcome.SKIPPED


def _over_budget(call: StepCall, attempt: int) -> Outcome | None:
    """Charge the attempt to its budgets; a spent one fails the step (block) or waits for its next window (defer)."""
    try:
        connector_type = str(call.step.get("connector", ""))
        budgets.check_and_consume_step(call.run, call.step, connector_type, using=call.using, loaded=call.budgets)
    except budgets.BudgetDeferred as exc:
        return _defer(call, exc.until, {"code": exc.code, "message": exc.message})
    except exceptions.BudgetExceeded as exc:
        return fail_attempt(call, attempt, {"code": exc.code, "message": exc.message, "details": exc.details})
    return None


def _defer(call: StepCall, until: dt.datetime, error: dict[str, Any]) -> Outcome:
    """Reschedule the job to ``until`` without attempting the step (a budget window, a rate limit)."""
    with transaction.atomic(using=call.using):
        lease.reschedule(call.job, until, error, using=call.using)
        start_run(call.run, using=call.using)  # the run budget is not charged again on the next claim
    return Outcome.RETRY_SCHEDULED


def _execute(call: StepCall, step_run: StepRun, round_attempt: int, *, recorded: bool = True) -> Outcome:
    """Call the connector and close the attempt (``recorded``: written before the call; else written now)."""
    resolver = Resolver(tenant=call.run.tenant, using=call.using)
    timeout = float(call.step.get("timeout_seconds", conf.default_step_timeout()))
    started = time.monotonic()
    retry_after: float | None = None
    error: dict[str, Any] | None = None
    retryable = False
    output: Any = None
    cost: float | None = None
    committed = False
    stored: Any = None

    def succeed(result: StepResult, *, in_transaction: bool = False) -> None:
        nonlocal stored
        stored = redact(mask_values(result.output, resolver.values))
        duration = int((time.monotonic() - started) * 1000)
        _record_success(call, step_run, duration, stored, result.cost, in_transaction=in_transaction, recorded=recorded)

    with context.bind(step_id=call.step_id), resolver.masking_scope():
        try:
            connector = get_connector(str(call.step["connector"]))
            ctx = ConnectorContext(
                idempotency_key=step_run.idempotency_key,
                trace_id=call.run.trace_id,
                deadline=started + timeout,
                run_id=str(call.run.id),
                step_id=call.step_id,
                tenant=call.run.tenant,
            )
            # Rendered again, now resolving the secrets written literally in the definition (never
            # references that data brought in); the stored input above is the rendering without them.
            params = render(call.step.get("with", {}), call.data, secrets=resolver)
            invoke = functools.partial(connector.execute, str(call.step["action"]), params, ctx)
            with instrument.connector_call(str(call.step["connector"]), str(call.step["action"])):
                if transactional.requested(call.step):
                    # Called in this thread, inside the transaction that records its success.
                    in_transaction = functools.partial(succeed, in_transaction=True)
                    result = transactional.call_and_succeed(
                        call.using, call.job, invoke, timeout=timeout, succeed=in_transaction
                    )
                    committed = True
                else:
                    result = call_with_deadline(invoke, timeout=timeout)
            output, cost = result.output, result.cost
        except exceptions.LeaseLost:
            raise
        except RetryableError as exc:
            retryable, retry_after = True, exc.retry_after
            error = {"code": exc.code, "message": exc.message, "details": exc.details}
        except exceptions.AutomateError as exc:
            error = {"code": exc.code, "message": exc.message, "details": exc.details}
        except Exception as exc:  # a connector bug must not kill the worker; retried like a transient error
            retryable = True
            error = {"code": "unexpected_error", "message": f"{exc.__class__.__name__}: {exc}"}
            logger.exception("Step %s raised", call.step_id, extra=log_extra("step_crashed"))
    duration_ms = int((time.monotonic() - started) * 1000)
    if error is not None:
        error = mask_values(error, resolver.values)
        policy = RetryPolicy.from_step(call.step)
        if retryable and round_attempt < policy.max_attempts:
            delay = policy.delay(round_attempt, retry_after)
            with transaction.atomic(using=call.using):
                # The reschedule is conditional on the lease: if it is lost, LeaseLost rolls the close back too.
                lease.reschedule(call.job, timezone.now() + dt.timedelta(seconds=delay), error, using=call.using)
                _close(call, step_run, StepStatus.RETRYING, duration_ms, recorded=recorded, error=error)
            logger.info(
                "Step %s attempt %s failed; retry in %.1fs",
                call.step_id,
                step_run.attempt,
                delay,
                extra=log_extra("step_retry_scheduled", code=error["code"]),
            )
            return Outcome.RETRY_SCHEDULED
        with transaction.atomic(using=call.using):
            lease.fence(call.job, using=call.using)
            _close(call, step_run, StepStatus.FAILED, duration_ms, recorded=recorded, error=error)
        call.data["steps"][call.step_id] = {"status": "failed", "output": None, "error": error}
        return Outcome.FAILED
    if not committed:
        succeed(StepResult(output, cost))
    budgets.record_cost(call.run, str(call.step.get("connector", "")), cost, using=call.using, loaded=call.budgets)
    call.data["steps"][call.step_id] = {"status": "succeeded", "output": stored}
    logger.info("Step %s succeeded", call.step_id, extra=log_extra("step_succeeded", duration_ms=duration_ms))
    return Outcome.SUCCEEDED


def _record_success(
    call: StepCall,
    step_run: StepRun,
    duration_ms: int,
    stored: Any,
    cost: float | None,
    *,
    in_transaction: bool,
    recorded: bool,
) -> None:
    """Close the attempt succeeded, fenced by the lease; with ``in_transaction``, in the caller's transaction."""
    if single_statement.available(call.using) and not in_transaction:
        # The same writes as below, in one statement (``finish`` is set for the last step only).
        write = single_statement.close_succeeded if recorded else single_statement.insert_succeeded
        call.finished = write(
            call.job,
            call.run,
            step_run,
            last=call.finish is not None,
            using=call.using,
            duration_ms=duration_ms,
            output=stored,
            cost=cost,
        )
        return
    with transaction.atomic(using=call.using, savepoint=False):
        if call.finish is None:
            # Inside a transactional step's transaction too: the lease must still be unexpired now.
            lease.fence(call.job, using=call.using)
        else:
            # The last step: the run ends and the job completes in this transaction. The job write
            # is conditional on the lease, so a late worker gets LeaseLost before touching the attempt.
            call.finished = call.finish()
        _close(call, step_run, StepStatus.SUCCEEDED, duration_ms, recorded=recorded, output=stored, cost=cost)


def _close(call: StepCall, step_run: StepRun, status: str, duration_ms: int, *, recorded: bool, **values: Any) -> None:
    """Inside a fenced transaction: close the attempt, or write it closed (starting a pending run with it)."""
    if recorded:
        states.close_step(step_run, status, using=call.using, duration_ms=duration_ms, **values)
        return
    if call.finished is None:  # a pending run starts with this write (unless it just ended with it)
        start_run(call.run, using=call.using)
    states.insert_closed_step(step_run, status, using=call.using, duration_ms=duration_ms, **values)


def fail_attempt(call: StepCall, attempt: int, error: dict[str, Any]) -> Outcome:
    record_attempt(call, attempt, StepStatus.FAILED, error=error)
    call.data["steps"][call.step_id] = {"status": "failed", "output": None, "error": error}
    return Outcome.FAILED
