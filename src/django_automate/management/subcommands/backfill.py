"""``automate replay --type … [--dry-run]``: a backfill of the events a filter selects, from the command line.

Without ``--background``, the command processes the backfill itself, batch after batch (the
same batches the workers run, paced by ``BACKFILL_EVENTS_PER_SECOND``), drawing its progress.
Interrupted, it hands the backfill over to the workers, which continue from its cursor.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_automate import conf, exceptions
from django_automate.models import Backfill
from django_automate.outbox import lease
from django_automate.outbox.claim import ClaimedJob
from django_automate.runs.backfill import batches, services
from django_automate.runs.backfill.dry_run import DryRun
from django_automate.tracing import context

BAR_WIDTH = 30
FILTER_OPTIONS = {
    "type": "type",
    "endpoint": "endpoint",
    "status": "status",
    "since": "received_from",
    "until": "received_until",
    "where": "where",
}


def event_filter(options: dict[str, Any]) -> dict[str, Any]:
    """The backfill filter the options describe; CommandError without any."""
    data = {field: options[option] for option, field in FILTER_OPTIONS.items() if options.get(option) is not None}
    if "where" in data:
        try:
            data["where"] = json.loads(data["where"])
        except ValueError as exc:
            raise CommandError(f"--where must be JSON Logic (JSON): {exc}") from None
    if not data and options.get("tenant") is None:
        raise CommandError(
            "Give an event id or at least one filter (--type, --endpoint, --status, --since, --until, --where, "
            "--tenant)."
        )
    return data


def handle(command: BaseCommand, options: dict[str, Any]) -> None:
    data = event_filter(options)
    tenant, actor = options.get("tenant") or "", options["actor"]
    try:
        if options["dry_run"]:
            spec, report = services.preview(data, tenant=tenant, actor=actor, redacted=False)
            _print_dry_run(command, spec.to_json(), report)
        elif options["background"]:
            backfill = services.request(data, tenant=tenant, actor=actor, redacted=False)
            command.stdout.write(f"Backfill {backfill.pk} queued: {backfill.total} events to read by the workers.")
        else:
            _process_here(command, data, tenant, actor)
    except exceptions.AutomateError as exc:
        reason = exc.details.get("reason")
        raise CommandError(f"{exc.code}{f' ({reason})' if reason else ''}: {exc.message}") from exc


def _process_here(command: BaseCommand, data: dict[str, Any], tenant: str, actor: str) -> None:
    worker_id = f"cli:{socket.gethostname()}:{os.getpid()}"
    backfill, job = services.request_here(data, tenant=tenant, actor=actor, redacted=False, worker_id=worker_id)
    command.stdout.write(f"Backfill {backfill.pk}: {backfill.total} events to read")
    rate = conf.backfill_events_per_second()
    pause = conf.backfill_batch_size() / rate if rate is not None else 0.0
    current: ClaimedJob | None = job
    try:
        while current is not None:
            began = time.monotonic()
            with context.bind(trace_id=current.trace_id, tenant=current.tenant):
                current = batches.run_batch(current, worker_id=worker_id)
            backfill.refresh_from_db()
            _draw(command, backfill)
            if current is not None:
                time.sleep(max(0.0, pause - (time.monotonic() - began)))
    except KeyboardInterrupt:
        if current is not None:
            lease.release(current)
        command.stdout.write("")
        command.stdout.write(f"Interrupted: backfill {backfill.pk} goes on in the workers (cancel it to stop it).")
        return
    except exceptions.LeaseLost:
        command.stdout.write("")
        command.stdout.write(f"Backfill {backfill.pk} was taken over by a worker; it goes on there.")
        return
    command.stdout.write("")
    command.stdout.write(_summary(backfill))
    if backfill.status == "failed":
        raise CommandError(f"Backfill {backfill.pk} failed: {(backfill.error or {}).get('message', '')}")


def _draw(command: BaseCommand, backfill: Backfill) -> None:
    """One progress bar line: redrawn in place on a terminal, one line per batch elsewhere."""
    total = max(backfill.total, backfill.processed, 1)
    done = int(BAR_WIDTH * backfill.processed / total)
    line = (
        f"[{'#' * done}{'.' * (BAR_WIDTH - done)}] {backfill.processed}/{backfill.total} events"
        f" {100 * backfill.processed // total:3d}%  {backfill.matched} matched, {backfill.started} runs started"
    )
    if command.stdout.isatty():
        command.stdout.write("\r" + line, ending="")
        command.stdout.flush()
    else:
        command.stdout.write(line)


def _summary(backfill: Backfill) -> str:
    workflows = ", ".join(f"{slug} {count}" for slug, count in sorted(backfill.workflows.items()))
    return (
        f"Backfill {backfill.pk} {backfill.status}: {backfill.processed} events read, {backfill.matched} matched,"
        f" {backfill.started} runs started{f' ({workflows})' if workflows else ''}."
    )


def _print_dry_run(command: BaseCommand, applied: dict[str, Any], report: DryRun) -> None:
    write = command.stdout.write
    write(f"Dry run of {json.dumps(applied, sort_keys=True)} ({report.seconds:.2f} s)")
    write(f"{report.matched} of {report.scanned} events match; replaying them would start {report.would_start} runs.")
    if report.workflows:
        width = max(len("workflow"), *(len(w.workflow) for w in report.workflows))
        write(f"{'workflow':<{width}}  {'would start':>11}  {'ran originally':>14}  {'runs so far':>11}")
        for w in report.workflows:
            write(f"{w.workflow:<{width}}  {w.would_start:>11}  {w.ran_originally:>14}  {w.runs_so_far:>11}")
    for event in report.sample:
        write(f"  {event.received_at.isoformat()}  {event.id}  {event.type}")
