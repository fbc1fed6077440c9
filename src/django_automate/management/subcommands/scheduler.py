"""``automate scheduler``: emit ``schedule.<name>`` events for due ticks (run as many as you like)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

HELP = "Run the scheduler that emits schedule.<name> events; any number may run at once."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="Handle the due ticks once, then exit.")
    parser.add_argument(
        "--poll", type=float, default=None, help="Seconds between passes (default: AUTOMATE['SCHEDULER_POLL_SECONDS'])."
    )
    parser.add_argument("--database", default="default", help="Database alias holding the schedules and events.")


def handle(command: BaseCommand, **options: Any) -> None:
    from django_automate.ingestion.schedules.loop import Scheduler

    poll = options.get("poll")
    if poll is not None and poll <= 0:
        from django.core.management.base import CommandError

        raise CommandError("--poll must be a positive number of seconds.")
    scheduler = Scheduler(using=options["database"], once=options["once"], poll_seconds=poll)
    emitted = scheduler.run()
    command.stdout.write(f"scheduler emitted {emitted} events")
