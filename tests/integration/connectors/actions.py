"""Functions registered as ``python`` actions by the connector tests."""

from __future__ import annotations

from typing import Any

from django_automate.connectors.base import ConnectorContext, RetryableError, StepResult
from django_automate.connectors.python import python_action

CALLS: list[dict[str, Any]] = []


@python_action(
    input_schema={
        "type": "object",
        "properties": {"order_id": {"type": "integer"}, "currency": {"enum": ["EUR", "USD"]}},
        "required": ["order_id"],
        "additionalProperties": False,
    },
    description="Look up an order's customer.",
)
def enrich(params: dict[str, Any], ctx: ConnectorContext) -> StepResult:
    CALLS.append({"params": params, "key": ctx.idempotency_key, "trace_id": ctx.trace_id})
    return StepResult(output={"customer": f"c-{params['order_id']}", "step": ctx.idempotency_key}, cost=0.25)


def plain(params: dict[str, Any], ctx: ConnectorContext) -> list[Any]:
    """Return the params as a list."""
    return sorted(params.items())


def flaky(params: dict[str, Any], ctx: ConnectorContext) -> dict[str, Any]:
    CALLS.append({"flaky": True})
    if len([c for c in CALLS if c.get("flaky")]) < 2:
        raise RetryableError("Not yet.", retry_after=0)
    return {"attempts": 2}


def not_json(params: dict[str, Any], ctx: ConnectorContext) -> object:
    return object()


NOT_CALLABLE = 42
