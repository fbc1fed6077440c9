"""``manage.py automate replay --type … [--dry-run | --background]``."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_automate.models import AuditEntry, Backfill, JobKind, OutboxJob
from tests.integration.backfill.conftest import runs_by_workflow

pytestmark = pytest.mark.django_db(transaction=True)

WHERE = json.dumps({"<": [{"var": "event.payload.amount"}, 200]})


def test_dry_run_prints_the_forecast_per_workflow(history, capsys):
    call_command("automate", "replay", "--type", "order.created", "--where", WHERE, "--dry-run")
    out = capsys.readouterr().out
    assert "20 of 30 events match; replaying them would start 40 runs." in out
    lines = [line.split() for line in out.splitlines()]
    assert ["all", "20", "20", "20"] in lines
    assert ["big", "15", "9", "9"] in lines
    assert ["vip", "5", "0", "0"] in lines
    assert not Backfill.objects.exists()


def test_the_command_processes_the_backfill_with_a_progress_bar(history, capsys, run_worker):
    before = runs_by_workflow()
    call_command("automate", "replay", "--type", "order.created", "--where", WHERE, "--actor", "ops")
    out = capsys.readouterr().out
    bars = [line for line in out.splitlines() if line.startswith("[")]
    # batches of 7 events: 7, 14, 21, 28, 30
    assert [bar.split("]")[1].split()[0] for bar in bars] == ["7/30", "14/30", "21/30", "28/30", "30/30"]
    assert bars[-1].startswith("[" + "#" * 30 + "]")
    assert "30 events read, 20 matched, 40 runs started (all 20, big 15, vip 5)." in out
    backfill = Backfill.objects.get()
    assert (backfill.status, backfill.requested_by) == ("done", "ops")
    assert dict(runs_by_workflow() - before) == {"all": 20, "big": 15, "vip": 5}
    assert OutboxJob.objects.filter(kind=JobKind.BACKFILL).exclude(status="done").count() == 0
    assert AuditEntry.objects.filter(action="backfill.finished", object_id=str(backfill.pk)).exists()


def test_in_the_background_the_workers_process_it(history, capsys, run_worker):
    call_command("automate", "replay", "--type", "order.created", "--background")
    assert "queued: 30 events to read by the workers" in capsys.readouterr().out
    run_worker()
    assert Backfill.objects.get().status == "done"


def test_bad_options_are_command_errors(history):
    with pytest.raises(CommandError, match="--where must be JSON"):
        call_command("automate", "replay", "--where", "{nope")
    with pytest.raises(CommandError, match="invalid_condition"):
        call_command("automate", "replay", "--where", '{"nope": []}')
    with pytest.raises(CommandError, match="empty_range"):
        call_command("automate", "replay", "--since", "2026-02-01T00:00:00Z", "--until", "2026-01-01T00:00:00Z")
    assert not Backfill.objects.exists()
