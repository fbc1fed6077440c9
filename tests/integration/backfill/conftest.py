"""Events that ran under yesterday's rules, and today's rules to replay them with."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import django_automate
from django_automate.models import ExecutionRun, RuleSpec


@pytest.fixture(autouse=True)
def unlimited_backfills(settings: Any) -> None:
    """Batches follow each other at once and are small, so a test sees several."""
    settings.AUTOMATE = {**settings.AUTOMATE, "BACKFILL_EVENTS_PER_SECOND": None, "BACKFILL_BATCH_SIZE": 7}


@pytest.fixture
def history(workflow_factory, rule_factory, run_worker) -> dict[str, Any]:
    """30 orders routed by the rules of the time (``all`` for every order, ``big`` over 100), then new rules:
    ``big`` now starts from 50 and ``vip`` starts for customers flagged vip."""
    every = workflow_factory(slug="all")
    big = workflow_factory(slug="big")
    vip = workflow_factory(slug="vip")
    rule_factory(every, event_type="order.created")
    big_rule = rule_factory(big, event_type="order.created", condition={">": [{"var": "event.payload.amount"}, 100]})
    events = [
        django_automate.emit(
            "order.created", {"amount": n * 10, "vip": n % 4 == 0, "customer": {"email": f"c{n}@example.com"}}
        )
        for n in range(30)
    ]
    django_automate.emit("order.paid", {"amount": 1000})
    run_worker()
    big_rule.condition = {">=": [{"var": "event.payload.amount"}, 50]}
    big_rule.save()
    RuleSpec.objects.create(name="vip", event_type="order.*", workflow=vip, condition={"var": "event.payload.vip"})
    return {"events": events}


def runs_by_workflow(**filters: Any) -> Counter[str]:
    return Counter(ExecutionRun.objects.filter(**filters).values_list("workflow__slug", flat=True))
