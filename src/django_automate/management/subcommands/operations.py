"""``automate replay <event-id>``, ``automate retry <run-id>``, ``automate cancel <run-id>``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Model

from django_automate import exceptions
from django_automate.management.subcommands import backfill
from django_automate.models import Event, ExecutionRun
from django_automate.runs import operations


def _get(model: type[Model], pk: str) -> Any:
    try:
        return model._default_manager.get(pk=pk)
    except (model.DoesNotExist, DjangoValidationError, ValueError) as exc:  # type: ignore[attr-defined]
        raise CommandError(f"No {model._meta.verbose_name} with id {pk!r}.") from exc


def _run(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except exceptions.AutomateError as exc:
        raise CommandError(f"{exc.code}: {exc.message}") from exc


class Replay:
    HELP = (
        "Replay one event by id, or backfill every event a filter selects "
        "(--type/--endpoint/--status/--since/--until/--where/--tenant), after a --dry-run."
    )

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("event_id", nargs="?")
        parser.add_argument("--type", help="Event type (exact).")
        parser.add_argument("--endpoint", help="Webhook endpoint slug.")
        parser.add_argument("--status", choices=["pending", "routed", "unmatched"])
        parser.add_argument("--since", help="ISO 8601 time; events received at or after it.")
        parser.add_argument("--until", help="ISO 8601 time; events received before it (default: now).")
        parser.add_argument("--where", help="JSON Logic on the event, like a rule condition.")
        parser.add_argument("--tenant", default=None)
        parser.add_argument("--actor", default="cli")
        parser.add_argument("--dry-run", action="store_true", help="Only report what the backfill would start.")
        parser.add_argument(
            "--background", action="store_true", help="Leave the backfill to the workers instead of processing it here."
        )

    @staticmethod
    def handle(command: BaseCommand, **options: Any) -> None:
        actor = options["actor"]
        if not options["event_id"]:
            backfill.handle(command, options)
            return
        event = _get(Event, options["event_id"])
        replayed = {str(event.id): _run(lambda: operations.replay_event(event, actor=actor))}
        for event_id, runs in replayed.items():
            for run in runs:
                command.stdout.write(
                    f"event {event_id}: run {run.id} ({run.workflow.slug} v{run.workflow_version.number})"
                )
            if not runs:
                command.stdout.write(f"event {event_id}: no rule matches it now; nothing replayed")


class RunOperation:
    """``automate retry|cancel <run-id>``: one run operation of :mod:`django_automate.runs.operations`."""

    def __init__(self, help: str, operation: Callable[..., ExecutionRun], done: str) -> None:
        self.HELP, self._operation, self._done = help, operation, done

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_id")
        parser.add_argument("--actor", default="cli")

    def handle(self, command: BaseCommand, **options: Any) -> None:
        run = _run(lambda: self._operation(_get(ExecutionRun, options["run_id"]), actor=options["actor"]))
        command.stdout.write(f"run {run.id} {self._done}")


Retry = RunOperation("Retry a failed run from its failed step.", operations.retry_run, "queued for retry")
Cancel = RunOperation("Cancel a pending, running or waiting run.", operations.cancel_run, "cancelled")
