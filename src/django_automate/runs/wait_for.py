"""``wait_for`` steps: the run waits for an event matched by type and correlation value, or a timeout.

A wait's row holds ``correlation``, the hash of the correlation path and the rendered value;
the event side computes the same hash from the event at each path awaited for its type
(:class:`~django_automate.models.WaitRoute`) and finds the waits through the index on
(tenant, event type, correlation) in the routing transaction (:func:`resume_waiting`).

No lost wake-up: the wait commits first, then :meth:`EventWait.registered` looks for an event
already stored (received after the run was created). An event committed before that look is
found by it; one committed after the wait is seen by its own routing, which runs after the
event commits and so after the wait did. Both claim the wait with a conditional update, so
whichever comes first wins and the other changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from typing import Any

from django.db import IntegrityError, transaction

from django_automate.models import Event, RunStatus, RunWait, StepStatus, WaitKind, WaitRoute
from django_automate.policy.redaction import redact
from django_automate.rules.jsonlogic import evaluate, truthy
from django_automate.rules.matching import event_data
from django_automate.runs import held
from django_automate.runs.steps import Outcome, StepCall
from django_automate.tracing.logging import log_extra
from django_automate.workflows.schema import MAX_WAIT_SECONDS
from django_automate.workflows.templating import render

logger = logging.getLogger(__name__)

#: Events read by the look for an already stored match (newest events beyond it are routed later anyway).
STORED_LOOKUP_LIMIT = 1000
_MISSING = object()


def is_wait_for(step: dict[str, Any]) -> bool:
    return "wait_for" in step


def run_wait_for(call: StepCall) -> Outcome:
    return held.run(call, EventWait())


def correlation_key(path: str, value: Any) -> str:
    """The hash a wait and an event share when the event's value at ``path`` equals ``value`` (as JSON)."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(f"{path}\n{canonical}".encode()).hexdigest()


