"""A backfill processed by real worker processes, one of them killed with SIGKILL mid-backfill.

A second worker resumes it from its cursor (once the dead worker's lease expires): in the end
every event has exactly the runs the dry run forecast, none twice. ``AUTOMATE_TEST_BACKFILL_EVENTS``
sets the number of orders stored (as many other events are; default 2,000; the acceptance criterion is met at
100,000).
The workers take only backfill jobs (their own queue), so the runs they start stay pending.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
import uuid
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from django_automate.models import Backfill, Event, ExecutionRun, OutboxJob
from django_automate.runs.backfill import services
from tests.acceptance.conftest import wait_for, wait_ready

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]

EVENTS = int(os.environ.get("AUTOMATE_TEST_BACKFILL_EVENTS", "2000"))
BATCH = max(100, EVENTS // 40)
assert EVENTS % 100 == 0, "AUTOMATE_TEST_BACKFILL_EVENTS must be a multiple of 100"
LEASE_SECONDS = "3"
FILTER = {"type": "order.created", "where": {"!=": [{"%": [{"var": "event.payload.n"}, 10]}, 9]}}


def store_events(workflow) -> None:
    """EVENTS orders (and as many other events) received a second apart; a third of the orders ran ``all`` then."""
    start = timezone.now() - dt.timedelta(seconds=2 * EVENTS + 60)
    for first in range(0, EVENTS, 5000):
        events = []
        for n in range(first, min(EVENTS, first + 5000)):
            for kind in ("order.created", "invoice.sent"):
                events.append(
                    Event(
                        type=kind,
                        source="app",
                        idempotency_key=f"{kind}:{n}",
                        payload={"n": n, "amount": n % 100},
                        trace_id=str(uuid.uuid4()),
                        status="routed",
                    )
                )
        Event.objects.bulk_create(events, batch_size=1000)
        # auto_now_add stamped them all now: spread them over time, a second apart
        for offset, event in enumerate(events):
            event.received_at = start + dt.timedelta(seconds=2 * first + offset)
        Event.objects.bulk_update(events, ["received_at"], batch_size=1000)
        originals = [
            ExecutionRun(
                event=event,
                workflow=workflow,
                workflow_version=workflow.current_version,
                status="succeeded",
                trace_id=event.trace_id,
            )
            for event in events
            if event.type == "order.created" and event.payload["n"] % 3 == 0
        ]
        ExecutionRun.objects.bulk_create(originals, batch_size=1000)


def test_a_killed_worker_neither_loses_nor_repeats_a_batch(workflow_factory, rule_factory, start_worker, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "BACKFILL_QUEUE": "backfill"}
    every = workflow_factory(slug="all")
    rule_factory(every, event_type="order.created")
    rule_factory(
        workflow_factory(slug="big"), event_type="order.*", condition={">=": [{"var": "event.payload.amount"}, 50]}
    )
    store_events(every)
    before = Counter(ExecutionRun.objects.values_list("event_id", "workflow__slug"))

    began = time.monotonic()
    _, report = services.preview(FILTER, tenant="", actor="ops", redacted=False)
    dry_seconds = time.monotonic() - began
    forecast = {w.workflow: w.would_start for w in report.workflows}
    assert report.matched == EVENTS - EVENTS // 10
    assert forecast == {"all": report.matched, "big": report.matched // 2}

    backfill = services.request(FILTER, tenant="", actor="ops", redacted=False)
    env = {
        "AUTOMATE_TEST_LEASE_SECONDS": LEASE_SECONDS,
        "AUTOMATE_TEST_BACKFILL_QUEUE": "backfill",
        "AUTOMATE_TEST_BACKFILL_BATCH_SIZE": str(BATCH),
        # no pause between batches: the worker is (almost) always inside one when it is killed
        "AUTOMATE_TEST_BACKFILL_EVENTS_PER_SECOND": "none",
    }
    first = start_worker("--queues", "backfill", **env)
    wait_ready(first)
    progress = lambda: Backfill.objects.values_list("processed", flat=True).get(pk=backfill.pk)  # noqa: E731

    def holding_a_batch() -> bool:
        """A quarter done, and the worker holds the next batch's job (it is inside the batch's transaction)."""
        state = Backfill.objects.get(pk=backfill.pk)
        claimed = OutboxJob.objects.filter(pk=state.job_id, status="claimed").exists()
        return state.processed >= EVENTS // 4 and claimed

    wait_for(holding_a_batch, 120 + EVENTS / 200, "a quarter of the backfill, a batch in flight", first)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    killed_at = progress()
    assert killed_at < EVENTS, "the backfill was over before the kill"
    held = OutboxJob.objects.get(pk=Backfill.objects.get(pk=backfill.pk).job_id)
    # Almost always: the batch was in flight (it commits in a few ms of the hundreds it takes, rarely in between).
    mid_batch = held.status == "claimed"

    began = time.monotonic()
    second = start_worker("--queues", "backfill", **env)
    wait_for(
        lambda: Backfill.objects.get(pk=backfill.pk).status == "done",
        120 + EVENTS / 100,
        "the second worker to finish the backfill",
        second,
    )
    second.send_signal(signal.SIGTERM)
    assert second.exit_after_sigterm() == 0
    backfill.refresh_from_db()
    held.refresh_from_db()
    if mid_batch:  # the killed worker's batch, rolled back with it, done again by the second once its lease expired
        assert (held.status, held.attempts) == ("done", 2)

    after = Counter(ExecutionRun.objects.values_list("event_id", "workflow__slug"))
    started = after - before
    # each selected event: one new run per workflow its rules start now, never two
    assert set(started.values()) == {1}
    assert Counter(slug for _, slug in started) == Counter(forecast)
    assert (backfill.processed, backfill.matched, backfill.started) == (
        EVENTS,
        report.matched,
        report.would_start,
    )
    assert backfill.workflows == forecast
    # first runs where there was none, replays (replay_of the original) where there was one
    replays = ExecutionRun.objects.filter(workflow__slug="all", replay_seq=1)
    assert replays.count() == sum(1 for n in range(EVENTS) if n % 3 == 0 and n % 10 != 9)
    print(
        f"\nbackfill of {2 * EVENTS} stored events on {connection.vendor}: dry run {dry_seconds:.2f} s"
        f" ({report.matched} matched, {report.would_start} runs forecast); worker killed at {killed_at} events"
        f" ({'inside a batch' if mid_batch else 'between batches'});"
        f" the second finished the rest in {time.monotonic() - began:.1f} s"
    )
