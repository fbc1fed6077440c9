"""Runtime budgets: checked and consumed atomically before a run starts and before each step attempt.

Consumption is one conditional ``UPDATE … SET used = used + n WHERE used <= limit - n`` per
budget, all in one transaction: the database's row lock decides races between workers, so
concurrent runs can never push a budget past its limit, and when one of several
applicable budgets is exhausted none of them is charged.

Which budgets apply (only enabled ones, of the run's tenant or of tenant ``""``):
``global``, ``tenant:<run tenant>``, ``workflow:<slug>`` (same tenant as the workflow), and
for steps ``connector:<type>``. ``runs`` counts runs started, ``steps`` counts step attempts
(connector calls), ``cost`` adds the ``cost`` connectors report; a cost budget blocks further
steps once its window's total reached the limit.

An execution loads the budgets once (:func:`load`, usually for free: the executor's run query
carries :func:`presence`, so a tenant without budgets costs no query at all) and passes them
to every check of that job as ``loaded``; callers that pass nothing get a fresh query per check.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from django_automate import exceptions
from django_automate.models import Budget, BudgetUsage, ExecutionRun
from django_automate.policy.windows import window
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)


class BudgetDeferred(exceptions.BudgetExceeded):
    """A budget is exhausted for the current window; the work waits for the next one."""

    def __init__(self, message: str | None = None, *, until: dt.datetime, **kwargs: Any) -> None:
        self.until = until
        super().__init__(message, **kwargs)


class _Exhausted(Exception):
    def __init__(self, budget: Budget) -> None:
        self.budget = budget


def presence() -> Exists:
    """An annotation for ExecutionRun querysets: does any enabled budget of the run's tenant (or ``""``) exist?"""
    return Exists(Budget.objects.filter(Q(tenant="") | Q(tenant=OuterRef("tenant")), enabled=True))


def load(run: ExecutionRun, *, using: str = "default") -> list[Budget]:
    """Every enabled budget that may cover ``run`` (any metric): one query, none if :func:`presence` said none."""
    if getattr(run, "automate_has_budgets", True) is False:
        return []
    return list(Budget.objects.using(using).filter(enabled=True, tenant__in={"", run.tenant}))


def applicable(
    run: ExecutionRun,
    metric: str,
    *,
    connector_type: str | None = None,
    using: str = "default",
    loaded: Sequence[Budget] | None = None,
) -> list[Budget]:
    """The enabled budgets of ``metric`` that cover ``run`` (and ``connector_type``), in lock order.

    ``loaded`` (from :func:`load`) is filtered instead of querying the database.
    """
    scopes = {"global", f"tenant:{run.tenant}", f"workflow:{run.workflow.slug}"}
    if connector_type:
        scopes.add(f"connector:{connector_type}")
    tenants = {"", run.tenant}
    found = (
        loaded
        if loaded is not None
        else Budget.objects.using(using).filter(enabled=True, metric=metric, scope__in=scopes, tenant__in=tenants)
    )
    budgets = [
        b
        for b in found
        if b.enabled
        and b.metric == metric
        and b.scope in scopes
        and b.tenant in tenants
        and not (b.scope.startswith("workflow:") and b.tenant != run.workflow.tenant)
    ]
    return sorted(budgets, key=lambda b: str(b.pk))


def _ensure_window(budget: Budget, start: dt.datetime, using: str) -> None:
    """Create the usage row of this window if it does not exist yet (concurrent creators: one wins)."""
    if BudgetUsage.objects.using(using).filter(budget=budget, window_start=start).exists():
        return
    try:
        with transaction.atomic(using=using):
            BudgetUsage.objects.using(using).create(budget=budget, window_start=start, used=0)
    except IntegrityError:
        pass


def _consume(
    run: ExecutionRun,
    metric: str,
    amount: Decimal,
    *,
    connector_type: str | None = None,
    step_id: str | None = None,
    using: str = "default",
    loaded: Sequence[Budget] | None = None,
) -> bool:
    """Charge ``amount`` to every budget of ``metric`` covering the run; ``False`` if none does."""
    budgets = applicable(run, metric, connector_type=connector_type, using=using, loaded=loaded)
    if not budgets:
        return False
    now = timezone.now()
    windows = {b.pk: window(b.period, now) for b in budgets}
    for budget in budgets:
        _ensure_window(budget, windows[budget.pk][0], using)
    try:
        with transaction.atomic(using=using):
            for budget in budgets:
                usage = BudgetUsage.objects.using(using).filter(budget=budget, window_start=windows[budget.pk][0])
                if amount:
                    charged = usage.filter(used__lte=budget.limit - amount).update(used=F("used") + amount)
                else:  # a pure check (cost budgets before a step): is anything left?
                    charged = usage.filter(used__lt=budget.limit).count()
                if not charged:
                    raise _Exhausted(budget)
    except _Exhausted as exhausted:
        _exceeded(exhausted.budget, windows[exhausted.budget.pk], run, step_id, connector_type, using)
    return True