def value_at(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` (``payload.customer``) of the event data, or ``_MISSING``."""
    node: Any = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _event_key(event: Event, path: str) -> str | None:
    value = value_at(event_data(event)["event"], path)
    if value is _MISSING:
        return None
    try:
        return correlation_key(path, value)
    except ValueError:  # NaN: equal to nothing
        return None


def _accepts(wait_condition: Any, event: Event) -> bool:
    """The wait's ``if`` (JSON Logic over ``{"event": …}``) holds for the event; an invalid one holds for none."""
    if wait_condition is None:
        return True
    try:
        return bool(truthy(evaluate(wait_condition, event_data(event))))
    except Exception:  # a condition that fails on this event does not match it
        return False


def output(event: Event) -> dict[str, Any]:
    """The step's output when ``event`` resumed it (payload redacted as stored outputs are)."""
    return {"event_id": str(event.id), "type": event.type, "payload": redact(event.payload), "timed_out": False}


class EventWait:
    """The :class:`~django_automate.runs.held.WaitHandler` of ``wait_for``."""

    kind = "wait_for"

    def __init__(self) -> None:
        self.path = ""
        self.value: Any = None

    def prepare(self, call: StepCall, now: dt.datetime) -> tuple[RunWait, dict[str, Any]]:
        spec = call.step["wait_for"]
        self.path = str(spec["correlate"]["path"])
        self.value = render(spec["correlate"]["value"], call.data)
        timeout_at = now + dt.timedelta(seconds=float(spec.get("timeout_seconds", MAX_WAIT_SECONDS)))
        wait = RunWait(
            kind=WaitKind.EVENT,
            event_type=str(spec["event_type"]),
            correlation=correlation_key(self.path, self.value),
            condition=spec.get("if"),
            timeout_at=timeout_at,
        )
        shown = {
            "event_type": wait.event_type,
            "path": self.path,
            "value": self.value,
            "timeout_at": timeout_at.astimezone(dt.timezone.utc).isoformat(),
        }
        return wait, shown

    def before_insert(self, wait: RunWait, using: str) -> None:
        """Make sure routing computes this path's key for events of the type (a row added once, kept)."""
        routes = WaitRoute.objects.using(using)
        where = {"tenant": wait.tenant, "event_type": wait.event_type, "path": self.path}
        if routes.filter(**where).exists():
            return
        try:
            with transaction.atomic(using=using):
                routes.create(**where)
        except IntegrityError:
            pass  # committed concurrently by another wait: it is there

    def registered(self, wait: RunWait, using: str) -> None:
        """The wait committed: resume it now if a matching event was stored before (or while) it was set up."""
        events = Event.objects.using(using).filter(tenant=wait.tenant, type=wait.event_type, received_at__gt=wait.after)
        if isinstance(self.value, str) or (isinstance(self.value, int) and not isinstance(self.value, bool)):
            events = events.filter(**{self.path.replace(".", "__"): self.value})
        for event in events.order_by("received_at", "id")[:STORED_LOOKUP_LIMIT]:
            if _event_key(event, self.path) == wait.correlation and _accepts(wait.condition, event):
                if _claim([wait.pk], event, using) and held.wake([(wait.run_id, wait.step_id)], using=using):
                    logger.info(
                        "Run %s resumed by stored event %s",
                        wait.run_id,
                        event.id,
                        extra=log_extra("run_resumed", event_id=event.id),
                    )
                return

    def resolution(self, wait: RunWait, now: dt.datetime, using: str) -> held.Resolution | None:
        if wait.event_id is not None:
            event = Event.objects.using(using).filter(pk=wait.event_id).first()
            if event is not None:
                return held.Resolution(StepStatus.SUCCEEDED, output=output(event))
        if now >= wait.timeout_at:
            return held.Resolution(StepStatus.SUCCEEDED, output={"timed_out": True})
        return None


def _claim(wait_ids: list[Any], event: Event, using: str) -> int:
    """Give the still-open waits among ``wait_ids`` to ``event``; how many it got (others had one already)."""
    open_waits = RunWait.objects.using(using).filter(
        pk__in=sorted(wait_ids, key=str), event__isnull=True, resolved_at__isnull=True
    )
    return open_waits.update(event=event)


def resume_waiting(events: list[Event], *, using: str) -> int:
    """Inside the routing transaction: give each open wait its first matching event of ``events``; runs woken.

    One query for the awaited paths of the events' types; for types with any, one index
    lookup per (tenant, type) on the keys the events' values give, then one update per event
    that resumes waits and one for their jobs.
    """
    if not events:
        return 0
    tenants = sorted({event.tenant for event in events})
    types = sorted({event.type for event in events})
    paths: dict[tuple[str, str], list[str]] = defaultdict(list)
    routes = WaitRoute.objects.using(using).filter(tenant__in=tenants, event_type__in=types)
    for tenant, event_type, path in routes.values_list("tenant", "event_type", "path"):
        paths[(tenant, event_type)].append(path)
    if not paths:
        return 0
    by_key: dict[tuple[str, str], dict[str, list[Event]]] = defaultdict(lambda: defaultdict(list))
    for event in events:
        for path in paths.get((event.tenant, event.type), ()):
            key = _event_key(event, path)
            if key is not None:
                by_key[(event.tenant, event.type)][key].append(event)
    chosen: dict[Any, tuple[Event, list[Any], list[Any]]] = {}
    for (tenant, event_type), keyed in by_key.items():
        candidates = RunWait.objects.using(using).filter(
            tenant=tenant,
            event_type=event_type,
            correlation__in=sorted(keyed),
            kind=WaitKind.EVENT,
            event__isnull=True,
            resolved_at__isnull=True,
            # In a graph a run with a waiting branch may be running (another branch is).
            run__status__in=(RunStatus.WAITING, RunStatus.RUNNING),
        )
        for wait_id, run_id, step_id, correlation, wait_condition, after in candidates.values_list(
            "id", "run_id", "step_id", "correlation", "condition", "after"
        ):
            eligible = [e for e in keyed[correlation] if e.received_at > after and _accepts(wait_condition, e)]
            if not eligible:
                continue
            first = min(eligible, key=lambda e: (e.received_at, str(e.id)))
            entry = chosen.setdefault(first.id, (first, [], []))
            entry[1].append(wait_id)
            entry[2].append((run_id, step_id))
    woken: list[Any] = []
    for event, wait_ids, run_steps in chosen.values():
        if _claim(wait_ids, event, using):
            woken.extend(run_steps)
    if woken:
        held.wake(woken, using=using)
        logger.info("Event resumed %s waiting run(s)", len(woken), extra=log_extra("runs_resumed", runs=len(woken)))
    return len(woken)
