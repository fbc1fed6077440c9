"""``manage.py automate <subcommand>``: one entry point for every operation."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from django_automate.management import subcommands


class Command(BaseCommand):
    help = "django-automate operations: worker, demo, …"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        for name, module in subcommands.REGISTRY.items():
            sub_parser = sub.add_parser(name, help=module.HELP)
            module.add_arguments(sub_parser)

    def handle(self, *args: Any, **options: Any) -> None:
        name = options.pop("subcommand")
        module = subcommands.REGISTRY.get(name)
        if module is None:
            raise CommandError(f"Unknown subcommand {name!r}.")
        database = options.get("database")
        if database is not None and database not in connections:
            raise CommandError(f"Unknown database alias {database!r}; DATABASES has {', '.join(connections)}.")
        module.handle(self, **options)
