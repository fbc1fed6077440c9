"""``automate verify-audit``: check the audit log's hash chain and report the first broken entry."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

HELP = "Verify the audit log's hash chain; exit 1 and name the first broken entry if it does not hold."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", default="default", help="Database alias holding the audit log.")


def handle(command: BaseCommand, **options: Any) -> None:
    from django_automate.audit.chain import verify

    result = verify(using=options["database"])
    if not result.ok:
        raise CommandError(str(result))
    command.stdout.write(str(result))
