"""``automate worker``: process outbox jobs."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

HELP = "Run a worker that claims and processes outbox jobs."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrency", type=int, default=1, help="Jobs processed at once (threads).")
    parser.add_argument("--queues", default="default", help="Comma-separated queue names.")
    parser.add_argument("--once", action="store_true", help="Exit when no job is ready.")
    parser.add_argument("--database", default="default", help="Database alias holding the outbox.")


def handle(command: BaseCommand, **options: Any) -> None:
    from django_automate.worker import sessions
    from django_automate.worker.loop import Worker

    # A worker's transactions cannot outlive its lease on the server, even if the process freezes.
    sessions.install(options["database"])
    worker = Worker(
        queues=[q.strip() for q in options["queues"].split(",") if q.strip()],
        concurrency=options["concurrency"],
        once=options["once"],
        using=options["database"],
    )
    processed = worker.run()
    command.stdout.write(f"worker {worker.id} processed {processed} jobs")
