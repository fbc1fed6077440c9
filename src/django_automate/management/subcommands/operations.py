"""``automate replay <event-id>``, ``automate retry <run-id>``, ``automate cancel <run-id>``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Model

from django_automate import exceptions
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
    HELP = "Replay an event: run the workflows its rules match now, as new runs."

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("event_id")
        parser.add_argument("--actor", default="cli")

    @staticmethod
    def handle(command: BaseCommand, **options: Any) -> None:
        event = _get(Event, options["event_id"])
        runs = _run(lambda: operations.replay_event(event, actor=options["actor"]))
        for run in runs:
            command.stdout.write(f"run {run.id} ({run.workflow.slug} v{run.workflow_version.number})")
        if not runs:
            command.stdout.write("no rule matches this event now; nothing replayed")


class Retry:
    HELP = "Retry a failed run from its failed step."

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_id")
        parser.add_argument("--actor", default="cli")

    @staticmethod
    def handle(command: BaseCommand, **options: Any) -> None:
        run = _run(lambda: operations.retry_run(_get(ExecutionRun, options["run_id"]), actor=options["actor"]))
        command.stdout.write(f"run {run.id} queued for retry")


class Cancel:
    HELP = "Cancel a pending or running run."

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_id")
        parser.add_argument("--actor", default="cli")

    @staticmethod
    def handle(command: BaseCommand, **options: Any) -> None:
        run = _run(lambda: operations.cancel_run(_get(ExecutionRun, options["run_id"]), actor=options["actor"]))
        command.stdout.write(f"run {run.id} cancelled")
