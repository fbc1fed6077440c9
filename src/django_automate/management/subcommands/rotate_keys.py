"""``automate rotate-keys``: re-encrypt every stored secret with the first of ``ENCRYPTION_KEYS``."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_automate import exceptions

HELP = "Re-encrypt every secret stored in the database with the first key of AUTOMATE['ENCRYPTION_KEYS']."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--actor", default="system", help="Who to record in the audit entry.")


def handle(command: BaseCommand, **options: Any) -> None:
    from django_automate.secrets.store import rotate_keys

    try:
        count = rotate_keys(actor=options["actor"])
    except exceptions.AutomateError as exc:
        raise CommandError(f"{exc.code}: {exc.message} Nothing was changed.") from exc
    command.stdout.write(f"Re-encrypted {count} secrets with the first key; the other keys can now be removed.")