def _exceeded(
    budget: Budget,
    bounds: tuple[dt.datetime, dt.datetime],
    run: ExecutionRun,
    step_id: str | None,
    connector_type: str | None,
    using: str,
) -> None:
    from django_automate.audit import log as audit

    start, end = bounds
    details: dict[str, Any] = {
        "budget_id": str(budget.pk),
        "scope": budget.scope,
        "metric": budget.metric,
        "limit": str(budget.limit),
        "period": budget.period,
        "on_exceed": budget.on_exceed,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
    }
    audit.record(
        "budget.exceeded",
        object_type="budget",
        object_id=str(budget.pk),
        tenant=run.tenant,
        trace_id=run.trace_id,
        data={**details, "run_id": str(run.pk), "step_id": step_id, "connector": connector_type},
        using=using,
    )
    message = f"Budget {budget.scope} ({budget.metric} <= {budget.limit} per {budget.period}) is exhausted."
    logger.warning(
        "Budget %s (%s) exhausted for run %s",
        budget.scope,
        budget.metric,
        run.pk,
        extra=log_extra("budget_exceeded", budget_id=budget.pk, on_exceed=budget.on_exceed),
    )
    if budget.on_exceed == Budget.OnExceed.DEFER:
        raise BudgetDeferred(message + f" Deferred until {end.isoformat()}.", until=end, details=details)
    raise exceptions.BudgetExceeded(message, details=details)


def check_and_consume_run(run: ExecutionRun, *, using: str = "default", loaded: Sequence[Budget] | None = None) -> bool:
    """Charge one run to every ``runs`` budget covering it; raise BudgetExceeded / BudgetDeferred if one is spent.

    ``False`` when no budget covers it. The caller starts the run in the same transaction
    (``runs.executor``), so a run is charged once, however often its job is claimed.
    """
    return _consume(run, Budget.Metric.RUNS, Decimal(1), using=using, loaded=loaded)


def check_and_consume_step(
    run: ExecutionRun,
    step: dict[str, Any],
    connector_type: str,
    *,
    using: str = "default",
    loaded: Sequence[Budget] | None = None,
) -> None:
    """Charge one step attempt to every ``steps`` budget and check every ``cost`` budget covering it."""
    step_id = str(step.get("id", ""))
    options: dict[str, Any] = {"connector_type": connector_type, "step_id": step_id, "using": using, "loaded": loaded}
    # The pure cost check first: a spent cost budget must not also charge the steps budgets.
    _consume(run, Budget.Metric.COST, Decimal(0), **options)
    _consume(run, Budget.Metric.STEPS, Decimal(1), **options)


def record_cost(
    run: ExecutionRun,
    connector_type: str,
    cost: float | Decimal | None,
    *,
    using: str = "default",
    loaded: Sequence[Budget] | None = None,
) -> None:
    """Add the cost a connector reported to every ``cost`` budget covering the step (never blocks)."""
    if not cost:
        return
    amount = Decimal(str(cost))
    now = timezone.now()
    for budget in applicable(run, Budget.Metric.COST, connector_type=connector_type, using=using, loaded=loaded):
        start, _ = window(budget.period, now)
        _ensure_window(budget, start, using)
        BudgetUsage.objects.using(using).filter(budget=budget, window_start=start).update(used=F("used") + amount)


def usage(budget: Budget, *, now: dt.datetime | None = None, using: str = "default") -> dict[str, Any]:
    """The current window of ``budget``: bounds, used, limit, remaining and whether it is exhausted."""
    start, end = window(budget.period, now or timezone.now())
    row = BudgetUsage.objects.using(using).filter(budget=budget, window_start=start).first()
    used = row.used if row is not None else Decimal(0)
    return {
        "window_start": start,
        "window_end": end,
        "used": used,
        "limit": budget.limit,
        "remaining": max(budget.limit - used, Decimal(0)),
        "exhausted": used >= budget.limit,
    }
