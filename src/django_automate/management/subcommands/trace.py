"""``automate trace <trace_id>``: the timeline of a trace as text (or ``--json``), in milliseconds, redacted."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_automate.policy.redaction import redact
from django_automate.tracing.timeline import TimelineEntry, trace_timeline

HELP = "Print everything recorded under a trace id (events, runs, step attempts, audit entries), oldest first."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace_id")
    parser.add_argument("--json", action="store_true", help="One JSON document instead of text.")
    parser.add_argument("--database", default="default", help="Database alias to read from.")


def handle(command: BaseCommand, **options: Any) -> None:
    trace_id = options["trace_id"]
    try:
        uuid.UUID(trace_id)
    except ValueError:
        raise CommandError(f"{trace_id!r} is not a trace id (a UUID).") from None
    entries = trace_timeline(trace_id, using=options["database"])
    if not entries:
        raise CommandError(f"Nothing was recorded under the trace id {trace_id}.")
    start = entries[0].at
    if options["json"]:
        shown = [
            {"kind": e.kind, "at": e.at.isoformat(timespec="milliseconds"), "offset_ms": _ms(start, e), **e.data}
            for e in entries
        ]
        command.stdout.write(json.dumps(redact({"trace_id": trace_id, "entries": shown}), indent=2, default=str))
        return
    command.stdout.write(f"trace {trace_id}, from {start.isoformat(timespec='milliseconds')}")
    for entry in entries:
        command.stdout.write(f"{'+' + str(_ms(start, entry)) + ' ms':>12}  {describe(entry)}")


def _ms(start: Any, entry: TimelineEntry) -> int:
    return round((entry.at - start).total_seconds() * 1000)


def describe(entry: TimelineEntry) -> str:
    """One line per entry; steps indented under their run, errors by code and message (redacted)."""
    data: dict[str, Any] = redact(entry.data)
    duration = f", {data['duration_ms']} ms" if data.get("duration_ms") is not None else ""
    error = data.get("error") or {}
    failure = f" - {error.get('code')}: {error.get('message')}" if error else ""
    if entry.kind == "event":
        return f"event {data['type']} {data['id']} ({data['source']}, {data['status']})"
    if entry.kind == "run":
        what = f"run {data['id']} {data['workflow']} v{data['version']} rule {data.get('rule') or '-'}"
        return f"{what}: {data['status']}{duration}{failure}"
    if entry.kind == "step":
        action = ".".join(part for part in (data["connector"], data["action"]) if part)
        return f"  step {data['step_id']} #{data['attempt']} {action}: {data['status']}{duration}{failure}"
    return f"audit {data['action']} by {data['actor']}"
