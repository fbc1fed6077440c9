"""The run waterfall: a row per attempt in ms from the run's creation; parallel rows overlap; waits show state."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client

import django_automate
from django_automate.admin.drawing.waterfall import waterfall_svg
from django_automate.ingestion.events import record_event
from django_automate.models import ExecutionRun, RunWait, StepRun
from django_automate.tracing.waterfall import run_waterfall

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def log(step_id: str, **extra: object) -> dict:
    return {"id": step_id, "connector": "log", "action": "write", "with": {"message": "hi"}, **extra}


STEPS = [
    log("a"),
    log("b", needs=["a"]),
    log("c", needs=["a"]),
    log("d", needs=["b", "c"]),
    log("f", for_each="{{ event.payload.lines }}", needs=["d"]),
    {"id": "nap", "sleep": {"seconds": 1}},
    {"id": "ok", "approval": {"title": "Ship it?"}},
]


def at(ms: int) -> dt.datetime:
    return T0 + dt.timedelta(milliseconds=ms)


def attempt(run: ExecutionRun, step_id: str, start: int, end: int | None, status: str, **extra: object) -> StepRun:
    values: dict = {
        "connector": "log",
        "action": "write",
        "attempt": 1,
        "step_index": [s["id"] for s in STEPS].index(step_id.split("[")[0]),
        "idempotency_key": f"{run.pk}:{step_id}:{extra.get('attempt', 1)}",
        "started_at": at(start),
        "finished_at": at(end) if end is not None else None,
        "duration_ms": end - start if end is not None else None,
        "trace_id": run.trace_id,
    }
    values.update(extra)
    return StepRun.objects.create(run=run, step_id=step_id, status=status, **values)


@pytest.fixture
def recorded_run(db, workflow_factory) -> ExecutionRun:
    """A waiting run of a diamond, a for_each of two items, a retried step, a sleep and an open approval."""
    workflow = workflow_factory(steps=STEPS)
    trace_id = str(uuid.uuid4())
    event = record_event(type="order.created", payload={"lines": [1, 2]}, source="api", trace_id=trace_id).event
    run = ExecutionRun.objects.create(
        event=event, workflow=workflow, workflow_version=workflow.current_version, status="waiting", trace_id=trace_id
    )
    ExecutionRun.objects.filter(pk=run.pk).update(created_at=T0, started_at=at(2))
    run.refresh_from_db()
    attempt(run, "a", 2, 10, "succeeded")
    attempt(run, "b", 10, 20, "retrying", error={"code": "transient_error", "message": "try again"})
    attempt(run, "b", 35, 50, "succeeded", attempt=2)
    attempt(run, "c", 12, 40, "succeeded")
    attempt(run, "d", 50, 55, "succeeded", input={"token": "s3cret", "note": "kept"})
    attempt(run, "f", 55, 95, "succeeded", input={"items": 2})
    attempt(run, "f[0]", 56, 75, "succeeded")
    attempt(run, "f[1]", 57, 93, "succeeded")
    until = at(1095).isoformat()
    attempt(run, "nap", 95, 1095, "succeeded", connector="", action="sleep", input={"until": until})
    attempt(run, "ok", 1095, None, "running", connector="", action="approval", input={"title": "Ship it?"})
    RunWait.objects.create(
        run=run, step_id="ok", attempt=1, kind="approval", title="Ship it?", after=T0, timeout_at=at(90_000)
    )
    return run


def test_rows_follow_the_steps_with_offsets_from_the_run_creation(recorded_run):
    waterfall = run_waterfall(recorded_run, now=at(2000))
    shown = [(r.step_id, r.attempt, r.kind, r.status, r.start_ms, r.end_ms, r.open) for r in waterfall.rows]
    assert shown == [
        ("a", 1, "step", "succeeded", 2, 10, False),
        ("b", 1, "step", "retrying", 10, 20, False),
        ("b", 2, "step", "succeeded", 35, 50, False),
        ("c", 1, "step", "succeeded", 12, 40, False),
        ("d", 1, "step", "succeeded", 50, 55, False),
        ("f", 1, "for_each", "succeeded", 55, 95, False),
        ("f[0]", 1, "step", "succeeded", 56, 75, False),
        ("f[1]", 1, "step", "succeeded", 57, 93, False),
        ("nap", 1, "sleep", "succeeded", 95, 1095, False),
        ("ok", 1, "approval", "running", 1095, 2000, True),
    ]
    assert waterfall.span_ms == 2000
    rows = {(r.step_id, r.attempt): r for r in waterfall.rows}
    # Parallel branches and items overlap on the time axis.
    assert rows["b", 1].start_ms < rows["c", 1].end_ms and rows["c", 1].start_ms < rows["b", 1].end_ms
    assert rows["f[0]", 1].start_ms < rows["f[1]", 1].end_ms and rows["f[1]", 1].start_ms < rows["f[0]", 1].end_ms
    assert rows["b", 1].error == "transient_error: try again" and rows["b", 2].label == "b #2"
    assert rows["nap", 1].state == "until +1095 ms"
    assert rows["ok", 1].state == "pending decision"


def test_a_decided_approval_and_a_finished_run_close_the_axis(recorded_run):
    RunWait.objects.filter(run=recorded_run).update(decision="approve", decided_by="ops", decided_at=at(1500))
    StepRun.objects.filter(step_id="ok").update(status="succeeded", finished_at=at(1500), duration_ms=405)
    ExecutionRun.objects.filter(pk=recorded_run.pk).update(status="succeeded", finished_at=at(1510))
    recorded_run.refresh_from_db()
    waterfall = run_waterfall(recorded_run, now=at(99_000))
    last = waterfall.rows[-1]
    assert (last.step_id, last.end_ms, last.open, last.state) == ("ok", 1500, False, "approve by ops")
    assert waterfall.span_ms == 1510


def test_the_svg_has_a_row_per_attempt_with_its_offsets_and_a_legend(recorded_run):
    html = str(waterfall_svg(run_waterfall(recorded_run, now=at(2000))))
    rows = re.findall(r'<g class="automate-wf-row" data-step="([^"]+)" data-attempt="(\d+)" data-kind="(\w+)"', html)
    assert len(rows) == 10 and ("b", "2", "step") in rows and ("nap", "1", "sleep") in rows
    assert 'data-step="f[1]" data-attempt="1" data-kind="step" data-status="succeeded" data-start-ms="57"' in html
    assert 'data-end-ms="93"' in html
    assert "automate-legend" in html and "retrying" in html and "1000 ms" in html  # a tick of the axis


def test_the_run_page_shows_the_waterfall_and_redacted_inputs_folded(recorded_run):
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    page = client.get(f"/admin/automate/executionrun/{recorded_run.pk}/change/").content.decode()
    assert 'id="automate-run-waterfall"' in page and page.count('class="automate-wf-row"') == 10
    assert page.count('<details class="automate-attempt"') == 10
    assert "s3cret" not in page and "[REDACTED]" in page and "kept" in page


@pytest.mark.django_db(transaction=True)
def test_a_worker_run_of_a_diamond_with_items_overlaps_its_branches(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(steps=STEPS[:5]))
    django_automate.emit("order.created", {"lines": [1, 2, 3]})
    run_worker()
    run = ExecutionRun.objects.get()
    assert run.status == "succeeded"
    waterfall = run_waterfall(run)
    ids = [row.step_id for row in waterfall.rows]
    assert ids[0] == "a" and ids[-4:] == ["f", "f[0]", "f[1]", "f[2]"] and set(ids[1:3]) == {"b", "c"}
    rows = {row.step_id: row for row in waterfall.rows}
    assert rows["d"].start_ms >= max(rows["b"].end_ms, rows["c"].end_ms) - 1  # the join after both branches
    assert all(rows["f"].start_ms <= rows[f"f[{n}]"].start_ms for n in range(3))
    assert all(0 <= row.start_ms <= row.end_ms <= waterfall.span_ms for row in waterfall.rows)


def test_a_wait_for_row_says_what_it_waits_for_and_what_resumed_it(recorded_run):
    shown = {"event_type": "invoice.paid", "path": "payload.id", "value": 1}
    attempt(recorded_run, "d", 60, None, "running", attempt=2, connector="", action="wait_for", input=shown)
    wait = RunWait.objects.create(
        run=recorded_run, step_id="d", attempt=2, kind="event", event_type="invoice.paid", after=T0, timeout_at=at(9e6)
    )
    rows = {(r.step_id, r.attempt): r for r in run_waterfall(recorded_run, now=at(2000)).rows}
    assert (rows["d", 2].kind, rows["d", 2].state, rows["d", 2].open) == ("wait_for", "waiting for invoice.paid", True)
    RunWait.objects.filter(pk=wait.pk).update(event=recorded_run.event, resolved_at=at(700))
    StepRun.objects.filter(step_id="d", attempt=2).update(status="succeeded", finished_at=at(700))
    rows = {(r.step_id, r.attempt): r for r in run_waterfall(recorded_run, now=at(2000)).rows}
    assert rows["d", 2].state == f"invoice.paid: resumed by event {recorded_run.event_id}"
    assert (rows["d", 2].start_ms, rows["d", 2].end_ms, rows["d", 2].open) == (60, 700, False)
